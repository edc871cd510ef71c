#!/usr/bin/env python3
"""Host kernel vs the Swift reference (DNSWire through `fqdnctl decode`).

The guests are compared with the host kernel case by case (hashes of the facts);
this closes the chain: the host kernel's facts (raw struct fqdn_facts dumped by
`kmloader run --dump`) against `fqdnctl decode --hex -` on the same DNS message.
Both sides are normalized to verdict + reason name + offset, or to id, qr, rcode,
tc, qname, qtype, chain and credited addresses, with names compared in lowercase
wire form (the presentation form is unescaped, not re-escaped) and addresses as
bytes, so formatting choices cannot cause or hide a difference.

Checked: every corpus case and the first --limit other cases of each program
(packets: parse_packet; buffers: parse_buffer, including the messages too large
for a packet).
"""
import argparse
import concurrent.futures
import ipaddress
import json
import os
import re
import struct
import subprocess

FACTS = struct.Struct("<IIIHHHHHHHHHBBH2x")
NAME = struct.Struct("<256sHH")
ADDR = struct.Struct("<B3xI16s")
CHAIN_MAX, ADDR_MAX = 8, 64
FACTS_SIZE = FACTS.size + NAME.size * (1 + CHAIN_MAX) + ADDR.size * ADDR_MAX


def reason_names(header):
    text = open(header).read()
    return {int(v): n.lower() for n, v in re.findall(r"FQDN_ERR_(\w+)\s*=\s*(\d+)", text)}


def wire_of(name_bytes, length):
    return bytes(name_bytes[:length])


def kernel_facts(raw, reasons):
    f = FACTS.unpack_from(raw, 0)
    verdict, reason, offset, id_, flags, rcode, qtype, qclass, qd, an, ns, ar, credits, chain_len, addr_count = f
    if verdict != 0:
        return {"verdict": "error", "error": reasons.get(reason, "reason-%d" % reason), "offset": offset}
    pos = FACTS.size
    qw, ql, _ = NAME.unpack_from(raw, pos)
    pos += NAME.size
    chain = []
    for i in range(CHAIN_MAX):
        w, l, _ = NAME.unpack_from(raw, pos + i * NAME.size)
        if i < chain_len:
            chain.append(wire_of(w, l).hex())
    pos += NAME.size * CHAIN_MAX
    credited = []
    for i in range(min(addr_count, ADDR_MAX)):
        fam, ttl, a = ADDR.unpack_from(raw, pos + i * ADDR.size)
        credited.append([(a[:4] if fam == 4 else a).hex(), ttl])
    return {
        "verdict": "ok", "id": id_, "qr": bool(flags & 0x8000), "rcode": rcode, "tc": bool(flags & 0x0200),
        "qname": wire_of(qw, ql).hex() if qd else None, "qtype": qtype, "chain": chain, "credited": credited,
    }


def presentation_to_wire(text):
    if text == ".":
        return b"\0"
    labels, cur, i = [], bytearray(), 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if text[i + 1:i + 4].isdigit() and len(text[i + 1:i + 4]) == 3:
                cur.append(int(text[i + 1:i + 4]))
                i += 4
            else:
                cur += text[i + 1].encode("latin-1")
                i += 2
        elif c == ".":
            labels.append(bytes(cur))
            cur = bytearray()
            i += 1
        else:
            cur += c.encode("latin-1")
            i += 1
    if cur:
        labels.append(bytes(cur))
    out = b"".join(bytes([len(l)]) + l for l in labels) + b"\0"
    return bytes(b + 32 if 65 <= b <= 90 else b for b in out)


def swift_facts(j):
    if j["verdict"] != "ok":
        return {"verdict": "error", "error": j["error"], "offset": j["offset"]}
    return {
        "verdict": "ok", "id": j["id"], "qr": j["qr"], "rcode": j["rcode"], "tc": j["tc"],
        "qname": presentation_to_wire(j["qname"]).hex() if j["qname"] is not None else None,
        "qtype": j["qtype"], "chain": [presentation_to_wire(n).hex() for n in j["chain"]],
        "credited": [[ipaddress.ip_address(c["address"]).packed.hex(), c["ttl"]] for c in j["credited"]],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fqdnctl", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("--limit", default="600")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    reasons = reason_names(a.header)
    idx = json.load(open(a.cases))
    limit = None if a.limit == "all" else int(a.limit)
    result = {"fqdnctl": a.fqdnctl, "programs": {}}
    for prog, key in (("parse_packet", "packets"), ("parse_buffer", "buffers")):
        dump = os.path.join(a.dump, "v3-%s.bin" % prog)
        if not os.path.exists(dump):
            result["programs"][prog] = {"error": "no host dump (program did not load or run)"}
            continue
        data = open(dump, "rb").read()
        cases = idx[key]
        chosen, others = [], 0
        for i, c in enumerate(cases):
            if c["origin"].startswith(("corpus:", "big:")):
                chosen.append(i)
            elif limit is None or others < limit:
                chosen.append(i)
                others += 1

        def one(i):
            raw = data[i * FACTS_SIZE:(i + 1) * FACTS_SIZE]
            p = subprocess.run([a.fqdnctl, "decode", "--hex", "-"], input=cases[i]["dns"].encode(),
                               capture_output=True, timeout=60)
            if p.returncode != 0:
                return i, None, {"fqdnctl_error": p.stderr.decode(errors="replace")[-300:]}
            sw = swift_facts(json.loads(p.stdout))
            if len(raw) < FACTS_SIZE or raw == b"\0" * FACTS_SIZE:
                return i, sw, {"kernel": "no facts written"}
            k = kernel_facts(raw, reasons)
            return i, sw, (None if k == sw else {"kernel": k})

        diffs = []
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            for i, sw, d in ex.map(one, chosen):
                if d is not None:
                    diffs.append({"case": i, "origin": cases[i]["origin"], "transport": cases[i]["transport"],
                                  "dns": cases[i]["dns"][:400], "swift": sw, **d})
        result["programs"][prog] = {"compared": len(chosen), "disagree": len(diffs), "first": diffs[:10]}
        print("kmatrix: swift vs host kernel, %s: %d compared, %d disagree" % (prog, len(chosen), len(diffs)))
    json.dump(result, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
