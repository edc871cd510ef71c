#!/usr/bin/python3
"""A hostile pod: sends raw Ethernet frames from a pod's network namespace and counts, in a
sink namespace, how many of them arrive (Documentation/Security.md).

Run as root by the Swift security tests (Tests/PolicyEngineKernelTests/SecurityTests.swift):

    hostile_pod.py --pod NS --pod-mac MAC --gateway-mac MAC --src4 A --src6 A \
                   --sink NS [--sink NS ...] --scenario NAME [--target4 A --target6 A]
                   [--dns4 A --dns6 A] [--spoof4 A --spoof6 A]
                   [--forge PORT:ID ... --forge-random N --forge-addr A] [--seconds S --seed N]
                   [--via packet|ip] (tcp-inject)
                   [--acc-ns NS --acc-if IF --acc-mac MAC --acc-gw-mac MAC] (tcp-forge)

Every frame carries a marker (random per run) in its payload or DNS name. One AF_PACKET
socket per sink namespace (opened inside it: setns on this thread) sees every frame that
reaches that namespace's interfaces; the script prints one JSON line:
{"sent": N, "arrived": {"NS": count, ...}, "samples": [...]}.
Frames are built with scapy (Debian's python3-scapy) and sent through an AF_PACKET socket
made in the pod's namespace, as a pod with CAP_NET_RAW would.
"""
import argparse
import ctypes
import json
import os
import random
import select
import socket
import struct
import sys
import time

from scapy.all import (DNS, DNSQR, DNSRR, DNSRROPT, EDNS0TLV, Dot1AD, Dot1Q, Ether, ICMP, ICMPv6EchoRequest,
                       ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_Redirect, ICMPv6ND_RS, IP,
                       IPOption_RR, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, Raw, TCP, UDP, raw)

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    """Moves this thread into network namespace `ns` (an ip-netns name or a path)."""
    path = ns if ns.startswith("/") else "/var/run/netns/" + ns
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def sink_socket(ns):
    enter(ns)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    return s


def drain(socks, marker, counts, samples, until):
    """Reads every frame until `until` (monotonic); counts those holding the marker that the
    namespace received (not its own outgoing copies)."""
    m = marker.encode()
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select(list(socks.values()), [], [], min(left, 0.05))
        for ns, s in socks.items():
            if s not in ready:
                continue
            while True:
                try:
                    data, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                if m in data or m.lower() in data.lower():
                    counts[ns] += 1
                    if len(samples) < 16:
                        samples.append({"sink": ns, "bytes": data[:96].hex()})


# ---------------------------------------------------------------- scenarios

def eth(a):
    return Ether(src=a.pod_mac, dst=a.gateway_mac)


def vlan_frames(a, mk):
    """Classes 1: VLAN and QinQ tags around IP, toward a never-resolved address."""
    body4 = IP(src=a.src4, dst=a.target4) / UDP(sport=40001, dport=9999) / Raw(mk.encode())
    body6 = IPv6(src=a.src6, dst=a.target6) / UDP(sport=40001, dport=9999) / Raw(mk.encode())
    syn = IP(src=a.src4, dst=a.target4) / TCP(sport=40002, dport=80, flags="S") / Raw(mk.encode())
    icmp = IP(src=a.src4, dst=a.target4) / ICMP() / Raw(mk.encode())
    out = []
    for body in (body4, body6, syn, icmp):
        out.append(eth(a) / Dot1Q(vlan=0) / Dot1Q(vlan=0) / body)      # double 802.1Q, VLAN 0
        out.append(eth(a) / Dot1AD(vlan=0) / Dot1Q(vlan=0) / body)     # 802.1ad + 802.1Q
        out.append(eth(a) / Dot1Q(vlan=0) / body)                      # one priority tag
        out.append(eth(a) / Dot1Q(vlan=0) / Dot1Q(vlan=0) / Dot1Q(vlan=0) / body)
        out.append(eth(a) / Dot1Q(vlan=7) / Dot1Q(vlan=0) / body)
    return out


def nd_frames(a, mk):
    """Class 2: ICMPv6 types 133-137 toward a global address off the link."""
    out = []
    for hlim in (255, 64):
        base = IPv6(src=a.src6, dst=a.target6, hlim=hlim)
        out += [
            eth(a) / base / ICMPv6ND_RS() / Raw(mk.encode()),
            eth(a) / base / ICMPv6ND_RA() / Raw(mk.encode()),
            eth(a) / base / ICMPv6ND_NS(tgt=a.target6) / Raw(mk.encode()),
            eth(a) / base / ICMPv6ND_NA(tgt=a.src6) / Raw(mk.encode()),
            eth(a) / base / ICMPv6ND_Redirect(tgt=a.target6, dst=a.target6) / Raw(mk.encode()),
        ]
    return out


def dns_query(a, qd, flags=None, an=None, ar=None, opcode=0, qr=0):
    d = DNS(id=random.randint(1, 65535), rd=1, qr=qr, opcode=opcode, qd=qd, an=an, ar=ar)
    return d


def dns_frames(a, mk):
    """Class 3: DNS toward the trusted server that the DNS rules never checked."""
    refused = "%s.blocked.test" % mk
    allowed = "web1.demo.test"
    q = lambda n, t="A": DNSQR(qname=n, qtype=t)
    msgs = [
        dns_query(a, q(refused) / q(allowed)),                         # QDCOUNT 2, first refused
        dns_query(a, q(allowed) / q(refused)),                         # QDCOUNT 2, second refused
        dns_query(a, q(refused), qr=1),                                # QR = 1
        dns_query(a, q(refused), opcode=5),                            # UPDATE
        dns_query(a, q(allowed), an=DNSRR(rrname=refused, type="TXT", rdata=mk)),
        dns_query(a, q(allowed), ar=DNSRR(rrname=refused, type="TXT", rdata=mk)),
        dns_query(a, q(allowed), ar=DNSRROPT() / DNSRR(rrname=refused, type="TXT", rdata=mk)),
    ]
    out = []
    for m in msgs:
        out.append(eth(a) / IP(src=a.src4, dst=a.dns4) / UDP(sport=random.randint(20000, 60000), dport=53) / m)
    plain = bytes(dns_query(a, q(refused)))
    framed = len(plain).to_bytes(2, "big") + plain
    # TCP Fast Open: a SYN carrying the query; and data on a connection the datapath never
    # saw open (DNS over TCP not enabled for the endpoint).
    out.append(eth(a) / IP(src=a.src4, dst=a.dns4) / TCP(sport=41000, dport=53, flags="S", seq=1000) / Raw(framed))
    out.append(eth(a) / IP(src=a.src4, dst=a.dns4) / TCP(sport=41001, dport=53, flags="PA", seq=1000, ack=1) / Raw(framed))
    return out


def reply_frames(a, mk):
    """Class 6: forged "replies" (no connection into the pod behind them)."""
    return [
        eth(a) / IP(src=a.src4, dst=a.target4) / TCP(sport=8080, dport=45678, flags="SA", seq=1, ack=1000) / Raw(mk.encode()),
        eth(a) / IP(src=a.src4, dst=a.target4) / TCP(sport=8080, dport=45678, flags="PA", seq=2, ack=1000) / Raw(mk.encode()),
        eth(a) / IP(src=a.src4, dst=a.target4) / UDP(sport=5353, dport=45678) / Raw(mk.encode()),
        eth(a) / IPv6(src=a.src6, dst=a.target6) / TCP(sport=8080, dport=45678, flags="SA") / Raw(mk.encode()),
    ]


def random_frame(a, mk, rng):
    """Class 7 (randomised): odd ethertypes, 0-3 tags of any TPID, IP options, extension-header
    chains, fragments, random protocols, toward the never-resolved target or the trusted
    server. The marker is in every frame."""
    payload = Raw(mk.encode() + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))))
    v6 = rng.random() < 0.4
    dst_dns = rng.random() < 0.3 and a.dns4
    kind = rng.randrange(8)
    if v6:
        ip = IPv6(src=a.src6, dst=a.target6, hlim=rng.choice([1, 64, 255]))
        chain = []
        for _ in range(rng.randrange(0, 4)):
            chain.append(rng.choice([IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(),
                                     IPv6ExtHdrFragment(offset=rng.randrange(0, 4), m=rng.randrange(2))]))
        for h in chain:
            ip = ip / h
    else:
        dst = a.dns4 if dst_dns else a.target4
        ip = IP(src=a.src4, dst=dst, ttl=rng.choice([1, 64]))
        if rng.random() < 0.2:
            ip.options = [IPOption_RR()]
        if rng.random() < 0.2:
            ip.flags = "MF" if rng.random() < 0.5 else 0
            ip.frag = rng.randrange(0, 8)
    dport = 53 if dst_dns else rng.choice([80, 443, 8080, 9999, 53])
    if kind == 0:
        l4 = UDP(sport=rng.randrange(1024, 65535), dport=dport) / payload
    elif kind == 1:
        l4 = TCP(sport=rng.randrange(1024, 65535), dport=dport, flags=rng.choice(["S", "SA", "A", "PA", "R", "F"])) / payload
    elif kind == 2:
        l4 = (ICMPv6EchoRequest() if v6 else ICMP()) / payload
    elif kind == 3:
        l4 = rng.choice([ICMPv6ND_NS(tgt=a.target6), ICMPv6ND_RA(), ICMPv6ND_NA(tgt=a.src6)]) / payload if v6 else ICMP(type=rng.randrange(256)) / payload
    else:
        ip.nh = rng.randrange(256) if v6 else None
        if not v6:
            ip.proto = rng.choice([47, 132, 4, 41, 50, 51, 255, rng.randrange(256)])
        l4 = payload
    frame = ip / l4
    tags = rng.randrange(0, 4)
    tpids = [0x8100, 0x88A8, 0x9100, 0x9200]
    head = Ether(src=a.pod_mac, dst=a.gateway_mac)
    b = bytes(frame)
    ethertype = 0x86DD if v6 else 0x0800
    if rng.random() < 0.1:
        ethertype = rng.choice([0x0806, 0x8035, 0x88CC, 0x8847, 0x8864, 0x88E5, rng.randrange(0x600, 0x10000)])
    out = bytes(head)[:12]
    for _ in range(tags):
        out += rng.choice(tpids).to_bytes(2, "big") + rng.choice([0, 0, rng.randrange(4096)]).to_bytes(2, "big")
    out += ethertype.to_bytes(2, "big") + b
    if rng.random() < 0.05:
        out = out[:rng.randrange(14, len(out))] + mk.encode()  # truncated headers
    return out


def marked_query(mk, txid=None):
    """An allowed query (web1.demo.test A) carrying the marker in an EDNS option: a shape the
    DNS rules check and pass, so only what is around it decides."""
    opt = DNSRROPT(rclass=1232, rdata=[EDNS0TLV(optcode=65001, optdata=mk.encode())])
    return DNS(id=txid if txid is not None else random.randint(1, 65535), rd=1,
               qd=DNSQR(qname="web1.demo.test"), ar=opt)


def spoof_frames(a, mk):
    """Class 4: allowed queries to the trusted server with another host's source address (a
    reflection toward it) or another pod's (impersonation), IPv4 and IPv6."""
    out = []
    for src in (a.target4, a.spoof4):
        out.append(eth(a) / IP(src=src, dst=a.dns4) / UDP(sport=random.randint(20000, 60000), dport=53) / marked_query(mk))
    for src in (a.target6, a.spoof6):
        out.append(eth(a) / IPv6(src=src, dst=a.dns6) / UDP(sport=random.randint(20000, 60000), dport=53) / marked_query(mk))
    return out


def own_source_frames(a, mk):
    """The same queries with the pod's own addresses (they pass)."""
    return [eth(a) / IP(src=a.src4, dst=a.dns4) / UDP(sport=random.randint(20000, 60000), dport=53) / marked_query(mk),
            eth(a) / IPv6(src=a.src6, dst=a.dns6) / UDP(sport=random.randint(20000, 60000), dport=53) / marked_query(mk)]


def query_frames(a, mk):
    """Class 5: one allowed query with the port and id the pod chose (40000, 0x1234); the
    sink at the server shows what arrived there."""
    return [eth(a) / IP(src=a.src4, dst=a.dns4) / UDP(sport=40000, dport=53) / marked_query(mk, 0x1234)]


def query_ttl1_frames(a, mk):
    """Class 5, the leak to close: allowed queries with IP TTL / hop limit 1. The node answers
    with ICMP time exceeded, quoting the query as it left the node's veth hook (with the port
    and id the kernel drew); the sink is the pod itself."""
    return [eth(a) / IP(src=a.src4, dst=a.dns4, ttl=1) / UDP(sport=40000, dport=53) / marked_query(mk, 0x1234),
            eth(a) / IPv6(src=a.src6, dst=a.dns6, hlim=1) / UDP(sport=40000, dport=53) / marked_query(mk, 0x1234)]


def forge_frames(a, mk):
    """Class 5, the accomplice off the node: answers for web1.demo.test with --forge-addr,
    forged from the trusted server's address to --target4 (the pod), on each
    --forge PORT:ID pair and on --forge-random random pairs. The marker rides in an
    additional TXT record."""
    pairs = [tuple(int(x, 0) for x in p.split(":")) for p in a.forge]
    rng = random.Random(a.seed)
    pairs += [(rng.randint(1024, 65535), rng.randint(0, 65535)) for _ in range(a.forge_random)]
    out = []
    for port, txid in pairs:
        d = DNS(id=txid, qr=1, aa=1, rd=1, ra=1, qd=DNSQR(qname="web1.demo.test"),
                an=DNSRR(rrname="web1.demo.test", type="A", ttl=3600, rdata=a.forge_addr),
                ar=DNSRR(rrname="marker.demo.test", type="TXT", ttl=60, rdata=mk))
        out.append(eth(a) / IP(src=a.dns4, dst=a.target4) / UDP(sport=53, dport=port) / d)
    return out


def dns_over_tcp(name, txid, mk=None):
    """A query as DNS over TCP writes it: 2-byte length, then the message."""
    m = raw(marked_query(mk, txid)) if mk and name is None else raw(DNS(id=txid, rd=1, qd=DNSQR(qname=name)))
    return len(m).to_bytes(2, "big") + m


def tcp_exchange(s, name):
    """Writes one query on a connected socket; True when a whole answer comes back."""
    s.sendall(dns_over_tcp(name, random.randint(1, 65535)))
    want, got = None, b""
    try:
        while want is None or len(got) < want + 2:
            chunk = s.recv(4096)
            if not chunk:
                return False
            got += chunk
            if want is None and len(got) >= 2:
                want = int.from_bytes(got[:2], "big")
    except OSError:
        return False
    return True


def tcp_numbers(sniff, lport, seen=None):
    """From the frames a pod sees on its interface (AF_PACKET): the connection's next
    sequence number in each direction (what it sent, what it received) and whether the
    server's SYN-ACK allowed SACK; `seen` carries what earlier calls read."""
    snd, rcv, sack = seen or (None, None, None)
    while True:
        try:
            data, addr = sniff.recvfrom(65535)
        except BlockingIOError:
            return snd, rcv, sack
        f = Ether(data)
        if TCP not in f:
            continue
        t = f[TCP]
        n = len(bytes(t.payload)) + (1 if t.flags & 0x02 else 0) + (1 if t.flags & 0x01 else 0)
        end = (t.seq + n) & 0xFFFFFFFF
        if addr[2] == socket.PACKET_OUTGOING and t.sport == lport:
            snd = end
        elif addr[2] != socket.PACKET_OUTGOING and t.dport == lport:
            rcv = end
            if t.flags & 0x12 == 0x12:
                sack = any(o[0] == "SAckOK" for o in t.options)


def tcp_inject(a, mk, via, repeat):
    """Class 3 over TCP: the pod's own connection to the trusted server carries an allowed
    query written through the socket (the sk_msg program checks it). Then segments crafted
    with that connection's sequence numbers (read from the pod's own traffic) carry bytes
    the socket never wrote: a query the DNS rules refuse, the allowed query again (marked),
    and other bytes over the range the socket already sent. Sent through AF_PACKET (via
    "packet", as a pod would) or a raw IP socket (via "ip": what a cgroup_skb hook sees).
    Then the socket writes one more allowed query. Returns (frames sent, [that query was
    answered, per family])."""
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sniff.bind((a.pod_if, 0))
    sniff.setblocking(False)
    packet = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    packet.bind((a.pod_if, 0))
    sent, answered = 0, []
    for family, src, dst in ((socket.AF_INET, a.src4, a.dns4), (socket.AF_INET6, a.src6, a.dns6)):
        s = socket.create_connection((dst, 53), timeout=3)
        lport = s.getsockname()[1]
        ok = tcp_exchange(s, "web1.demo.test")
        time.sleep(0.2)
        snd, rcv, _ = tcp_numbers(sniff, lport)
        if not ok or snd is None or rcv is None:
            raise SystemExit("tcp-inject: the allowed exchange over TCP failed (answered=%s, seq=%s, ack=%s)" % (ok, snd, rcv))
        written = len(dns_over_tcp("web1.demo.test", 1))
        payloads = [(snd, dns_over_tcp(mk + ".other.test", 0x4242)),
                    (snd, dns_over_tcp(None, 0x4343, mk)),
                    ((snd - written) & 0xFFFFFFFF, dns_over_tcp(mk + ".other.test", 0x4444))]
        ip = IP(src=src, dst=dst) if family == socket.AF_INET else IPv6(src=src, dst=dst)
        for _ in range(repeat):
            for seq, payload in payloads:
                pkt = ip / TCP(sport=lport, dport=53, flags="PA", seq=seq, ack=rcv, window=502) / Raw(payload)
                if via == "packet":
                    packet.send(raw(eth(a) / pkt))
                else:
                    r = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
                    try:
                        r.sendto(raw(pkt), (dst, 0))
                    except PermissionError:
                        pass  # refused by the cgroup hook (EPERM): dropped, as it should be
                    r.close()
                sent += 1
            time.sleep(0.05)
        answered.append(tcp_exchange(s, "web1.demo.test"))
        s.close()
    return sent, answered


def tcp_forge(a, mk, repeat):
    """Class 5 over TCP: the pod connects to the trusted server, then sends an allowed query
    (id 0x5151) with IP TTL / hop limit 1, so it never arrives. It reads its connection's
    numbers from its own traffic (what it sent, what it received) and hands them to an
    accomplice off the node (--acc-ns), which forges the answer (web1.demo.test A
    --forge-addr, from the server's address) with exactly those numbers, and with --forge-random
    random ones. Returns (frames sent, [the socket received the forged bytes, per family],
    [the server's SYN-ACK allowed SACK, per family])."""
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sniff.bind((a.pod_if, 0))
    sniff.setblocking(False)
    enter(a.acc_ns)
    acc = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    acc.bind((a.acc_if, 0))
    enter(a.pod)
    rng = random.Random(a.seed)
    sent, received, sack = 0, [], []
    for family, src, dst in ((socket.AF_INET, a.src4, a.dns4), (socket.AF_INET6, a.src6, a.dns6)):
        s = socket.create_connection((dst, 53), timeout=3)
        lport = s.getsockname()[1]
        time.sleep(0.1)
        seen = tcp_numbers(sniff, lport)
        sack.append(bool(seen[2]))
        if family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 1)
        s.sendall(dns_over_tcp("web1.demo.test", 0x5151))
        time.sleep(0.3)
        snd, rcv, _ = tcp_numbers(sniff, lport, seen)
        if snd is None or rcv is None:
            raise SystemExit("tcp-forge: no numbers seen (seq=%s, ack=%s)" % (snd, rcv))
        d = raw(DNS(id=0x5151, qr=1, aa=1, rd=1, ra=1, qd=DNSQR(qname="web1.demo.test"),
                    an=DNSRR(rrname="web1.demo.test", type="A", ttl=3600, rdata=a.forge_addr),
                    ar=DNSRR(rrname="marker.demo.test", type="TXT", ttl=60, rdata=mk)))
        payload = len(d).to_bytes(2, "big") + d
        ip = IP(src=dst, dst=src) if family == socket.AF_INET else IPv6(src=dst, dst=src)
        numbers = [(rcv, snd)] + [(rng.getrandbits(32), rng.getrandbits(32)) for _ in range(a.forge_random)]
        for _ in range(repeat):
            for seq, ack in numbers:
                f = Ether(src=a.acc_mac, dst=a.acc_gw_mac) / ip / TCP(sport=53, dport=lport, flags="PA", seq=seq, ack=ack,
                                                                     window=502) / Raw(payload)
                acc.send(raw(f))
                sent += 1
            time.sleep(0.05)
        s.settimeout(1.5)
        try:
            got = s.recv(4096)
        except (socket.timeout, OSError):
            got = b""
        received.append(mk.encode() in got)
        # Abortive close: the query still waits for its (TTL 1) retransmissions.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    return sent, received, sack


SCENARIOS = {"vlan": vlan_frames, "nd": nd_frames, "dns": dns_frames, "reply": reply_frames,
             "spoof": spoof_frames, "own-source": own_source_frames, "query": query_frames,
             "query-ttl1": query_ttl1_frames,
             "forge": forge_frames}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pod", required=True)
    ap.add_argument("--pod-if", default="eth0")
    ap.add_argument("--pod-mac", required=True)
    ap.add_argument("--gateway-mac", required=True)
    ap.add_argument("--src4", required=True)
    ap.add_argument("--src6", required=True)
    ap.add_argument("--target4", default="")
    ap.add_argument("--target6", default="")
    ap.add_argument("--dns4", default="")
    ap.add_argument("--dns6", default="")
    ap.add_argument("--spoof4", default="10.210.99.2", help="another pod's address (spoof)")
    ap.add_argument("--spoof6", default="fd10:210:99::2")
    ap.add_argument("--forge", action="append", default=[], help="PORT:ID of a forged answer (forge)")
    ap.add_argument("--forge-random", type=int, default=0)
    ap.add_argument("--forge-addr", default="")
    ap.add_argument("--sink", action="append", default=[])
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS) + ["random", "tcp-inject", "tcp-forge"])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--acc-ns", default="", help="the accomplice's namespace (tcp-forge)")
    ap.add_argument("--acc-if", default="eth0")
    ap.add_argument("--acc-mac", default="")
    ap.add_argument("--acc-gw-mac", default="")
    ap.add_argument("--via", choices=["packet", "ip"], default="packet", help="how tcp-inject sends its segments")
    a = ap.parse_args()

    marker = "fqdnmark%08x" % random.SystemRandom().getrandbits(32)
    socks = {ns: sink_socket(ns) for ns in a.sink}
    enter(a.pod)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((a.pod_if, 0))
    counts = {ns: 0 for ns in a.sink}
    samples = []
    sent = 0
    extra = {}
    if a.scenario == "tcp-inject":
        sent, extra["answered"] = tcp_inject(a, marker, a.via, a.repeat)
    elif a.scenario == "tcp-forge":
        sent, extra["received"], extra["sack"] = tcp_forge(a, marker, a.repeat)
    elif a.scenario == "random":
        rng = random.Random(a.seed)
        end = time.monotonic() + a.seconds
        while time.monotonic() < end:
            for _ in range(20):
                try:
                    tx.send(random_frame(a, marker, rng))
                    sent += 1
                except OSError:
                    pass  # a frame the pod's own kernel refuses (too short, ...)
            drain(socks, marker, counts, samples, time.monotonic() + 0.002)
    else:
        frames = [raw(f) for f in SCENARIOS[a.scenario](a, marker)]
        for _ in range(a.repeat):
            for f in frames:
                tx.send(f)
                sent += 1
            time.sleep(0.05)
    drain(socks, marker, counts, samples, time.monotonic() + 1.0)
    print(json.dumps(dict({"sent": sent, "marker": marker, "arrived": counts, "samples": samples}, **extra)))


if __name__ == "__main__":
    sys.exit(main())
