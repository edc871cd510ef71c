#!/usr/bin/env python3
"""Expected response facts for every message of Tests/Fixtures/dns-corpus/knot, computed with
dnspython (an independent parser) and the facts rules of Documentation/ParserContract.md.

    pip install dnspython
    python3 Tests/Fixtures/make_corpus_facts.py > Tests/Fixtures/corpus_facts.json

The DNSWire tests compare their output with this file; it must never be produced by DNSWire.
dnspython does the parsing (header, names, compression, typed rdata); this script only applies
the contract's rules on top: the limits from fqdn_shared.h, credits, the CNAME chain, credited
addresses (TTL with the top bit set counts as 0), and the presentation form of names (no
trailing dot) used by `fqdnctl decode`.
"""
import json
import pathlib
import re
import sys

import dns.flags
import dns.message
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.version

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "Tests" / "Fixtures" / "dns-corpus" / "knot"
HEADER = ROOT / "BPFPrograms" / "include" / "fqdn_shared.h"


def limits():
    text = HEADER.read_text()
    def define(name):
        return int(re.search(rf"#define {name} (\d+)", text).group(1))
    return {
        "msg": define("FQDN_MAX_MSG_LEN"),
        "records": define("FQDN_MAX_RECORDS_PER_SECTION"),
        "chain": define("FQDN_MAX_CNAME_CHAIN"),
    }


def name_text(name):
    """Presentation form as in the facts: dnspython's escapes, no trailing dot, root is '.'."""
    return name.to_text(omit_final_dot=True)


def data_text(rd):
    t = rd.rdtype
    if t in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return rd.address
    if t in (dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.PTR):
        return name_text(rd.target)
    if t == dns.rdatatype.MX:
        return f"{rd.preference} {name_text(rd.exchange)}"
    if t == dns.rdatatype.SRV:
        return f"{rd.priority} {rd.weight} {rd.port} {name_text(rd.target)}"
    if t == dns.rdatatype.SOA:
        return (f"{name_text(rd.mname)} {name_text(rd.rname)} {rd.serial} {rd.refresh} "
                f"{rd.retry} {rd.expire} {rd.minimum}")
    if t == dns.rdatatype.TXT:
        return " ".join('"' + dns.rdata._escapify(s) + '"' for s in rd.strings)
    wire = rd.to_digestable()
    return f"\\# {len(wire)} {wire.hex()}" if wire else "\\# 0"


def effective_ttl(ttl):
    return 0 if ttl & 0x80000000 else ttl


def error_facts(why):
    return {"verdict": "error", "why": why}


def facts(msg_bytes, lim):
    if len(msg_bytes) > lim["msg"]:
        return error_facts("message length")
    if len(msg_bytes) >= 12:
        counts = [int.from_bytes(msg_bytes[i:i + 2], "big") for i in (4, 6, 8, 10)]
        if any(c > lim["records"] for c in counts):
            return error_facts("records")
    try:
        m = dns.message.from_wire(msg_bytes, one_rr_per_rrset=True)
    except Exception as e:  # any dnspython rejection is an error verdict
        return error_facts(type(e).__name__)

    def records(section):
        return [(rrset, rd) for rrset in section for rd in rrset]

    answers = records(m.answer)
    arcount = len(records(m.additional)) + (1 if m.opt is not None else 0) + (1 if m.tsig is not None else 0)
    rcode = int(m.rcode())
    flags = int(m.flags)
    out = {
        "verdict": "ok",
        "id": m.id,
        "flags": flags,
        "qr": bool(flags & dns.flags.QR),
        "tc": bool(flags & dns.flags.TC),
        "rcode": rcode,
        "qdcount": len(m.question),
        "ancount": len(answers),
        "nscount": len(records(m.authority)),
        "arcount": arcount,
        "qname": None,
        "qtype": 0,
        "qclass": 0,
        "credits": False,
        "chain": [],
        "credited": [],
        "answers": [
            {"name": name_text(rrset.name), "type": int(rrset.rdtype), "ttl": rrset.ttl, "data": data_text(rd)}
            for rrset, rd in answers
        ],
    }
    if not m.question:
        return out
    q = m.question[0]
    qname = q.name.canonicalize()  # ASCII lowercase
    out["qname"] = name_text(qname)
    out["qtype"] = int(q.rdtype)
    out["qclass"] = int(q.rdclass)
    credits = out["qr"] and len(m.question) == 1 and rcode == 0 and not out["tc"]
    out["credits"] = credits
    if not credits:
        return out

    # CNAME chain (contract: owner must equal the current name; stop at a break, loop or limit).
    cur, names, chain = qname, {qname}, []
    for rrset, rd in answers:
        if rrset.rdtype != dns.rdatatype.CNAME or rrset.rdclass != dns.rdataclass.IN:
            continue
        target = rd.target.canonicalize()
        if rrset.name.canonicalize() != cur or target in names or len(chain) >= lim["chain"]:
            break
        chain.append(target)
        names.add(target)
        cur = target
    out["chain"] = [name_text(n) for n in chain]

    out["credited"] = [
        {"address": rd.address, "ttl": effective_ttl(rrset.ttl)}
        for rrset, rd in answers
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        and rrset.rdclass == dns.rdataclass.IN
        and rrset.name.canonicalize() in names
    ]
    return out


def main():
    lim = limits()
    cases = {}
    for path in sorted(CORPUS.glob("*.bin")):
        data = path.read_bytes()
        tcp_prefix = path.name.endswith(".tcp.bin")
        if tcp_prefix:
            length = int.from_bytes(data[:2], "big")
            assert length == len(data) - 2, f"{path.name}: TCP length prefix {length} != {len(data) - 2}"
            data = data[2:]
        entry = {"tcp_prefix": tcp_prefix, "length": len(data)}
        entry.update(facts(data, lim))
        cases[path.name] = entry
    json.dump(
        {"generator": f"Tests/Fixtures/make_corpus_facts.py, dnspython {dns.version.version}", "cases": cases},
        sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
