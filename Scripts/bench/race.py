#!/usr/bin/python3
"""First connect after the answer: resolve c<i>.race.bench.test (UDP, to --server) and connect
over TCP to the answered address at once, for --cycles new names. Runs inside the client's
namespace (netbench.py starts it with `ip netns exec`). Prints one JSON object.

A connect counts as dropped when it does not complete within 200 ms (a dropped SYN is only
retransmitted after 1 s) or fails. With --no-resolve the address is connected without asking
DNS first (a negative control: under the policy every one of those must be dropped)."""

import argparse
import json
import os
import select
import socket
import struct
import time


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def skip_name(msg, p):
    while True:
        n = msg[p]
        if n >= 0xC0:
            return p + 2
        if n == 0:
            return p + 1
        p += 1 + n


def first_a(msg):
    """The first A record's address in the answer section (None for an error or no A)."""
    (_, flags, qd, an, _, _) = struct.unpack(">HHHHHH", msg[:12])
    if flags & 0xF:
        return None
    p = 12
    for _ in range(qd):
        p = skip_name(msg, p) + 4
    for _ in range(an):
        p = skip_name(msg, p)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[p:p + 10])
        p += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(msg[p:p + 4])
        p += rdlen
    return None


def race_address(i):
    i += 1
    return f"10.240.{i >> 8}.{i & 255}"


def connect(addr, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    t0 = time.perf_counter()
    try:
        s.connect((addr, 80))
    except BlockingIOError:
        pass
    except OSError as e:
        s.close()
        return e.errno, time.perf_counter() - t0
    _, w, _ = select.select([], [s], [], timeout)
    dt = time.perf_counter() - t0
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if w else 110  # ETIMEDOUT
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST: no TIME_WAIT pile-up
    s.close()
    return err, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--cycles", type=int, default=10000)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--no-resolve", action="store_true")
    o = ap.parse_args()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    resolve_fail = dropped = slow = failed = 0
    connect_times, resolve_times = [], []
    examples = []
    t_start = time.time()
    for i in range(o.start, o.start + o.cycles):
        name = f"c{i}.race.bench.test"
        if o.no_resolve:
            addr = race_address(i)
        else:
            qid = int.from_bytes(os.urandom(2), "big")
            t0 = time.perf_counter()
            u.sendto(query(name, qid), (o.server, 53))
            addr = None
            try:
                while True:
                    msg, _ = u.recvfrom(4096)
                    if msg[:2] == struct.pack(">H", qid):
                        addr = first_a(msg)
                        break
            except socket.timeout:
                pass
            resolve_times.append(time.perf_counter() - t0)
            if addr is None:
                resolve_fail += 1
                continue
        err, dt = connect(addr, o.timeout)
        connect_times.append(dt)
        if err != 0 or dt >= 0.2:
            dropped += 1
            if err != 0:
                failed += 1
            if len(examples) < 5:
                examples.append({"name": name, "address": addr, "errno": err, "ms": round(dt * 1000, 1)})
    connect_times.sort()
    resolve_times.sort()
    pct = lambda v, p: round(v[min(len(v) - 1, int(p / 100 * len(v)))] * 1e6, 1) if v else None
    print(json.dumps({
        "cycles": o.cycles, "resolved": o.cycles - resolve_fail if not o.no_resolve else 0,
        "resolve_failures": resolve_fail, "connects": len(connect_times), "dropped": dropped,
        "failed": failed, "connect_us_p50": pct(connect_times, 50), "connect_us_p99": pct(connect_times, 99),
        "connect_us_max": round(connect_times[-1] * 1e6, 1) if connect_times else None,
        "resolve_us_p50": pct(resolve_times, 50), "seconds": round(time.time() - t_start, 2),
        "examples": examples,
    }))


if __name__ == "__main__":
    main()
