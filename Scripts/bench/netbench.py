#!/usr/bin/python3
"""End-to-end DNS benchmark of FQDNPolicy against no policy and userspace proxies (Documentation/Benchmarks.md).

Builds its own topology of network namespaces (always removed, also on errors and signals):

    client (pod with the policy) 10.210.0.2 --veth--+
    plain  (pod without policy)  10.211.0.2 --veth--+-- node (routes; dnsmasq on 10.200.0.53,
    dns    10.220.0.2 (knotd)                --veth--+         dnsdist on 10.200.0.54)
    web    10.220.1.2 (+ all of 10.240.0.0/16) -veth-+

and measures with dnsperf, each case the same query file, the same knot:
  direct      (a) no policy: the plain pod asks knot directly (the floor);
  policy      (b) FQDNPolicy's agent enforcing a policy on the client pod's node-side veth
                  (`fqdnctl agent`); UDP, and TCP when the datapath learns from TCP answers;
  policy-noagent  (b) the same datapath after the agent exited (kernel only, nobody reads events);
  dnsmasq     (c) dnsmasq on the node, cache off, forwarding to knot (asked by the plain pod);
  dnsdist     (c) dnsdist on the node, no packet cache, forwarding to knot (plain pod).
Fixed rate (dnsperf -Q, per-query latencies from -v) and max rate (no -v, qps), several runs,
the cases interleaved run by run (so a disturbance hits all of them alike), medians. Block 1:
direct, policy, dnsmasq, dnsdist (the agent running); block 2, after the agent exited:
direct again and policy-noagent. Also the first-connect-after-answer race (resolve + immediate
TCP connect to the answered address, N cycles, every name new), the attached programs' own
cost (kernel run-time stats), and the agent's RSS and policy reload time for large policies.
Writes JSON, Markdown tables and a CDF plot into --out.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "fqb-"

CLIENT_IP, NODE_CLIENT_IP = "10.210.0.2", "10.210.0.1"
PLAIN_IP, NODE_PLAIN_IP = "10.211.0.2", "10.211.0.1"
DNSMASQ_IP, DNSDIST_IP = "10.200.0.53", "10.200.0.54"
DNS_IP, NODE_DNS_IP = "10.220.0.2", "10.220.0.1"
WEB_IP, NODE_WEB_IP = "10.220.1.2", "10.220.1.1"
RACE_NET = "10.240.0.0/16"


def log(msg):
    print(f"[netbench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args, check=True, capture=True, timeout=None, input=None):
    r = subprocess.run(args, capture_output=capture, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` exited {r.returncode}: {(r.stderr or '').strip()}")
    return r


class Interrupted(Exception):
    pass


def _on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


# ----------------------------------------------------------------------------------------------
# Topology


class Topology:
    """The namespaces, veths, knot, the web listener. `close()` removes everything."""

    def __init__(self, workdir, race_names, logdir=None):
        self.workdir = workdir
        self.logdir = logdir
        self.pid = os.getpid()
        self.ns = {}
        self.procs = []  # (name, Popen)
        self.race_names = race_names
        self.cgroup = None

    def make_cgroup(self):
        """A cgroup v2 directory of our own; every client process runs in it (DNS over TCP's
        sockops program is attached there, so no other process on the machine is looked at)."""
        root = None
        for line in open("/proc/mounts"):
            f = line.split()
            if len(f) > 2 and f[2] == "cgroup2":
                root = f[1]
                break
        if root is None:
            return
        path = os.path.join(root, f"fqdnbench-{self.pid}")
        os.makedirs(path, exist_ok=True)
        self.cgroup = path

    def build(self):
        race_names = self.race_names
        self.remove_leftovers()
        self.make_cgroup()
        for role in ["node", "client", "plain", "dns", "web"]:
            name = f"{PREFIX}{self.pid}-{role}"
            run(["ip", "netns", "add", name])
            self.ns[role] = name
            self.exec(role, ["ip", "link", "set", "lo", "up"])
        self.exec("node", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        self.ifaces = {}
        for role, peer_ip, node_ip in [("client", CLIENT_IP, NODE_CLIENT_IP), ("plain", PLAIN_IP, NODE_PLAIN_IP),
                                       ("dns", DNS_IP, NODE_DNS_IP), ("web", WEB_IP, NODE_WEB_IP)]:
            node_side = f"fqb{self.pid % 100000}{role[0]}"
            run(["ip", "link", "add", node_side, "netns", self.ns["node"], "type", "veth", "peer", "name", "eth0",
                 "netns", self.ns[role]])
            self.exec("node", ["ip", "addr", "add", f"{node_ip}/24", "dev", node_side])
            self.exec("node", ["ip", "link", "set", node_side, "up"])
            self.exec(role, ["ip", "addr", "add", f"{peer_ip}/24", "dev", "eth0"])
            self.exec(role, ["ip", "link", "set", "eth0", "up"])
            self.exec(role, ["ip", "route", "add", "default", "via", node_ip])
            self.ifaces[role] = node_side
        # Every address of 10.240.0.0/16 is local in the web namespace (one listener answers all).
        self.exec("web", ["ip", "route", "add", "local", RACE_NET, "dev", "lo"])
        self.exec("node", ["ip", "route", "add", RACE_NET, "via", WEB_IP])
        for a in [DNSMASQ_IP, DNSDIST_IP]:  # the proxies' addresses, on the node
            self.exec("node", ["ip", "addr", "add", f"{a}/32", "dev", "lo"])
        self.write_zone(race_names)
        self.start_knot()
        self.start_web()

    # -- helpers
    def exec(self, role, args, **kw):
        cmd = ["ip", "netns", "exec", self.ns[role]] + args
        if role == "client" and self.cgroup:
            cmd = ["sh", "-c", f'echo $$ > {self.cgroup}/cgroup.procs && exec "$@"', "sh"] + cmd
        return run(cmd, **kw)

    def spawn(self, label, role, args, stdout=subprocess.DEVNULL, stderr=None):
        """Starts a long-running process in a namespace (`ip netns exec` execs it: the pid is the server's)."""
        if stderr is None:
            stderr = open(os.path.join(self.workdir, f"{label}.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[role]] + args, stdout=stdout, stderr=stderr,
                             stdin=subprocess.DEVNULL)
        self.procs.append((label, p))
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=5):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = [(l, q) for (l, q) in self.procs if q is not p]

    def wait_dns(self, server, name="ns.bench.test", port=53, tcp=False, deadline=10, role="plain"):
        end = time.time() + deadline
        args = ["kdig", f"@{server}", "-p", str(port), "+time=1", "+retry=0", "+short", name]
        if tcp:
            args.insert(1, "+tcp")
        while time.time() < end:
            r = self.exec(role, args, check=False)
            if r.returncode == 0 and r.stdout.strip():
                return
            time.sleep(0.1)
        raise RuntimeError(f"no DNS answer from {server}:{port} within {deadline} s")

    # -- servers
    def write_zone(self, race_names):
        lines = ["$ORIGIN bench.test.", "$TTL 300", "@ SOA ns admin 1 3600 600 86400 60", "@ NS ns", f"ns A {DNS_IP}"]
        for i in range(QUERY_NAMES // 2):
            lines.append(f"s{i} A 10.230.{i // 250}.{i % 250 + 1}")
            lines.append(f"w{i} CNAME e{i}.edge")
            for k in range(4):
                j = i * 4 + k
                lines.append(f"e{i}.edge A 10.231.{j // 250}.{j % 250 + 1}")
        for i in range(race_names):
            lines.append(f"c{i}.race A {race_address(i)}")
        with open(os.path.join(self.workdir, "bench.test.zone"), "w") as f:
            f.write("\n".join(lines) + "\n")
        # A zone outside the policy's DNS rules (queries for it are refused in the kernel).
        with open(os.path.join(self.workdir, "other.test.zone"), "w") as f:
            f.write(f"$ORIGIN other.test.\n$TTL 300\n@ SOA ns admin 1 3600 600 86400 60\n@ NS ns\nns A {DNS_IP}\nwww A 10.250.0.1\n")
        with open(os.path.join(self.workdir, "queries.txt"), "w") as f:
            for i in range(QUERY_NAMES // 2):
                f.write(f"s{i}.bench.test A\nw{i}.bench.test A\n")

    def start_knot(self):
        d = self.workdir
        conf = f"""server:
    rundir: "{d}"
    listen: [ "{DNS_IP}@53" ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{d}"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{d}"
    semantic-checks: off
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: bench.test
    file: "{d}/bench.test.zone"
  - domain: other.test
    file: "{d}/other.test.zone"
"""
        with open(os.path.join(d, "knot.conf"), "w") as f:
            f.write(conf)
        self.knot = self.spawn("knotd", "dns", ["knotd", "-c", os.path.join(d, "knot.conf")])
        self.wait_dns(DNS_IP)

    def start_web(self):
        code = ("import socket\n"
                "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                "s.bind(('0.0.0.0', 80)); s.listen(4096)\n"
                "while True:\n"
                "    c,_=s.accept(); c.close()\n")
        self.web = self.spawn("web", "web", ["/usr/bin/python3", "-c", code])

    # -- cleanup
    def close(self):
        for label, p in reversed(self.procs):
            try:
                self.stop(p, wait=3)
            except Exception as e:  # keep cleaning
                log(f"warning: stopping {label}: {e}")
        for role in ["client", "plain", "dns", "web", "node"]:
            if role in self.ns:
                run(["ip", "netns", "del", self.ns[role]], check=False)
        self.ns = {}
        if self.logdir:  # the servers' and the agent's logs outlive the run
            os.makedirs(self.logdir, exist_ok=True)
            for f in os.listdir(self.workdir):
                if f.endswith((".log", ".err", ".yaml", ".conf")):
                    run(["cp", os.path.join(self.workdir, f), self.logdir], check=False)
        run(["rm", "-rf", self.workdir], check=False)
        if self.cgroup:
            for _ in range(50):  # empty once the last client process is reaped
                try:
                    os.rmdir(self.cgroup)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            self.cgroup = None

    @staticmethod
    def remove_leftovers():
        """Namespaces of an earlier run whose process is gone."""
        out = run(["ip", "netns", "list"], check=False).stdout
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            m = re.match(rf"{PREFIX}(\d+)-", name)
            if not m:
                continue
            try:
                os.kill(int(m.group(1)), 0)
            except ProcessLookupError:
                run(["ip", "netns", "del", name], check=False)
        # Pins and cgroups of runs whose process is gone.
        for base in ["/sys/fs/bpf"] + [l.split()[1] for l in open("/proc/mounts") if l.split()[2:3] == ["cgroup2"]]:
            try:
                entries = os.listdir(base)
            except OSError:
                continue
            for e in entries:
                m = re.match(r"fqdnbench-(\d+)$", e)
                if not m:
                    continue
                try:
                    os.kill(int(m.group(1)), 0)
                except ProcessLookupError:
                    path = os.path.join(base, e)
                    if base == "/sys/fs/bpf":
                        run(["rm", "-rf", path], check=False)
                    else:
                        try:
                            os.rmdir(path)
                        except OSError:
                            pass


QUERY_NAMES = 1000  # s0..s499 (1 A) and w0..w499 (CNAME + 4 A), interleaved


def race_address(i):
    i += 1
    return f"10.240.{i >> 8}.{i & 255}"


# ----------------------------------------------------------------------------------------------
# dnsperf


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


LINE = re.compile(r"^> (\S+) \S+ \S+ (\d+\.\d+)$")


def dnsperf(topo, role, server, transport, seconds, rate=None, verbose=False, clients=1, threads=1, outstanding=100):
    args = ["dnsperf", "-s", server, "-d", os.path.join(topo.workdir, "queries.txt"), "-l", str(seconds),
            "-m", transport, "-c", str(clients), "-T", str(threads), "-q", str(outstanding), "-t", "2"]
    if rate:
        args += ["-Q", str(rate)]
    if verbose:
        args += ["-v"]
    r = topo.exec(role, args, timeout=seconds + 30)
    out = r.stdout
    stats = {}
    for key, pat in [("sent", r"Queries sent:\s+(\d+)"), ("completed", r"Queries completed:\s+(\d+)"),
                     ("lost", r"Queries lost:\s+(\d+)"), ("qps", r"Queries per second:\s+([\d.]+)"),
                     ("avg_s", r"Average Latency \(s\):\s+([\d.]+)")]:
        m = re.search(pat, out)
        stats[key] = float(m.group(1)) if m else float("nan")
    m = re.search(r"Response codes:\s+(.*)", out)
    stats["rcodes"] = m.group(1).strip() if m else ""
    lat = []
    if verbose:
        for line in out.splitlines():
            m = LINE.match(line)
            if m:
                lat.append(float(m.group(2)) * 1e6)
        lat.sort()
        stats.update(p50=percentile(lat, 50), p99=percentile(lat, 99), p999=percentile(lat, 99.9),
                     mean=statistics.fmean(lat) if lat else float("nan"), samples=len(lat))
    return stats, lat


# ----------------------------------------------------------------------------------------------
# Cases


class PMQoS:
    """Holds a PM QoS request of 0 µs (no deep C-states) while open (idle wake-ups of these vCPUs otherwise dominate tail latency)."""

    def __enter__(self):
        try:
            self.fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
            os.write(self.fd, struct.pack("i", 0))
        except OSError as e:
            log(f"warning: no PM QoS request ({e}); tail latencies will be noisier")
            self.fd = None
        return self

    def __exit__(self, *a):
        if self.fd is not None:
            os.close(self.fd)


def proc_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return float("nan")


def settle(pid, quiet=0.005, window=0.25, limit=60.0):
    """Waits until `pid` uses less than `quiet` s of CPU per `window` s; returns the seconds waited."""
    t0 = time.time()
    last = proc_cpu_seconds(pid)
    while time.time() - t0 < limit:
        time.sleep(window)
        now = proc_cpu_seconds(pid)
        if not (now - last >= quiet):  # also stops when the process is gone (nan)
            break
        last = now
    return time.time() - t0 - window


def proc_memory(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0])  # kB
    except OSError:
        pass
    return out


class Bench:
    def __init__(self, opts):
        self.o = opts
        self.results = {"cases": {}, "meta": {}, "latencies": {}}
        self.topo = None
        self.agent = None
        self.pin = f"/sys/fs/bpf/fqdnbench-{os.getpid()}"

    # -- a block of cases, interleaved: N rounds of one fixed-rate run (per-query latencies) of
    #    every case, then N rounds of one max-rate run of every case.
    #    cases: [(key, role, server, transport, pid to watch or None)]
    def measure_block(self, cases):
        o = self.o
        fixed = {c[0]: [] for c in cases}
        maxr = {c[0]: [] for c in cases}
        pooled = {c[0]: [] for c in cases}
        cpu = {c[0]: [0.0, 0.0] for c in cases}
        settle_s = {c[0]: [[], []] for c in cases}
        for phase in ["fixed", "max"]:
            for i in range(o.runs):
                for key, role, server, transport, pid in cases:
                    c0 = proc_cpu_seconds(pid) if pid else None
                    if phase == "fixed":
                        st, lat = dnsperf(self.topo, role, server, transport, o.fixed_seconds, rate=o.rate, verbose=True)
                        fixed[key].append(st)
                        pooled[key].extend(lat)
                        log(f"  {key:22} fixed {i + 1}/{o.runs}: {st['completed']:.0f} answers, lost {st['lost']:.0f}, "
                            f"p50 {st['p50']:.0f} µs, p99 {st['p99']:.0f} µs, p99.9 {st['p999']:.0f} µs")
                    else:
                        st, _ = dnsperf(self.topo, role, server, transport, o.max_seconds, clients=o.max_clients,
                                        threads=o.max_threads, outstanding=o.max_outstanding)
                        maxr[key].append(st)
                        log(f"  {key:22} max {i + 1}/{o.runs}: {st['qps']:.0f} qps, lost {st['lost']:.0f}, "
                            f"avg {st['avg_s'] * 1e6:.0f} µs")
                    if pid:
                        # Let the watched process finish what this run gave it (the agent drains
                        # its event backlog) before the next case; its CPU time counts for this case.
                        waited = settle(pid)
                        settle_s[key][0 if phase == "fixed" else 1].append(waited)
                        cpu[key][0 if phase == "fixed" else 1] += proc_cpu_seconds(pid) - c0
        med = lambda rs, k: statistics.median([r[k] for r in rs])
        for key, role, server, transport, pid in cases:
            runs, max_runs = fixed[key], maxr[key]
            summary = {
                "server": server, "transport": transport, "client": role, "runs": runs, "max_runs": max_runs,
                "p50": med(runs, "p50"), "p99": med(runs, "p99"), "p999": med(runs, "p999"), "mean": med(runs, "mean"),
                "p99_range": [min(r["p99"] for r in runs), max(r["p99"] for r in runs)],
                "fixed_lost": sum(r["lost"] for r in runs), "fixed_sent": sum(r["sent"] for r in runs),
                "max_qps": med(max_runs, "qps"),
                "max_qps_range": [min(r["qps"] for r in max_runs), max(r["qps"] for r in max_runs)],
                "max_avg_us": med(max_runs, "avg_s") * 1e6, "max_lost": sum(r["lost"] for r in max_runs),
                "max_sent": sum(r["sent"] for r in max_runs),
            }
            if pid:
                fq = sum(r["completed"] for r in runs)
                mq = sum(r["completed"] for r in max_runs)
                summary["watched_cpu_s_fixed"], summary["watched_cpu_s_max"] = cpu[key]
                summary["watched_cpu_us_per_query_fixed"] = cpu[key][0] / fq * 1e6 if fq else None
                summary["watched_cpu_us_per_query_max"] = cpu[key][1] / mq * 1e6 if mq else None
                summary["settle_s_fixed_max"] = max(settle_s[key][0]) if settle_s[key][0] else None
                summary["settle_s_max_max"] = max(settle_s[key][1]) if settle_s[key][1] else None
            self.results["cases"][key] = summary
            pooled[key].sort()
            self.results["latencies"][key] = pooled[key]
        self.save()

    def save(self):
        with open(os.path.join(self.o.out, "net.json"), "w") as f:
            json.dump({k: v for k, v in self.results.items() if k != "latencies"}, f, indent=1)

    # -- agent
    def policy_yaml(self, extra_patterns=0):
        lines = ["apiVersion: cilium.io/v2", "kind: CiliumNetworkPolicy", "metadata:", "  name: bench", "spec:",
                 "  endpointSelector:", "    matchLabels:", "      app: bench", "  egress:", "    - toFQDNs:",
                 '        - matchPattern: "**.bench.test"']
        for i in range(extra_patterns):
            lines.append(f'        - matchPattern: "{generated_pattern(i)}"')
        lines += ["      toPorts:", "        - ports:", '            - port: "80"', "              protocol: TCP",
                  "    - toPorts:", "        - ports:", '            - port: "53"', "              protocol: ANY",
                  "          rules:", "            dns:", '              - matchPattern: "**.bench.test"']
        return "\n".join(lines) + "\n"

    def start_agent(self):
        path = os.path.join(self.topo.workdir, "policy.yaml")
        with open(path, "w") as f:
            f.write(self.policy_yaml())
        self.policy_path = path
        self.agent_err = os.path.join(self.topo.workdir, "agent.err")
        errf = open(self.agent_err, "w")
        t0 = time.time()
        # Events (JSON lines) go to /dev/null: the agent still reads and formats every one.
        self.agent = subprocess.Popen(
            [self.o.fqdnctl, "agent", "--policy", path,
             "--endpoint", f"bench:iface={self.topo.ifaces['client']},netns={self.topo.ns['node']},labels=app=bench",
             "--dns-server", DNS_IP, "--pin", self.pin],
            stdout=subprocess.DEVNULL, stderr=errf, stdin=subprocess.DEVNULL)
        while time.time() - t0 < 120:
            text = open(self.agent_err).read()
            if "agent: datapath" in text:
                self.results["meta"]["agent_start_s"] = time.time() - t0
                return
            if self.agent.poll() is not None:
                raise RuntimeError(f"fqdnctl agent exited {self.agent.returncode}: {text.strip()}")
            time.sleep(0.05)
        raise RuntimeError("fqdnctl agent did not start within 120 s")

    def stop_agent(self):
        if self.agent and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(30)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
        self.agent = None

    def fqdnctl(self, *args):
        return run([self.o.fqdnctl] + list(args) + ["--pin", self.pin], check=False)

    def learned(self):
        r = self.fqdnctl("cache")
        return r.stdout

    def reload(self, patterns):
        """SIGHUP with a policy of `patterns` extra patterns; seconds until the agent says it applied it."""
        with open(self.policy_path, "w") as f:
            f.write(self.policy_yaml(patterns))
        size = os.path.getsize(self.policy_path)
        before = open(self.agent_err).read().count("agent: re-applied")
        errors = open(self.agent_err).read().count("error:")
        t0 = time.time()
        self.agent.send_signal(signal.SIGHUP)
        while time.time() - t0 < 600:
            text = open(self.agent_err).read()
            if text.count("agent: re-applied") > before:
                return time.time() - t0, size, None
            if text.count("error:") > errors:
                return time.time() - t0, size, text.strip().splitlines()[-1]
            if self.agent.poll() is not None:
                return time.time() - t0, size, "agent exited"
            time.sleep(0.002)
        return float("nan"), size, "timeout"

    # -- race: resolve + immediate connect, every name new
    def race(self, label, role, cycles, start, resolve=True, timeout=3.0):
        args = ["/usr/bin/python3", os.path.join(HERE, "race.py"), "--server", DNS_IP, "--cycles", str(cycles),
                "--start", str(start), "--timeout", str(timeout)]
        if not resolve:
            args.append("--no-resolve")
        r = self.topo.exec(role, args, timeout=cycles * (timeout + 2) + 60)
        res = json.loads(r.stdout)
        log(f"  race {label}: {res}")
        return res

    def metrics(self):
        out = self.fqdnctl("metrics").stdout
        vals = {}
        for line in out.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            parts = line.rsplit(" ", 1)
            if len(parts) == 2:
                try:
                    vals[parts[0]] = float(parts[1])
                except ValueError:
                    pass
        return vals

    # -- the whole run
    def main(self):
        o = self.o
        cases = set(o.cases.split(","))
        transports = o.transports.split(",")
        self.topo = Topology(tempfile.mkdtemp(prefix="fqdn-bench-"), o.cycles + 64, os.path.join(o.out, "logs"))
        self.topo.build()
        t = self.topo
        meta = self.results["meta"]
        meta.update(rate=o.rate, runs=o.runs, fixed_seconds=o.fixed_seconds, max_seconds=o.max_seconds,
                    max_clients=o.max_clients, max_threads=o.max_threads, max_outstanding=o.max_outstanding,
                    kernel=os.uname().release, cpus=os.cpu_count(), started=time.strftime("%Y-%m-%d %H:%M:%S"),
                    loadavg_start=os.getloadavg(), interleaved=True)
        for tool, args in [("dnsperf", ["dnsperf", "-h"]), ("knotd", ["knotd", "-V"]), ("dnsmasq", ["dnsmasq", "-v"]),
                           ("dnsdist", ["dnsdist", "--version"])]:
            r = run(args, check=False)
            text = (r.stdout + r.stderr)
            m = re.search(r"(\d+\.\d+(\.\d+)?)", text[text.lower().find("version"):] if "version" in text.lower() else text)
            meta[f"{tool}_version"] = m.group(1) if m else "?"

        # (c) the userspace proxies on the node, both up for the whole block (idle when not asked).
        dnsmasq = dnsdist = None
        if "dnsmasq" in cases:
            dnsmasq = t.spawn("dnsmasq", "node", ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=53",
                                                  f"--listen-address={DNSMASQ_IP}", "--bind-interfaces", "--cache-size=0",
                                                  "--no-resolv", "--no-hosts", f"--server={DNS_IP}", "--pid-file=",
                                                  "--user=root", "--group=root", "--dns-forward-max=1000"])
            t.wait_dns(DNSMASQ_IP)
        if "dnsdist" in cases:
            conf = os.path.join(t.workdir, "dnsdist.conf")
            with open(conf, "w") as f:
                f.write(f'setLocal("{DNSDIST_IP}:53")\nnewServer({{address="{DNS_IP}:53"}})\nsetSecurityPollSuffix("")\n')
            dnsdist = t.spawn("dnsdist", "node", ["dnsdist", "--supervised", "--disable-syslog", "-C", conf])
            t.wait_dns(DNSDIST_IP)

        # (b) the agent, enforcing on the client pod only.
        tcp_learned = False
        if "policy" in cases or "noagent" in cases:
            tcp_learned = self.start_policy()
        m0 = self.metrics() if self.agent else {}

        # Block 1, interleaved: (a), (b) agent running, (c).
        block = []
        for tr in transports:
            block.append((f"direct-{tr}", "plain", DNS_IP, tr, t.knot.pid))
            if "policy" in cases:
                if tr == "udp" or tcp_learned:
                    block.append((f"policy-{tr}", "client", DNS_IP, tr, self.agent.pid))
                else:
                    log(f"policy tcp: not available: {meta['tcp_reason']}")
            if dnsmasq:
                block.append((f"dnsmasq-{tr}", "plain", DNSMASQ_IP, tr, dnsmasq.pid))
            if dnsdist:
                block.append((f"dnsdist-{tr}", "plain", DNSDIST_IP, tr, dnsdist.pid))
        log("block 1: " + ", ".join(b[0] for b in block))
        self.measure_block(block)
        for p in [dnsmasq, dnsdist]:
            if p:
                t.stop(p)
        if self.agent:
            meta["agent_memory_kB_after_load"] = proc_memory(self.agent.pid)

        if "race" in cases:
            self.results["race_direct"] = self.race("direct (no policy)", "plain", o.cycles, 0)
            if self.agent:
                # Negative control: connecting without resolving must be dropped (the detector works).
                self.results["race_unresolved"] = self.race("policy, no resolve (must drop)", "client", 20, o.cycles,
                                                            resolve=False, timeout=0.3)
                m1 = self.metrics()
                self.results["race_policy"] = self.race("policy", "client", o.cycles, 0)
                m2 = self.metrics()
                denied = [k for k in m2 if "denied" in k and "egress" in k]
                self.results["race_policy"]["denied_counter_delta"] = {k: m2.get(k, 0) - m1.get(k, 0) for k in denied}
        if self.agent:
            self.results["metrics_delta"] = {k: v - m0.get(k, 0) for k, v in self.metrics().items() if v - m0.get(k, 0)}

        if "agent" in cases and self.agent:
            self.reloads()

        # Block 2: the agent exits (the datapath stays pinned and enforcing); the kernel alone,
        # interleaved with (a) again.
        if self.agent:
            self.stop_agent()
            if "noagent" in cases:
                r = t.exec("client", ["kdig", f"@{DNS_IP}", "+time=1", "+retry=0", "www.other.test"], check=False)
                if "status: REFUSED" not in r.stdout:
                    raise RuntimeError("after the agent exited, the pinned datapath no longer enforces")
                block = []
                for tr in transports:
                    block.append((f"direct2-{tr}", "plain", DNS_IP, tr, t.knot.pid))
                    if tr == "udp" or tcp_learned:
                        block.append((f"policy-noagent-{tr}", "client", DNS_IP, tr, None))
                log("block 2: " + ", ".join(b[0] for b in block))
                self.measure_block(block)
            if "prog-stats" in cases:
                self.prog_stats([tr for tr in transports if tr == "udp" or tcp_learned])
        meta["loadavg_end"] = os.getloadavg()
        meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.save()

    def start_policy(self):
        """Starts the agent on the client pod, checks that it enforces, enables DNS over TCP.
        Returns whether an answer over TCP is learned."""
        o, t = self.o, self.topo
        meta = self.results["meta"]
        log("starting fqdnctl agent")
        self.start_agent()
        meta["agent_memory_kB_started"] = proc_memory(self.agent.pid)
        # Sanity: the policy is enforced (a name outside the DNS rules is refused in the kernel,
        # an allowed name is learned).
        r = t.exec("client", ["kdig", f"@{DNS_IP}", "+time=1", "+retry=0", "www.other.test"], check=False)
        refused = "status: REFUSED" in r.stdout
        t.exec("client", ["kdig", f"@{DNS_IP}", "+time=1", "+retry=0", "+short", "w1.bench.test"], check=False)
        learned_udp = "w1.bench.test" in self.learned()
        r = t.exec("plain", ["kdig", f"@{DNS_IP}", "+time=1", "+retry=0", "www.other.test"], check=False)
        plain_free = "status: NOERROR" in r.stdout
        meta["sanity"] = {"outside_name_refused": refused, "udp_answer_learned": learned_udp,
                          "plain_pod_unaffected": plain_free}
        if not (refused and learned_udp and plain_free):
            raise RuntimeError(f"the policy is not enforced as expected: {meta['sanity']}")
        # TCP (Documentation/TCP.md): the DNS-over-TCP programs are loaded into the agent's
        # pinned datapath with the library's API (DatapathBench enable-tcp = TCPDatapath.load +
        # addPodNamespace + attachSockops + markTCPDNSChecked, as PolicyAgent.enableTCP does),
        # sockops on the client pod's own cgroup. Then an answer
        # over TCP must be learned, or (b) TCP is reported as not available.
        tcp_note = None
        help_text = run([o.fqdnctl, "agent", "--help"], check=False).stdout
        if "tcp" in help_text.lower().replace("tcp flow", ""):
            meta["agent_tcp_option_seen"] = True
        if o.datapath_bench and t.cgroup:
            r = run([o.datapath_bench, "enable-tcp", "--pin", self.pin, "--pod-netns", t.ns["client"],
                     "--node-netns", t.ns["node"], "--interface", t.ifaces["client"], "--cgroup", t.cgroup], check=False)
            if r.returncode != 0:
                tcp_note = f"loading the DNS-over-TCP programs failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
            else:
                meta["tcp_enabled_by"] = "DatapathBench enable-tcp (TCPDatapath.load, addPodNamespace, attachSockops on the client cgroup)"
        else:
            tcp_note = "no DatapathBench binary or no cgroup v2 to attach the sockops program to"
        t.exec("client", ["kdig", "+tcp", f"@{DNS_IP}", "+time=1", "+retry=0", "+short", "s7.bench.test"], check=False)
        tcp_learned = "s7.bench.test" in self.learned()
        meta["tcp_available"] = tcp_learned
        meta["tcp_reason"] = None if tcp_learned else (tcp_note or
            "an answer over TCP taught the datapath nothing (`kdig +tcp s7.bench.test`, then `fqdnctl cache` has no entry)")
        return tcp_learned

    def reloads(self):
        reloads = []
        for n in [1000, 10000, 100000]:
            secs, size, err = self.reload(n)
            mem = proc_memory(self.agent.pid)
            reloads.append({"patterns": n, "seconds": secs, "yaml_bytes": size, "error": err, "memory_kB": mem})
            log(f"  reload {n} patterns: {secs:.3f} s, {mem}, error {err}")
            # One more pattern on top (an update of a large policy).
            secs2, _, err2 = self.reload(n + 1)
            reloads[-1]["plus_one_seconds"] = secs2
            reloads[-1]["plus_one_error"] = err2
            log(f"  reload {n}+1 patterns: {secs2:.3f} s, error {err2}")
        secs, _, err = self.reload(0)
        reloads.append({"patterns": 0, "seconds": secs, "error": err, "memory_kB": proc_memory(self.agent.pid)})
        self.results["reloads"] = reloads
        self.save()

    def prog_stats(self, transports):
        """The attached programs' own cost during one extra fixed-rate run per transport
        (kernel run-time stats on only for these runs: they add two clock reads per run)."""
        o = self.o
        ids = datapath_programs(self.pin)
        out = {}
        with BPFRunTimeStats():
            for tr, rate in [(t, r) for t in transports for r in (o.rate, None)]:
                before = program_stats(ids)
                if rate:
                    st, _ = dnsperf(self.topo, "client", DNS_IP, tr, o.fixed_seconds, rate=rate)
                else:
                    st, _ = dnsperf(self.topo, "client", DNS_IP, tr, o.max_seconds, clients=o.max_clients,
                                    threads=o.max_threads, outstanding=o.max_outstanding)
                after = program_stats(ids)
                rows = []
                for pid, name in sorted(ids.items(), key=lambda x: x[1]):
                    dt = after.get(pid, (0, 0))[0] - before.get(pid, (0, 0))[0]
                    dn = after.get(pid, (0, 0))[1] - before.get(pid, (0, 0))[1]
                    if dn:
                        rows.append({"program": name, "runs": dn, "ns_per_run": dt / dn,
                                     "runs_per_query": dn / st["completed"] if st["completed"] else None,
                                     "ns_per_query": dt / st["completed"] if st["completed"] else None})
                out[f"{tr}@{rate or 'max'}"] = {"queries": st["completed"], "qps": st["qps"], "programs": rows}
                log(f"  program stats {tr}: {rows}")
        self.results["prog_stats"] = out
        self.save()

    def close(self):
        try:
            self.stop_agent()
        finally:
            if self.topo:
                self.topo.close()
            # Pinned links and maps: removing the pins detaches and frees them (the veth is gone anyway).
            if os.path.isdir(self.pin):
                run(["rm", "-rf", self.pin], check=False)


class BPFRunTimeStats:
    """Kernel run-time statistics of BPF programs while open (BPF_ENABLE_STATS: the kernel
    counts run time and runs of every program as long as the returned fd is held; nothing
    global is left changed when it closes)."""

    def __enter__(self):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        attr = ctypes.create_string_buffer(8)  # union bpf_attr { .enable_stats.type = BPF_STATS_RUN_TIME (0) }
        self.fd = libc.syscall(321, 32, attr, 8)  # __NR_bpf (x86_64), BPF_ENABLE_STATS
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "BPF_ENABLE_STATS")
        return self

    def __exit__(self, *a):
        os.close(self.fd)


def datapath_programs(pin):
    """{id: name} of the programs that use this datapath's maps (by the pinned fq_counters map)."""
    m = json.loads(run(["bpftool", "-j", "map", "show", "pinned", f"{pin}/maps/fq_counters"]).stdout)
    progs = json.loads(run(["bpftool", "-j", "prog", "show"]).stdout)
    return {p["id"]: p.get("name", "?") for p in progs if m["id"] in p.get("map_ids", [])}


def program_stats(ids):
    progs = json.loads(run(["bpftool", "-j", "prog", "show"]).stdout)
    return {p["id"]: (p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in progs if p["id"] in ids}


def generated_pattern(i):
    """A policy's worth of realistic patterns (exact hosts, *., **., in-label globs)."""
    d = i // 5
    tld = ["com", "net", "org", "io", "dev", "cloud", "internal", "local"][d % 8]
    k = i % 5
    if k == 0:
        return f"api.d{d}.{tld}"
    if k == 1:
        return f"h{i}.s{i % 7}.d{d}.{tld}"
    if k == 2:
        return f"*.d{d}.{tld}"
    if k == 3:
        return f"**.svc.d{d}.{tld}"
    return f"img-*.d{d}.{tld}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fqdnctl", required=True)
    ap.add_argument("--datapath-bench", help="DatapathBench binary (loads the DNS-over-TCP programs for (b) TCP)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--fixed-seconds", type=int, default=10)
    ap.add_argument("--max-seconds", type=int, default=5)
    ap.add_argument("--max-clients", type=int, default=4)
    ap.add_argument("--max-threads", type=int, default=1)
    ap.add_argument("--max-outstanding", type=int, default=200)
    ap.add_argument("--cycles", type=int, default=10000)
    ap.add_argument("--cases", default="direct,policy,dnsmasq,dnsdist,noagent,race,agent,prog-stats",
                    help="parts to run (direct always runs)")
    ap.add_argument("--transports", default="udp,tcp")
    o = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("netbench: needs root (namespaces, BPF)")
    os.makedirs(o.out, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    b = Bench(o)
    t0 = time.time()
    try:
        with PMQoS():
            b.main()
    finally:
        b.close()
        b.results["meta"]["seconds"] = time.time() - t0
        b.save()
        with open(os.path.join(o.out, "latencies.json"), "w") as f:
            json.dump(b.results["latencies"], f)
        left = [n for n in run(["ip", "netns", "list"], check=False).stdout.split() if n.startswith(f"{PREFIX}{os.getpid()}-")]
        if left:
            log(f"warning: namespaces left: {left}")
    log(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
