#!/usr/bin/env python3
"""Turn the kernel matrix's raw logs into matrix.json and matrix.md.

Inputs: the host's suite output and each guest's serial console (KMJ/KMS/KMR/KMD
lines, see kmloader.c), the compile log, the Swift comparison, the case index.
Every guest's differential results are compared case by case with the host
kernel's v3 results (errno, program return value, whether facts were written,
FNV-64 of the facts bytes); the host's own variants are compared the same way.
The datapath differential (dptest.c: KMP/KMA lines) is compared line by line with
the host's v3 run of the same scenario: each packet's verdict, rewritten bytes and
events, and each map's final contents; the host's sanity assertions must hold.
"""
import argparse
import json
import os
import re
from collections import OrderedDict, defaultdict


def parse_log(path):
    k = {"complete": False, "programs": [], "probes": OrderedDict(), "runs": [], "objects": [], "raw_errors": [],
         "dp": OrderedDict()}

    def dp(variant, scenario):
        return k["dp"].setdefault((variant, scenario), {"lines": OrderedDict(), "asserts": OrderedDict(), "summary": None})
    cur = None
    try:
        lines = open(path, errors="replace").read().replace("\r", "").split("\n")
    except FileNotFoundError:
        k["raw_errors"].append("no log")
        return k
    for line in lines:
        i = line.find("KM")
        if i < 0:
            continue
        line = line[i:]
        if line.startswith("KMJ "):
            try:
                j = json.loads(line[4:])
            except json.JSONDecodeError:
                k["raw_errors"].append(line[:200])
                continue
            kind = j.get("kind")
            if kind == "kernel":
                k["release"] = j["release"]
            elif kind == "probe":
                k["probes"][j["probe"]] = j
            elif kind == "program":
                k["programs"].append(j)
            elif kind == "object":
                k["objects"].append(j)
            elif kind == "dprun":
                dp(j.get("variant"), j.get("scenario"))["summary"] = j
            elif kind == "run":
                if cur is None:
                    cur = {"variant": j.get("variant"), "program": j.get("program"), "results": {}, "dumps": {}}
                cur["summary"] = j
                k["runs"].append(cur)
                cur = None
        elif line.startswith("KMP ") or line.startswith("KMA "):
            # "KMP V SCENARIO KEY rest": KEY = case index or map:NAME
            p = line.split(" ", 4)
            if len(p) == 5:
                d = dp(p[1], p[2])
                (d["lines"] if line.startswith("KMP ") else d["asserts"])[p[3]] = p[4]
        elif line.startswith("KMS run "):
            p = line.split()
            cur = {"variant": p[2], "object": p[3], "program": p[4], "results": {}, "dumps": {}}
        elif line.startswith("KMR ") and cur is not None:
            p = line.split()
            if len(p) >= 6:
                cur["results"][int(p[1])] = tuple(p[2:6])
        elif line.startswith("KMD ") and cur is not None:
            p = line.split()
            if len(p) >= 3:
                cur["dumps"][int(p[1])] = p[2]
        elif line.startswith("KMH end"):
            k["complete"] = True
        elif line.startswith("KMH insmod"):
            k["raw_errors"].append(line)
    if cur is not None:  # a run that never finished (crash, timeout)
        cur["summary"] = {"error": "run did not finish (guest died or timed out)"}
        k["runs"].append(cur)
    return k


def version_key(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:2])


def cell_program(p):
    if p is None:
        return "—"
    if p["verdict"] == "accepted":
        n = p.get("verified_insns") or p.get("processed") or 0
        return "✓ %d" % n
    return "✗ %s" % errno_name(p.get("errno", 0))


ERRNO = {1: "EPERM", 2: "ENOENT", 7: "E2BIG", 13: "EACCES", 14: "EFAULT", 22: "EINVAL", 28: "ENOSPC",
         95: "EOPNOTSUPP", 524: "ENOTSUPP", 3: "ESRCH", 19: "ENODEV", 12: "ENOMEM"}


def errno_name(e):
    return ERRNO.get(e, "errno %d" % e)


def compare_runs(run, ref):
    """Case-by-case comparison of a run with the reference run (dict idx -> tuple)."""
    if run is None:
        return None
    s = run.get("summary", {})
    if "error" in s:
        return {"status": "error", "error": s["error"], "errno": s.get("errno"), "libbpf": s.get("libbpf", [])}
    res = run["results"]
    agree = sum(1 for i, r in res.items() if ref.get(i) == r)
    differ = sorted(i for i, r in res.items() if ref.get(i) != r)
    missing = len(ref) - len(res)
    return {"status": "ran", "cases": len(res), "agree": agree, "differ": len(differ), "missing": max(missing, 0),
            "first_differ": differ[:20], "run_ms": s.get("run_ms"), "test_run_errors": s.get("test_run_errors"),
            "not_written": s.get("not_written"),
            "dumps": {str(i): run["dumps"][i] for i in differ[:5] if i in run["dumps"]}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--guest", action="append", default=[], help="VERSION=LOG=SOURCEFILE")
    ap.add_argument("--compile")
    ap.add_argument("--swift")
    ap.add_argument("--cases")
    ap.add_argument("--timings", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--required", help="file of 'KERNEL OBJECT/PROGRAM' lines: v3 programs that must load")
    a = ap.parse_args()

    kernels = OrderedDict()
    host = parse_log(a.host)
    host["label"] = "host " + ".".join(map(str, version_key(host.get("release", "0.0"))))
    host["package"] = "host kernel (native)"
    kernels["host"] = host
    for g in a.guest:
        ver, log, source = g.split("=", 2)
        k = parse_log(log)
        k["label"] = ver
        try:
            k["package"] = open(source).read().split()[0] + " " + open(source).read().split()[1]
        except (OSError, IndexError):
            k["package"] = "?"
        kernels[ver] = k
    order = sorted(kernels, key=lambda n: version_key(kernels[n].get("release", kernels[n]["label"])))

    compile_rows = []
    if a.compile:
        compile_rows = [json.loads(l) for l in open(a.compile) if l.strip()]
    swift = None
    if a.swift:
        try:
            swift = json.load(open(a.swift))
        except (OSError, ValueError):
            swift = None
    cases = json.load(open(a.cases)) if a.cases else {"packets": [], "buffers": []}
    timings = dict(l.split("=", 1) for l in a.timings.split() if "=" in l)

    # ---- programs: key (variant, object, program)
    prog_keys = []
    for n in order:
        for p in kernels[n]["programs"]:
            key = (p["variant"], p["object"], p["program"])
            if key not in prog_keys:
                prog_keys.append(key)
    probe_objs = {r["source"].split("/")[-1].replace(".bpf.c", ".o") for r in compile_rows if r["kind"] == "probes"}
    variants = []
    for r in compile_rows:
        if r["variant"] not in variants:
            variants.append(r["variant"])
    vrank = {v: i for i, v in enumerate(variants)}
    prog_keys.sort(key=lambda k: (k[1] in probe_objs, k[1], k[2], vrank.get(k[0], 99)))
    by_kernel = {n: {(p["variant"], p["object"], p["program"]): p for p in kernels[n]["programs"]} for n in order}

    # ---- differential: reference = host v3 run of each program
    ref = {}
    for r in host["runs"]:
        if r["variant"] == "v3" and r.get("results"):
            ref[r["program"]] = r["results"]
    diff = defaultdict(dict)  # (variant, program) -> kernel -> comparison
    any_disagree = False
    for n in order:
        for r in kernels[n]["runs"]:
            c = compare_runs(r, ref.get(r["program"], {}))
            diff[(r["variant"], r["program"])][n] = c
            if c and c["status"] == "ran" and (c["differ"] or c["missing"]):
                any_disagree = True
    # host: parse_packet vs parse_buffer on the same message
    cross = None
    if "parse_packet" in ref and "parse_buffer" in ref and cases["packets"]:
        bidx = {}
        for j, c in enumerate(cases["buffers"]):
            bidx.setdefault(c["dns"], j)
        same = total = 0
        bad = []
        for i, c in enumerate(cases["packets"]):
            j = bidx.get(c["dns"])
            if j is None or i not in ref["parse_packet"] or j not in ref["parse_buffer"]:
                continue
            total += 1
            pk, bf = ref["parse_packet"][i], ref["parse_buffer"][j]
            if pk[3] == bf[3] and pk[2] == bf[2]:
                same += 1
            else:
                bad.append(i)
        cross = {"compared": total, "agree": same, "first_differ": bad[:10]}
        if bad:
            any_disagree = True
    if swift:
        for prog, s in swift.get("programs", {}).items():
            if s.get("disagree"):
                any_disagree = True

    # ---- datapath differential: reference = the host's v3 run of each scenario
    dp_ref = {sc: d for (v, sc), d in host["dp"].items() if v == "v3" and d["lines"]}
    dpdiff = OrderedDict()  # (variant, scenario) -> kernel -> comparison
    dp_keys = sorted({key for n in order for key in kernels[n]["dp"]}, key=lambda x: (vrank.get(x[0], 99), {"veth": 0, "cgroup": 1}.get(x[1], 2), x[1]))
    for key in dp_keys:
        for n in order:
            d = kernels[n]["dp"].get(key)
            if d is None:
                continue
            summ = d["summary"] or {}
            if summ.get("error") or not d["lines"]:
                c = {"status": "error", "error": summ.get("error") or "no output (guest died or timed out?)"}
                # the programs verified but the run did not happen: nothing was compared
                if "not loaded" not in c["error"]:
                    any_disagree = True
            else:
                ref_d = dp_ref.get(key[1])
                ref_lines = ref_d["lines"] if ref_d else {}
                dcases = [x for x in ref_lines if not x.startswith("map:")]
                maps = [x for x in ref_lines if x.startswith("map:")]
                differ = [x for x in ref_lines if d["lines"].get(x) != ref_lines[x]]
                extra = [x for x in d["lines"] if x not in ref_lines]
                fails = [x for x, t in d["asserts"].items() if "FAIL" in t]
                c = {"status": "ran", "cases": len(dcases), "maps": len(maps),
                     "cases_agree": sum(1 for x in dcases if x not in differ),
                     "maps_agree": sum(1 for x in maps if x not in differ),
                     "differ": differ, "extra": extra, "assertions": sum(t.count(":ok") + t.count(":FAIL") for t in d["asserts"].values()),
                     "assertions_failed": fails, "load_ms": summ.get("load_ms"), "run_ms": summ.get("run_ms"),
                     "first_differences": [{"key": x, "reference": ref_lines.get(x), "this": d["lines"].get(x)}
                                           for x in (differ + extra)[:5]]}
                if not ref_lines:
                    c["status"] = "no reference"
                if differ or extra or not ref_lines:
                    any_disagree = True
                if n == "host" and fails:
                    any_disagree = True  # the hand-derived assertions are required on the host
            dpdiff.setdefault(key, OrderedDict())[n] = c

    # ---- JSON
    out = {
        "command": a.command,
        "timings_s": timings,
        "kernels": [{"name": n, "label": kernels[n]["label"], "release": kernels[n].get("release"),
                     "package": kernels[n].get("package"), "complete": kernels[n]["complete"],
                     "probes": kernels[n]["probes"], "programs": kernels[n]["programs"],
                     "objects": kernels[n]["objects"], "problems": kernels[n]["raw_errors"][:20]} for n in order],
        "compile": compile_rows,
        "differential": [{"variant": v, "program": p, "reference": "host kernel, v3",
                          "kernels": {n: c for n, c in d.items()}} for (v, p), d in diff.items()],
        "host_packet_vs_buffer": cross,
        "datapath": [{"variant": v, "scenario": sc, "reference": "host kernel, v3", "kernels": d}
                     for (v, sc), d in dpdiff.items()],
        "swift": swift,
        "cases": {"packets": len(cases["packets"]), "buffers": len(cases["buffers"]), "seed": cases.get("seed")},
        "agree": not any_disagree,
    }
    json.dump(out, open(a.json, "w"), indent=1)

    # ---- Markdown
    L = []
    labels = [kernels[n]["label"] for n in order]
    L.append("Command: `%s`" % a.command)
    L.append("")
    L.append("| kernel | package | complete |")
    L.append("|---|---|---|")
    for n in order:
        k = kernels[n]
        L.append("| %s | %s (%s) | %s |" % (k["label"], k.get("package"), k.get("release", "?"),
                                           "yes" if k["complete"] else "**no**"))
    L.append("")
    notes = []

    def note(text):
        if text not in notes:
            notes.append(text)
        return notes.index(text) + 1

    def object_error(o):
        lb = o.get("libbpf") or ""
        return o.get("error") or "open failed: %s" % (lb if isinstance(lb, str) else "; ".join(lb)).strip()

    dead = {n: {(o["variant"], o["object"]): object_error(o) for o in kernels[n]["objects"]} for n in order}

    def row(key):
        cells = []
        for n in order:
            p = by_kernel[n].get(key)
            c = cell_program(p)
            if p is None and (key[0], key[1]) in dead[n]:
                c = "✗ [%d]" % note("%s: %s" % (key[1].replace(".o", ""), dead[n][(key[0], key[1])]))
            elif p is None and not kernels[n]["complete"]:
                c = "? [%d]" % note("%s did not finish (timeout or crash; see logs/)" % kernels[n]["label"])
            if p and p["verdict"] != "accepted":
                why = p.get("reason") or "; ".join(p.get("libbpf", [])[-2:])
                c += " [%d]" % note("%s / %s: %s" % (key[1].replace(".o", ""), key[2], why))
            cells.append(c)
        return cells

    proj = [k for k in prog_keys if k[1] not in probe_objs]
    L.append("### Programs (v3 = clang 21 default = the build plugin's objects)")
    L.append("")
    L.append("Cell: ✓ verified instructions (`verified_insns`; the stats log's `processed` before 5.16) or ✗ errno [note].")
    L.append("")
    L.append("| object / program | " + " | ".join(labels) + " |")
    L.append("|---|" + "---|" * len(labels))
    for key in proj:
        if key[0] != "v3":
            continue
        L.append("| %s / %s | %s |" % (key[1].replace(".o", ""), key[2], " | ".join(row(key))))
    L.append("")
    other = [k for k in proj if k[0] != "v3"]

    def verdicts(key):
        return [(by_kernel[n].get(key) or {}).get("verdict") for n in order]

    differing = [k for k in other if verdicts(k) != verdicts(("v3",) + k[1:])]
    if other:
        L.append("### Other builds of the same sources (rows whose verdicts differ from v3)")
        L.append("")
        if differing:
            L.append("| build | object / program | " + " | ".join(labels) + " |")
            L.append("|---|---|" + "---|" * len(labels))
            for key in differing:
                L.append("| %s | %s / %s | %s |" % (key[0], key[1].replace(".o", ""), key[2], " | ".join(row(key))))
            L.append("")
        L.append("%d other rows have the same verdict as v3 on every kernel (their counts are in matrix.json)."
                 % (len(other) - len(differing)))
        L.append("")
    failed = [r for r in compile_rows if not r["ok"]]
    if failed:
        L.append("Compile failures (not loaded anywhere):")
        L.append("")
        for r in failed:
            first = next((l for l in r["stderr"].splitlines() if "error" in l), r["stderr"][:200])
            L.append("- %s `%s` (%s): `%s`" % (r["variant"], r["source"], r["flags"], first.strip()))
        L.append("")

    L.append("### Feature probes")
    L.append("")
    L.append("| probe | " + " | ".join(labels) + " |")
    L.append("|---|" + "---|" * len(labels))
    for key in prog_keys:
        if key[1] not in probe_objs:
            continue
        cells = []
        for n in order:
            p = by_kernel[n].get(key)
            if p is None:
                cells.append("—")
            elif p["verdict"] == "accepted":
                cells.append("✓")
            else:
                why = p.get("reason") or "; ".join(p.get("libbpf", [])[-2:])
                cells.append("✗ [%d]" % note("%s: %s" % (key[2], why)))
        L.append("| %s (%s) | %s |" % (key[2].replace("probe_", ""), key[0], " | ".join(cells)))
    runtime = []
    for n in order:
        for name in kernels[n]["probes"]:
            if name not in runtime:
                runtime.append(name)
    for name in runtime:
        cells = []
        for n in order:
            p = kernels[n]["probes"].get(name)
            if p is None:
                cells.append("—")
            elif name.endswith("_max_bytes") and p["ok"]:
                cells.append(p["detail"])
            elif p["ok"]:
                cells.append("✓")
            else:
                cells.append("✗ [%d]" % note("%s: %s" % (name, p["detail"])))
        L.append("| %s (run time) | %s |" % (name, " | ".join(cells)))
    L.append("")

    L.append("### Differential cases (reference: the host kernel's v3 results, case by case)")
    L.append("")
    L.append("%d packets (parse_packet) and %d bare messages (parse_buffer), seed %s. Cell: cases agreeing / cases run."
             % (len(cases["packets"]), len(cases["buffers"]), cases.get("seed")))
    L.append("")
    L.append("| build / program | " + " | ".join(labels) + " |")
    L.append("|---|" + "---|" * len(labels))
    for (v, p), d in sorted(diff.items(), key=lambda x: (vrank.get(x[0][0], 99), x[0][1])):
        cells = []
        for n in order:
            c = d.get(n)
            if c is None:
                cells.append("—")
            elif c["status"] == "error":
                cells.append("not loaded")
            else:
                s = "%d/%d" % (c["agree"], c["cases"])
                if c["differ"] or c["missing"]:
                    s = "**%s** [%d]" % (s, note("%s %s on %s: first differing cases %s%s" % (
                        v, p, kernels[n]["label"], c["first_differ"][:8],
                        ", %d missing" % c["missing"] if c["missing"] else "")))
                cells.append(s)
        L.append("| %s / %s | %s |" % (v, p, " | ".join(cells)))
    L.append("")
    if cross:
        L.append("Host, parse_packet vs parse_buffer on the same message: %d/%d agree." % (cross["agree"], cross["compared"]))
    if swift:
        for prog, s in swift.get("programs", {}).items():
            if "error" in s:
                L.append("Swift reference vs host kernel, %s: %s." % (prog, s["error"]))
            else:
                L.append("Swift reference (`fqdnctl decode`) vs host kernel, %s: %d compared, %d disagree."
                         % (prog, s["compared"], s["disagree"]))
    else:
        L.append("Swift reference: not compared in this run.")
    L.append("")
    if dpdiff:
        L.append("### Datapath differential (reference: the host kernel's v3 run, case by case)")
        L.append("")
        L.append("The endpoint's two programs on shared maps (dptest.c), the packets of dpgen.py in order. "
                 "Cell: cases agreeing (verdict, rewritten bytes, events) / maps agreeing (final contents).")
        L.append("")
        L.append("| build / scenario | " + " | ".join(labels) + " |")
        L.append("|---|" + "---|" * len(labels))
        for (v, sc), d in dpdiff.items():
            cells = []
            for n in order:
                c = d.get(n)
                if c is None:
                    cells.append("—")
                elif c["status"] == "error":
                    cells.append("not loaded" if "not loaded" in c["error"] else
                                 "**error** [%d]" % note("datapath %s %s on %s: %s" % (v, sc, kernels[n]["label"], c["error"])))
                elif c["status"] == "no reference":
                    cells.append("**no reference** [%d]" % note("datapath %s: the host's v3 run has no results" % sc))
                else:
                    cell = "%d/%d cases, %d/%d maps" % (c["cases_agree"], c["cases"], c["maps_agree"], c["maps"])
                    if c["differ"] or c["extra"]:
                        fd = c["first_differences"][0]
                        r, t = fd["reference"] or "-", fd["this"] or "-"
                        at = next((i for i, (x, y) in enumerate(zip(r, t)) if x != y), min(len(r), len(t)))
                        at = max(0, at - 40)  # from just before the first differing character
                        cell = "**%s** [%d]" % (cell, note("datapath %s %s on %s: differing %s; first, %s, from char %d: host `%s` here `%s`" % (
                            v, sc, kernels[n]["label"], (c["differ"] + c["extra"])[:8], fd["key"], at,
                            r[at:at + 120], t[at:at + 120])))
                    cells.append(cell)
            L.append("| %s / %s | %s |" % (v, sc, " | ".join(cells)))
        L.append("")
        for (v, sc), d in dpdiff.items():
            c = d.get("host")
            if v == "v3" and c and c["status"] != "error":
                L.append("Host sanity assertions (hand-derived from the test policy), %s: %d checked, %s." % (
                    sc, c["assertions"], "all hold" if not c["assertions_failed"] else
                    "**%d cases fail: %s**" % (len(c["assertions_failed"]), c["assertions_failed"][:10])))
        L.append("")
    if notes:
        L.append("Notes (the verifier's or libbpf's last words):")
        L.append("")
        for i, t in enumerate(notes, 1):
            L.append("%d. `%s`" % (i, t.replace("`", "'")[:400]))
        L.append("")
    if timings:
        L.append("Run time (s): " + ", ".join("%s %s" % (k, v) for k, v in sorted(timings.items())))
        L.append("")
    # ---- required verdicts: a program that loaded on a kernel before must keep loading there
    # (KernelMatrix.md's verdict); one that stops is a regression, not a new fact of the table.
    missing_required = []
    if a.required:
        labels = {("host" if kernels[n]["label"].startswith("host") else kernels[n]["label"]): n for n in order}
        for line in open(a.required):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            kver, what = line.split()
            n = labels.get(kver)
            if n is None:
                continue  # that kernel was not part of this run
            obj, prog = what.split("/")
            p = by_kernel[n].get(("v3", obj + ".o", prog)) or by_kernel[n].get(("v3", obj, prog))
            if p is None or p["verdict"] != "accepted":
                missing_required.append("%s on %s: %s" % (what, kver, "not run" if p is None else cell_program(p)))
        L.append("### Required verdicts (Scripts/kmatrix/required.txt)")
        L.append("")
        L.append("All loaded." if not missing_required else "**Regressions:** " + "; ".join(missing_required) + ".")
        L.append("")
    # ---- the budget of verified instructions (FQDN_VERIFIER_BUDGET): every program of the
    # shipped build (v3) that loads on a kernel stays under it there.
    budget = verifier_budget()
    over = []
    for n in order:
        for (variant, obj, prog), p in sorted(by_kernel[n].items()):
            insns = p.get("verified_insns") or p.get("processed") or 0
            if variant == "v3" and p["verdict"] == "accepted" and insns > budget:
                over.append("%s/%s on %s: %d" % (obj.replace(".o", ""), prog, kernels[n]["label"], insns))
    L.append("### Verifier budget (%d instructions per program, v3 build)" % budget)
    L.append("")
    L.append("Every program within it." if not over else "**Over budget:** " + "; ".join(over) + ".")
    L.append("")
    open(a.md, "w").write("\n".join(L))
    print("\n".join(L))
    if any(not kernels[n]["complete"] for n in order):
        return 1
    return 2 if any_disagree or missing_required or over else 0


def verifier_budget():
    """FQDN_VERIFIER_BUDGET from the shared header (the one definition)."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "BPFPrograms", "include", "fqdn_shared.h")
    m = re.search(r"#define FQDN_VERIFIER_BUDGET (\d+)", open(header).read())
    return int(m.group(1))


if __name__ == "__main__":
    raise SystemExit(main())
