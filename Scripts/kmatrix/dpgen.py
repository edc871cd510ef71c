#!/usr/bin/env python3
"""Packets of the kernel matrix's datapath differential (dptest.c), deterministic.

  dpgen.py --out DIR        writes DIR/packets.txt

One case a line: "HOOK CHECKS LABEL HEX".
  HOOK    E = the endpoint's egress (veth_ingress / cgroup_egress),
          I = the endpoint's ingress (veth_egress / cgroup_ingress).
  CHECKS  "-" or per scenario "veth:ret=0,noev;cgroup:ret=1": sanity assertions derived by hand
          from the policy dptest.c writes (below), not from the programs. dptest evaluates them
          on every kernel; the report requires them on the host, so the host-vs-guest
          differential never compares two equally broken results.
          ret=N   the program's return value (tc: 0 OK, 2 SHOT, 7 REDIRECT; cgroup_skb: 1 pass, 0 drop)
          rcode=N the packet came back rewritten into a DNS answer with this rcode
          ev=N    the packet emitted an event of type N (enum fqdn_event_type)
          noev    the packet emitted no event
  LABEL   what the case is (no spaces).
  HEX     an Ethernet frame (cgroup_skb programs see it from the IP header on).

The policy (dptest.c): endpoint 7 (veth: ifindex 1 = lo, where BPF_PROG_TEST_RUN runs;
cgroup: the root cgroup, an ancestor of every process), policy 3 with DNS rules,
refused queries answered REFUSED, min TTL 10 s, at most 2 addresses per name, flow grace 60 s;
one rule (rule 0, every port) for example.com and every name under it, whose names are also
the only ones that may be queried; trusted servers 10.0.0.53:53 and [fd00::53]:53.
"""
import argparse
import os
import socket
import struct

from gencases import csum  # the same Internet checksum as the parser's cases

A_, AAAA, CNAME = 1, 28, 5
EV_LEARNED, EV_REFUSED, EV_DENIED, EV_MALFORMED, EV_NOT_LEARNED = 1, 2, 3, 4, 5


def name(n):
    out = b""
    for label in n.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns(txid, flags, q, qtype, answers=(), trunc=None):
    m = struct.pack(">HHHHHH", txid, flags, 1, len(answers), 0, 0) + name(q) + struct.pack(">HH", qtype, 1)
    for (n, t, ttl, rdata) in answers:
        m += name(n) + struct.pack(">HHIH", t, 1, ttl, len(rdata)) + rdata
    return m[:trunc] if trunc else m


def a(ip):
    return socket.inet_pton(socket.AF_INET, ip)


def a6(ip):
    return socket.inet_pton(socket.AF_INET6, ip)


ETH_SRC = bytes.fromhex("020000000001")
ETH_DST = bytes.fromhex("020000000002")


def ip4(src, dst, proto, l4):
    h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, a(src), a(dst))
    h = h[:10] + struct.pack(">H", csum(h)) + h[12:]
    return ETH_DST + ETH_SRC + b"\x08\x00" + h + l4


def ip6(src, dst, proto, l4):
    h = struct.pack(">IHBB16s16s", 0x60000000, len(l4), proto, 64, a6(src), a6(dst))
    return ETH_DST + ETH_SRC + b"\x86\xdd" + h + l4


def udp(sp, dp, payload):
    return struct.pack(">HHHH", sp, dp, 8 + len(payload), 0) + payload


def tcp(sp, dp, flags):
    return struct.pack(">HHIIBBHHH", sp, dp, 1, 0, 0x50, flags, 1024, 0, 0)


C4, S4, U4 = "10.0.0.2", "10.0.0.53", "10.0.0.99"
C6, S6 = "fd00::2", "fd00::53"
SYN, ACK = 0x02, 0x10

# hand-derived expectations, per scenario
def checks(veth, cgroup, *extra):
    """veth and cgroup assertions, plus the ones both scenarios share."""
    return "veth:%s;cgroup:%s" % (",".join((veth,) + extra), ",".join((cgroup,) + extra))


def PASS(*extra):
    return checks("ret=0", "ret=1", *extra)


DENY = checks("ret=2", "ret=0", "ev=%d" % EV_DENIED)
REFUSE = checks("ret=7,rcode=5", "ret=0", "ev=%d" % EV_REFUSED)  # cgroup_skb cannot rewrite: dropped
DELIVER = PASS  # the endpoint's ingress delivers everything


def cases():
    c = []
    E, I = "E", "I"
    # before anything is learned: a connection to the address about to be learned is dropped
    c.append((E, DENY, "syn-before-learning", ip4(C4, "93.184.216.34", 6, tcp(50000, 443, SYN))))
    # queries
    c.append((E, PASS("noev"), "query-allowed-v4-mixed-case",
              ip4(C4, S4, 17, udp(40000, 53, dns(0x1111, 0x0100, "www.Example.com", A_)))))
    c.append((E, REFUSE, "query-refused-v4", ip4(C4, S4, 17, udp(40001, 53, dns(0x2222, 0x0100, "blocked.org", A_)))))
    c.append((E, REFUSE, "query-refused-v6", ip6(C6, S6, 17, udp(40002, 53, dns(0x3333, 0x0100, "blocked.org", AAAA)))))
    c.append((E, PASS("noev"), "query-allowed-v6",
              ip6(C6, S6, 17, udp(40003, 53, dns(0x4444, 0x0100, "example.com", AAAA)))))
    c.append((E, checks("ev=%d" % EV_MALFORMED, "ev=%d" % EV_MALFORMED), "query-malformed",
              ip4(C4, S4, 17, udp(40004, 53, dns(0x5555, 0x0100, "api.example.com", A_, trunc=20)))))
    c.append((E, PASS(), "query-allowed-later-answered",
              ip4(C4, S4, 17, udp(40005, 53, dns(0x6666, 0x0100, "nx.example.com", A_)))))
    # responses
    c.append((I, DELIVER("ev=%d" % EV_LEARNED), "answer-cname-two-a",
              ip4(S4, C4, 17, udp(53, 40000, dns(0x1111, 0x8180, "www.example.com", A_, [
                  ("www.example.com", CNAME, 60, name("edge.example.com")),
                  ("edge.example.com", A_, 300, a("93.184.216.34")),
                  ("edge.example.com", A_, 5, a("93.184.216.35"))])))))
    c.append((E, PASS(), "syn-to-learned", ip4(C4, "93.184.216.34", 6, tcp(50000, 443, SYN))))
    c.append((I, DELIVER("ev=%d" % EV_LEARNED), "answer-aaaa",
              ip6(S6, C6, 17, udp(53, 40003, dns(0x4444, 0x8180, "example.com", AAAA, [
                  ("example.com", AAAA, 120, a6("2606:2800::1"))])))))
    c.append((I, DELIVER("ev=%d" % EV_NOT_LEARNED), "answer-no-inflight",
              ip4(S4, C4, 17, udp(53, 40000, dns(0x1111, 0x8180, "www.example.com", A_, [
                  ("www.example.com", A_, 300, a("93.184.216.36"))])))))
    # veth: the query was randomised; the first answer on its 5-tuple consumes it and one
    # with another question is dropped (the later real answer then teaches nothing)
    c.append((I, checks("ret=2", "ret=1", "ev=%d" % EV_NOT_LEARNED), "answer-qname-mismatch",
              ip4(S4, C4, 17, udp(53, 40005, dns(0x6666, 0x8180, "other.example.com", A_, [
                  ("other.example.com", A_, 300, a("93.184.216.40"))])))))
    c.append((I, DELIVER("ev=%d" % EV_NOT_LEARNED), "answer-untrusted-server",
              ip4(U4, C4, 17, udp(53, 40005, dns(0x6666, 0x8180, "nx.example.com", A_, [
                  ("nx.example.com", A_, 300, a("93.184.216.41"))])))))
    c.append((I, DELIVER("ev=%d" % EV_MALFORMED), "answer-malformed",
              ip4(S4, C4, 17, udp(53, 40005, dns(0x6666, 0x8180, "nx.example.com", A_, trunc=25)))))
    # a second query/answer for the same name: new addresses push out old ones (max 2 per name)
    c.append((E, PASS(), "query-again", ip4(C4, S4, 17, udp(40010, 53, dns(0x7777, 0x0100, "www.example.com", A_)))))
    c.append((I, DELIVER(), "answer-evicting", ip4(S4, C4, 17, udp(53, 40010, dns(0x7777, 0x8180, "www.example.com", A_, [
        ("www.example.com", A_, 30, a("93.184.216.37")), ("www.example.com", A_, 30, a("93.184.216.34"))])))))
    c.append((I, checks("ret=0,ev=%d" % EV_NOT_LEARNED, "ret=1,ev=%d" % EV_LEARNED), "answer-late-real",
              ip4(S4, C4, 17, udp(53, 40005, dns(0x6666, 0x8180, "nx.example.com", A_, [
                  ("nx.example.com", A_, 300, a("93.184.216.42"))])))))
    # traffic (TCP SYN, TCP ACK, UDP) to learned, evicted, refused and never-answered addresses
    for dst in ("93.184.216.34", "93.184.216.35", "93.184.216.36", "93.184.216.37", "93.184.216.40",
                "93.184.216.41", "93.184.216.42", "1.2.3.4"):
        chk = "-"
        if dst in ("93.184.216.36", "93.184.216.40", "93.184.216.41", "1.2.3.4"):
            chk = DENY  # never credited: no in-flight query, wrong question, untrusted server, never answered
        c.append((E, chk, "syn-" + dst, ip4(C4, dst, 6, tcp(50000, 443, SYN))))
        c.append((E, chk, "ack-" + dst, ip4(C4, dst, 6, tcp(50000, 443, ACK))))
        c.append((E, chk, "udp-" + dst, ip4(C4, dst, 17, udp(50001, 8443, b"x"))))
    c.append((E, PASS(), "syn-v6-learned", ip6(C6, "2606:2800::1", 6, tcp(50002, 443, SYN))))
    c.append((E, DENY, "syn-v6-never-learned", ip6(C6, "2606:2800::2", 6, tcp(50002, 443, SYN))))
    c.append((E, "-", "icmpv6-neighbor-solicitation", ip6(C6, "fe80::1", 58, bytes([135, 0, 0, 0]))))
    c.append((E, "-", "udp-to-untrusted-dns", ip4(C4, U4, 17, udp(40020, 53, dns(0x8888, 0x0100, "www.example.com", A_)))))
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "packets.txt"), "w") as f:
        for hook, chk, label, pkt in cases():
            f.write("%s %s %s %s\n" % (hook, chk, label, pkt.hex()))


if __name__ == "__main__":
    main()
