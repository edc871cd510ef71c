#!/usr/bin/python3
"""Turns a Scripts/bench.sh result directory into report.md (Markdown tables) and
dns-latency-cdf.png (latency distribution per case at the fixed rate).

    report.py DIR [--png PATH]
"""

import argparse
import json
import math
import os
import sys

LABELS = {
    "direct": "(a) no policy, client -> knot",
    "direct2": "(a) no policy, again (block 2)",
    "policy": "(b) FQDNPolicy, agent running",
    "policy-noagent": "(b) FQDNPolicy, agent exited (kernel only)",
    "dnsmasq": "(c) dnsmasq 2.90 on the node, cache off",
    "dnsdist": "(c) dnsdist 1.7.3 on the node, no cache",
}
ORDER = ["direct", "policy", "dnsmasq", "dnsdist", "direct2", "policy-noagent"]


def floor_of(cases, base, tr):
    """The (a) measured in the same interleaved block."""
    if base in ("direct2", "policy-noagent") and f"direct2-{tr}" in cases:
        return cases[f"direct2-{tr}"]
    return cases.get(f"direct-{tr}")


def split(case):
    base, _, transport = case.rpartition("-")
    return base, transport


def fmt(x, d=0):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{d}f}"


def ratio(x, y):
    if not x or not y or math.isnan(x) or math.isnan(y):
        return "-"
    return f"{x / y:.2f}x"


def table(rows):
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" if i == 0 else "--:" for i in range(len(rows[0]))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out) + "\n"


def sorted_cases(cases):
    return sorted(cases, key=lambda c: (split(c)[1], ORDER.index(split(c)[0]) if split(c)[0] in ORDER else 99))


def net_tables(net):
    cases, meta = net["cases"], net["meta"]
    md = []
    md.append(f"Fixed rate: {meta['rate']:,} qps for {meta['fixed_seconds']} s per run, per-query latency from "
              f"`dnsperf -v` (1 µs resolution); max rate: {meta['max_clients']} clients, "
              f"{meta['max_outstanding']} queries outstanding, {meta['max_seconds']} s per run (no -v). "
              f"{meta['runs']} runs of each, the cases of a block interleaved run by run, medians (p99 range over the runs in brackets). "
              f"Block 1: (a), (b) with the agent running, (c); block 2, after the agent exited: (a) again and (b) kernel only. "
              f"Ratios are to (a) of the same block and transport.\n")
    rows = [["case", "transport", "p50 µs", "p99 µs", "p99.9 µs", "p50 / (a)", "p99 / (a)", "p99.9 / (a)", "lost"]]
    for c in sorted_cases(cases):
        s = cases[c]
        base, tr = split(c)
        floor = floor_of(cases, base, tr)
        rows.append([LABELS.get(base, base), tr.upper(), fmt(s["p50"]), f"{fmt(s['p99'])} [{fmt(s['p99_range'][0])}-{fmt(s['p99_range'][1])}]",
                     fmt(s["p999"]), ratio(s["p50"], floor and floor["p50"]), ratio(s["p99"], floor and floor["p99"]),
                     ratio(s["p999"], floor and floor["p999"]), f"{int(s['fixed_lost'])}/{int(s['fixed_sent'])}"])
    md.append(f"At {meta['rate']:,} qps:\n")
    md.append(table(rows))
    rows = [["case", "transport", "qps", "qps / (a)", "mean latency µs", "lost", "CPU of the proxy/agent per query",
             "still busy after the run"]]
    for c in sorted_cases(cases):
        s = cases[c]
        base, tr = split(c)
        floor = floor_of(cases, base, tr)
        cpu = s.get("watched_cpu_us_per_query_max")
        who = "knot" if base.startswith("direct") else ("agent" if base == "policy" else base)
        rows.append([LABELS.get(base, base), tr.upper(), f"{fmt(s['max_qps'])} [{fmt(s['max_qps_range'][0])}-{fmt(s['max_qps_range'][1])}]",
                     ratio(s["max_qps"], floor and floor["max_qps"]), fmt(s["max_avg_us"]),
                     f"{int(s['max_lost'])}/{int(s['max_sent'])}", f"{fmt(cpu, 1)} µs ({who})" if cpu is not None else "-",
                     f"{fmt(s.get('settle_s_max_max'), 1)} s" if s.get("settle_s_max_max") is not None else "-"])
    md.append("At max rate:\n")
    md.append(table(rows))
    if not meta.get("tcp_available", True) and meta.get("tcp_reason"):
        md.append(f"(b) over TCP: **not available**: {meta['tcp_reason']}.\n")
    return "\n".join(md)


def race_table(net):
    rows = [["setup", "cycles", "resolved", "connects dropped or > 200 ms", "connect p50 µs", "connect p99 µs", "connect max µs", "seconds"]]
    for key, label in [("race_direct", "(a) no policy"), ("race_policy", "(b) FQDNPolicy (every name new to the datapath)"),
                       ("race_unresolved", "(b) control: connect without resolving first (300 ms timeout)")]:
        r = net.get(key)
        if not r:
            continue
        rows.append([label, fmt(r["cycles"]), fmt(r["resolved"]), f"**{r['dropped']}**", fmt(r["connect_us_p50"]),
                     fmt(r["connect_us_p99"]), fmt(r["connect_us_max"]), fmt(r["seconds"], 1)])
    if len(rows) == 1:
        return ""
    out = table(rows)
    d = (net.get("race_policy") or {}).get("denied_counter_delta")
    if d:
        out += "\nDatapath counters during the (b) cycles: " + ", ".join(f"`{k}` +{int(v)}" for k, v in d.items()) + "\n"
    return out


def prog_stats_table(net):
    ps = net.get("prog_stats")
    if not ps:
        return ""
    rows = [["transport, rate", "program (attached)", "runs per query", "ns per run", "ns per query"]]
    for key, d in ps.items():
        tr, _, rate = key.partition("@")
        label = f"{tr.upper()}, " + (f"{int(rate):,} qps" if rate != "max" else f"max ({fmt(d.get('qps'))} qps)")
        for r in d["programs"]:
            rows.append([label, f"`{r['program']}`", fmt(r["runs_per_query"], 2), fmt(r["ns_per_run"]), fmt(r["ns_per_query"])])
        total = sum(r["ns_per_query"] or 0 for r in d["programs"])
        rows.append([label, "**all**", "", "", f"**{fmt(total)}**"])
    meta = net["meta"]
    return ("Kernel run-time statistics (BPF_ENABLE_STATS) of the attached programs during one more run per "
            "transport at the fixed rate and at max rate (agent exited; the stats are on only for these runs):\n\n" + table(rows))


def agent_table(net):
    meta = net["meta"]
    out = []
    m0, m1 = meta.get("agent_memory_kB_started", {}), meta.get("agent_memory_kB_after_load", {})
    if m0:
        out.append(f"`fqdnctl agent` (release build): start to enforcing {fmt(meta.get('agent_start_s'), 2)} s (loads and verifies "
                   f"the datapath); RSS {fmt(m0.get('VmRSS', 0) / 1024, 1)} MiB after start, "
                   f"{fmt(m1.get('VmRSS', 0) / 1024, 1)} MiB (peak {fmt(m1.get('VmHWM', 0) / 1024, 1)} MiB) after the (b) runs.\n")
    rl = net.get("reloads")
    if rl:
        rows = [["patterns in the policy file", "YAML bytes", "SIGHUP -> re-applied s", "then one pattern more s", "RSS MiB", "peak RSS MiB", "error"]]
        for r in rl:
            rows.append([fmt(r["patterns"]), fmt(r.get("yaml_bytes")), fmt(r["seconds"], 3), fmt(r.get("plus_one_seconds"), 3),
                         fmt(r["memory_kB"].get("VmRSS", 0) / 1024, 1), fmt(r["memory_kB"].get("VmHWM", 0) / 1024, 1), r.get("error") or ""])
        out.append(table(rows))
    return "\n".join(out)


def plot(net_dir, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(net_dir, "latencies.json")) as f:
        lat = json.load(f)
    with open(os.path.join(net_dir, "net.json")) as f:
        net = json.load(f)
    colors = {"direct": "#222222", "direct2": "#999999", "policy": "#1f77b4", "policy-noagent": "#17becf",
              "dnsmasq": "#d62728", "dnsdist": "#ff7f0e"}
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4))
    handles = {}
    for row, tr in enumerate(["udp", "tcp"]):
        for case in sorted_cases(lat):
            v = lat[case]
            base, t = split(case)
            if t != tr or not v:
                continue
            n = len(v)
            step = max(1, n // 4000)  # downsampled for drawing; the tail keeps its last points
            idx = list(range(0, n, step)) + list(range(max(0, n - 200), n))
            idx = sorted(set(idx))
            xs = [v[i] for i in idx]
            ys = [(i + 1) / n for i in idx]
            style = dict(color=colors.get(base), linewidth=1.2 if base == "direct2" else 1.7,
                         linestyle=":" if base == "direct2" else ("-" if base in ("direct", "policy", "policy-noagent") else "--"))
            (h,) = axes[row][0].plot(xs, ys, **style)
            axes[row][1].plot(xs, [max(1.0 - y, 0.5 / n) for y in ys], **style)
            handles[base] = h
        axes[row][0].set_title(f"{tr.upper()}: CDF")
        axes[row][1].set_title(f"{tr.upper()}: tail (1 - CDF, log)")
        axes[row][0].set_ylabel("fraction answered within x")
        axes[row][1].set_ylabel("fraction slower than x")
        axes[row][1].set_yscale("log")
        for p, lab in [(1e-2, "p99"), (1e-3, "p99.9")]:
            axes[row][1].axhline(p, color="grey", linewidth=0.8, linestyle=":")
            axes[row][1].annotate(lab, xy=(0.01, p * 1.15), xycoords=("axes fraction", "data"), color="grey", fontsize=8)
    for ax in [a for r in axes for a in r]:
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("DNS query latency seen by dnsperf (µs, log scale)")
    meta = net["meta"]
    order = [b for b in ORDER if b in handles]
    fig.legend([handles[b] for b in order], [LABELS[b] for b in order], loc="lower center", ncol=3, fontsize=9, frameon=False)
    # (a) and (b) agent running / (c) were interleaved in block 1; (b) kernel only with (a) again in block 2.
    fig.suptitle(f"DNS latency at {meta['rate']:,} qps: {meta['runs']} runs x {meta['fixed_seconds']} s per case, pooled "
                 f"(knot and dnsperf in namespaces of their own; Linux {meta['kernel']}, {meta['cpus']} vCPUs)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(png, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--png")
    o = ap.parse_args()
    d = o.dir
    md = ["# FQDNPolicy benchmark results\n"]
    if os.path.exists(os.path.join(d, "machine.txt")):
        md.append("```\n" + open(os.path.join(d, "machine.txt")).read().strip() + "\n```\n")
    netp = os.path.join(d, "net.json")
    if os.path.exists(netp):
        net = json.load(open(netp))
        meta = net["meta"]
        md.append(f"Network run {meta.get('started')} - {meta.get('finished')}, {fmt(meta.get('seconds'))} s; load average at start "
                  f"{', '.join(f'{x:.2f}' for x in meta.get('loadavg_start', []))}, at end "
                  f"{', '.join(f'{x:.2f}' for x in meta.get('loadavg_end', []))}. "
                  f"Tools: dnsperf {meta.get('dnsperf_version')}, knotd {meta.get('knotd_version')}, dnsmasq {meta.get('dnsmasq_version')}, "
                  f"dnsdist {meta.get('dnsdist_version')}.\n")
        md.append("## DNS through each setup\n")
        md.append(net_tables(net))
        md.append("## First connect after the answer\n")
        md.append(race_table(net))
        md.append("## Attached programs, in place\n")
        md.append(prog_stats_table(net))
        md.append("## Agent\n")
        md.append(agent_table(net))
        png = o.png or os.path.join(d, "dns-latency-cdf.png")
        if os.path.exists(os.path.join(d, "latencies.json")):
            plot(d, png)
            md.append(f"\n![DNS latency CDF]({os.path.abspath(png)})\n")
    vp = os.path.join(d, "verifier.jsonl")
    if os.path.exists(vp):
        rows = [["object", "program", "type", "verified insns", "% of 1M", "xlated insns", "jited bytes"]]
        for line in open(vp):
            e = json.loads(line)
            v = e["verified_insns"]
            rows.append([e["object"], f"`{e['program']}`", e["section"],
                         "REJECTED" if e.get("rejection") else fmt(v), "-" if v is None else f"{100 * v / e['limit']:.1f}",
                         fmt(e["xlated_insns"]), fmt(e["jited_bytes"])])
        md.append("## Verifier (fqdnctl verifier-report)\n\nInstructions the verifier processed per program "
                  "(bpf_prog_info.verified_insns) against its 1,000,000 limit.\n\n" + table(rows))
    for name, title in [("micro.md", "Datapath micro-benchmarks (BPF_PROG_TEST_RUN)"), ("parser.md", "Parser alone (fqdnctl bench-parser)"),
                        ("control.md", "Control plane (PolicyAgent API)"), ("verifier.md", "Verifier (fqdnctl verifier-report)")]:
        p = os.path.join(d, name)
        if os.path.exists(p):
            md.append(f"## {title}\n\n" + open(p).read().strip() + "\n")
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(os.path.join(d, "report.md"))


if __name__ == "__main__":
    main()
