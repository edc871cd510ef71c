#!/usr/bin/env python3
"""Differential cases of the kernel matrix, deterministic for a seed.

Writes two case files in the loader's format ("KMC1", u32 count, then per case
u32 length + bytes, little endian) and one JSON index:

  packets.bin   Ethernet/IPv4|IPv6/UDP (and /TCP with the 2-byte prefix) packets
                for parser_test's parse_packet, each at most --max-packet bytes
                (BPF_PROG_TEST_RUN takes one page; 3712 bytes on 6.18).
  buffers.bin   bare DNS messages for parse_buffer (the msg_in map): the messages
                of all packet cases, plus messages too large for a packet (up to
                and past FQDN_MAX_MSG_LEN).
  cases.json    per case: origin, transport, the DNS message (hex).

Sources: every file of the knot corpus (as UDP over IPv4 and IPv6, and the
.tcp.bin forms as TCP), then --seeded cases: mutations of corpus messages (bit
flips, special bytes, truncations, pointer rewrites, count changes, label
length edits, insertions, deletions, trailing bytes) and random messages from
a small encoder here (random names with compression, CNAME chains with loops
and case changes, A/AAAA/TXT/MX/SRV/SOA/NS/PTR/unknown records, OPT with an
extended rcode, TTLs with the top bit set, limit-edge names and counts).
Expected facts do not come from here: the host kernel and the Swift reference
are compared with each other and every guest with the host kernel.
"""
import argparse
import glob
import json
import os
import random
import struct

# ---------------------------------------------------------------- packets


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


ETH_V4 = bytes.fromhex("020000000002" "020000000001" "0800")
ETH_V6 = bytes.fromhex("020000000002" "020000000001" "86dd")
SRC4, DST4 = bytes([192, 0, 2, 53]), bytes([10, 0, 0, 2])
SRC6 = bytes.fromhex("20010db8000000000000000000000053")
DST6 = bytes.fromhex("20010db8000000000000000000000002")


def ipv4(proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, SRC4, DST4)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(proto, payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, SRC6, DST6) + payload


def udp(msg, v6, sport=53, dport=40000):
    length = 8 + len(msg)
    u = struct.pack("!HHHH", sport, dport, length & 0xFFFF, 0) + msg
    if v6:
        pseudo = SRC6 + DST6 + struct.pack("!IxxxB", length, 17)
        c = csum(pseudo + u) or 0xFFFF
        u = u[:6] + struct.pack("!H", c) + u[8:]
        return ETH_V6 + ipv6(17, u)
    return ETH_V4 + ipv4(17, u)


def tcp(stream, v6, sport=53, dport=40000):
    t = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x18, 65535, 0, 0) + stream
    if v6:
        return ETH_V6 + ipv6(6, t)
    return ETH_V4 + ipv4(6, t)


# ---------------------------------------------------------------- encoder

CHARS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
ODD = b'.\\"();@$ \x00\x7f\xff*'


class Encoder:
    """A DNS message writer with optional name compression (suffix table)."""

    def __init__(self, rng, compress):
        self.rng, self.compress = rng, compress
        self.buf = bytearray(12)
        self.suffixes = {}

    def name(self, labels):
        for i in range(len(labels)):
            key = tuple(l.lower() for l in labels[i:])
            if self.compress and key in self.suffixes and self.rng.random() < 0.8:
                self.buf += struct.pack("!H", 0xC000 | self.suffixes[key])
                return
            if len(self.buf) < 0x3FFF:
                self.suffixes.setdefault(key, len(self.buf))
            self.buf += bytes([len(labels[i])]) + labels[i]
        self.buf.append(0)

    def record(self, owner, rtype, ttl, rdata_fn, rclass=1):
        self.name(owner)
        self.buf += struct.pack("!HHI", rtype, rclass, ttl)
        at = len(self.buf)
        self.buf += b"\0\0"
        rdata_fn()
        struct.pack_into("!H", self.buf, at, len(self.buf) - at - 2)


def rand_label(rng, maxlen=20):
    n = rng.choice([1, 1, 2, 3, rng.randint(1, maxlen), rng.randint(1, 63)] if maxlen >= 63 else [1, 2, 3, rng.randint(1, maxlen)])
    if rng.random() < 0.05:
        return bytes(rng.choice(ODD) for _ in range(n))
    return bytes(rng.choice(CHARS) for _ in range(n))


def rand_name(rng, base=None):
    if base is not None and rng.random() < 0.6:
        return [rand_label(rng, 12) for _ in range(rng.randint(1, 2))] + base
    return [rand_label(rng, 16) for _ in range(rng.randint(1, 5))]


def flip_case(rng, labels):
    return [bytes(c ^ 0x20 if 0x41 <= (c & 0xDF) <= 0x5A and rng.random() < 0.5 else c for c in l) for l in labels]


def random_message(rng):
    e = Encoder(rng, rng.random() < 0.85)
    qname = rand_name(rng)
    qtype = rng.choice([1, 28, 1, 28, 5, 16, 255, rng.randint(0, 65535)])
    qd = 1 if rng.random() < 0.93 else rng.choice([0, 2])
    for _ in range(qd):
        e.name(qname)
        e.buf += struct.pack("!HH", qtype, 1 if rng.random() < 0.95 else rng.randint(0, 255))
    # answers: a CNAME chain (sometimes broken, looping or too long) plus addresses
    answers = []
    chain = [qname]
    for _ in range(rng.choice([0, 0, 1, 2, 3, rng.randint(0, 12)])):
        target = rand_name(rng, chain[-1][-2:] if len(chain[-1]) > 2 else None)
        if rng.random() < 0.08:
            target = rng.choice(chain)  # loop
        owner = chain[-1] if rng.random() < 0.9 else rand_name(rng)
        answers.append(("CNAME", flip_case(rng, owner), target))
        chain.append(target)
    for _ in range(rng.choice([0, 1, 2, 4, rng.randint(0, 20)])):
        owner = rng.choice(chain) if rng.random() < 0.85 else rand_name(rng)
        answers.append((rng.choice(["A", "A", "AAAA", "TXT", "MX", "OTHER"]), flip_case(rng, owner), None))
    rng.shuffle(answers) if rng.random() < 0.2 else None

    def ttl():
        return rng.choice([0, 60, 300, 86400, 0x7FFFFFFF, 0x80000000, rng.getrandbits(32)])

    def rr(kind, owner, target):
        if kind == "CNAME":
            e.record(owner, 5, ttl(), lambda: e.name(target), 1 if rng.random() < 0.95 else 3)
        elif kind == "A":
            e.record(owner, 1, ttl(), lambda: e.buf.extend(rng.randbytes(4)), 1 if rng.random() < 0.95 else 3)
        elif kind == "AAAA":
            e.record(owner, 28, ttl(), lambda: e.buf.extend(rng.randbytes(16)))
        elif kind == "TXT":
            e.record(owner, 16, ttl(), lambda: [e.buf.extend(bytes([n]) + rng.randbytes(n)) for n in [rng.randint(0, 40) for _ in range(rng.randint(1, 3))]])
        elif kind == "MX":
            e.record(owner, 15, ttl(), lambda: (e.buf.extend(b"\0\x0a"), e.name(rand_name(rng, owner[-2:]))))
        elif kind == "SRV":
            e.record(owner, 33, ttl(), lambda: (e.buf.extend(rng.randbytes(6)), e.name(rand_name(rng))))
        elif kind == "SOA":
            e.record(owner, 6, ttl(), lambda: (e.name(rand_name(rng)), e.name(rand_name(rng)), e.buf.extend(rng.randbytes(20))))
        elif kind == "NS":
            e.record(owner, 2, ttl(), lambda: e.name(rand_name(rng, owner[-1:])))
        elif kind == "PTR":
            e.record(owner, 12, ttl(), lambda: e.name(rand_name(rng)))
        else:
            e.record(owner, rng.choice([13, 99, 257, 65280]), ttl(), lambda: e.buf.extend(rng.randbytes(rng.randint(0, 12))))

    for kind, owner, target in answers:
        rr(kind, owner, target)
    ns = rng.choice([0, 0, 1, rng.randint(0, 3)])
    for _ in range(ns):
        rr(rng.choice(["SOA", "NS"]), qname[-2:] if len(qname) > 1 else qname, None)
    ar = 0
    if rng.random() < 0.5:  # OPT
        ext = rng.choice([0, 0, 0, 1, rng.randint(0, 255)])
        e.buf += b"\0" + struct.pack("!HHIH", 41, 1232, ext << 24, 0)
        ar += 1
    for _ in range(rng.choice([0, 0, 1])):
        rr(rng.choice(["A", "AAAA", "SRV", "PTR"]), rand_name(rng), None)
        ar += 1
    flags = 0x8180 | (0x0400 if rng.random() < 0.3 else 0)
    if rng.random() < 0.1:
        flags |= 0x0200  # TC
    if rng.random() < 0.1:
        flags = (flags & ~0xF) | rng.choice([2, 3, 5])
    if rng.random() < 0.05:
        flags &= ~0x8000  # a query
    struct.pack_into("!HHHHHH", e.buf, 0, rng.getrandbits(16), flags, qd, len(answers), ns, ar)
    return bytes(e.buf)


def edge_message(rng):
    """Limit edges: long names, many labels, pointer chains, many records."""
    kind = rng.randrange(6)
    hdr = lambda qd, an, ns=0, ar=0: struct.pack("!HHHHHH", rng.getrandbits(16), 0x8180, qd, an, ns, ar)
    if kind == 0:  # name of exactly 255 / 256 bytes
        total = rng.choice([253, 254, 255, 256, 257])
        labels, n = [], 1
        while n + 64 <= total:
            labels.append(b"a" * 63)
            n += 64
        if total - n - 1 >= 1:
            labels.append(b"b" * (total - n - 1))
        body = b"".join(bytes([len(l)]) + l for l in labels) + b"\0"
        return hdr(1, 0) + body + b"\0\x01\0\x01"
    if kind == 1:  # 126..128 one-byte labels
        k = rng.choice([126, 127, 128])
        return hdr(1, 0) + b"\x01x" * k + b"\0" + b"\0\x01\0\x01"
    if kind == 2:  # a chain of h pointer hops in an answer owner
        h = rng.choice([15, 16, 17])
        m = bytearray(hdr(1, 1))
        m += b"\x03foo\x00"  # at 12
        m += b"\0\x01\0\x01"
        prev = 12
        # each hop points strictly backwards to the previous one
        hops = []
        for _ in range(h - 1):
            at = len(m)
            m += b"\x01a" + struct.pack("!H", 0xC000 | prev)
            prev = at
            hops.append(at)
        m += struct.pack("!H", 0xC000 | prev)
        m += struct.pack("!HHIH", 1, 1, 60, 4) + rng.randbytes(4)
        m[7] = 1
        return bytes(m)
    if kind == 3:  # 63..65 answers
        n = rng.choice([63, 64, 65])
        m = hdr(1, n) + b"\x01a\0\0\x01\0\x01"
        m += (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + b"\x0a\0\0\x01") * n
        return m
    if kind == 4:  # CNAME chain of 7..10 targets
        n = rng.choice([7, 8, 9, 10])
        e = Encoder(rng, True)
        q = [b"q", b"test"]
        e.name(q)
        e.buf += b"\0\x01\0\x01"
        cur = q
        for i in range(n):
            t = [b"c%d" % i, b"test"]
            e.record(cur, 5, 60, lambda t=t: e.name(t))
            cur = t
        e.record(cur, 1, 60, lambda: e.buf.extend(b"\x0a\0\0\x05"))
        struct.pack_into("!HHHHHH", e.buf, 0, 7, 0x8180, 1, n + 1, 0, 0)
        return bytes(e.buf)
    # kind 5: tiny and header-only messages
    return rng.randbytes(rng.choice([0, 1, 11, 12, 13]))


def mutate(rng, msg):
    m = bytearray(msg)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.randrange(10)
        if not m:
            m += rng.randbytes(rng.randint(1, 20))
            continue
        i = rng.randrange(len(m))
        if op == 0:
            m[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            m[i] = rng.choice([0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xC0, 0xFF, rng.getrandbits(8)])
        elif op == 2:
            del m[rng.randrange(len(m) + 1):]
        elif op == 3:  # pointer rewrite
            ptrs = [j for j in range(12, len(m) - 1) if m[j] & 0xC0 == 0xC0]
            if ptrs:
                j = rng.choice(ptrs)
                t = rng.choice([0, 5, 11, 12, j, j - 1, j + 2, rng.randrange(len(m) + 8)])
                m[j:j + 2] = struct.pack("!H", 0xC000 | (t & 0x3FFF))
        elif op == 4 and len(m) >= 12:  # counts
            f = rng.choice([4, 6, 8, 10])
            v = struct.unpack_from("!H", m, f)[0]
            struct.pack_into("!H", m, f, max(0, min(0xFFFF, rng.choice([v + 1, v - 1, 0, 64, 65, rng.randrange(70)]))))
        elif op == 5:  # label length edit
            labs = [j for j in range(12, len(m)) if 1 <= m[j] <= 63]
            if labs:
                j = rng.choice(labs)
                m[j] = max(0, min(255, rng.choice([m[j] + 1, m[j] - 1, 63, 64, 0])))
        elif op == 6:
            m[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 7:
            del m[i:i + rng.randint(1, 4)]
        elif op == 8:
            m += rng.randbytes(rng.randint(1, 6))
        else:  # TTL / rdlength style: a 0x80 or 0x00 run
            m[i:i + 2] = bytes([rng.choice([0x80, 0x00, 0xFF]), rng.getrandbits(8)])
    return bytes(m)


def big_message(rng, size):
    """A valid-ish response of about size bytes: many TXT records."""
    e = Encoder(rng, True)
    q = [b"big", b"example", b"test"]
    e.name(q)
    e.buf += b"\0\x10\0\x01"
    n = 0
    while len(e.buf) < size - 270 and n < 64:
        e.record(q, 16, 60, lambda: e.buf.extend(b"\xff" + rng.randbytes(255)))
        n += 1
    struct.pack_into("!HHHHHH", e.buf, 0, 9, 0x8180, 1, n, 0, 0)
    m = bytes(e.buf)
    if len(m) < size:
        m += rng.randbytes(size - len(m))  # trailing bytes past the records
    return m


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeded", type=int, default=3000)
    ap.add_argument("--max-packet", type=int, default=3712)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    packets, buffers, index = [], [], {"seed": a.seed, "packets": [], "buffers": []}

    def add_packet(origin, transport, msg, pkt):
        # every message also goes to parse_buffer (same facts expected)
        add_buffer(origin, msg)
        if len(pkt) > a.max_packet:
            return
        packets.append(pkt)
        index["packets"].append({"origin": origin, "transport": transport, "dns": msg.hex()})

    def add_buffer(origin, msg):
        buffers.append(msg)
        index["buffers"].append({"origin": origin, "transport": "buffer", "dns": msg.hex()})

    files = sorted(glob.glob(os.path.join(a.corpus, "*.bin")))
    corpus = []
    for f in files:
        name = os.path.basename(f)
        data = open(f, "rb").read()
        if name.endswith(".tcp.bin"):
            add_packet("corpus:" + name, "tcp4", data[2:], tcp(data, False))
            add_packet("corpus:" + name, "tcp6", data[2:], tcp(data, True))
            continue
        add_packet("corpus:" + name, "udp4", data, udp(data, False))
        add_packet("corpus:" + name, "udp6", data, udp(data, True))
        if not name.endswith(".tcp.msg.bin"):
            corpus.append((name, data))

    for i in range(a.seeded):
        r = rng.random()
        if r < 0.45:
            name, base = rng.choice(corpus)
            msg, origin = mutate(rng, base), "mutated:%s#%d" % (name, i)
        elif r < 0.6:
            msg, origin = mutate(rng, random_message(rng)), "mutated-random#%d" % i
        elif r < 0.92:
            msg, origin = random_message(rng), "random#%d" % i
        else:
            msg, origin = edge_message(rng), "edge#%d" % i
        t = rng.random()
        if t < 0.7:
            add_packet(origin, "udp4", msg, udp(msg, False))
        elif t < 0.9:
            add_packet(origin, "udp6", msg, udp(msg, True))
        else:
            add_packet(origin, "tcp4", msg, tcp(struct.pack("!H", len(msg) & 0xFFFF) + msg, False))

    # large messages only the buffer program can take
    for size in [3800, 8000, 16000, 16384, 16385, 20000]:
        add_buffer("big:%d" % size, big_message(rng, size))

    os.makedirs(a.out, exist_ok=True)
    for fname, items in (("packets.bin", packets), ("buffers.bin", buffers)):
        with open(os.path.join(a.out, fname), "wb") as f:
            f.write(b"KMC1" + struct.pack("<I", len(items)))
            for p in items:
                f.write(struct.pack("<I", len(p)) + p)
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(index, f)
    print("kmatrix: %d packet cases, %d buffer cases (seed %d)" % (len(packets), len(buffers), a.seed))


if __name__ == "__main__":
    main()
