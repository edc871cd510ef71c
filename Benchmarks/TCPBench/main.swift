// TCPBench: what the DNS-over-TCP programs add to TCP DNS (Documentation/TCP.md), measured in
// one run against the same Knot server from the same client namespace and cgroup, modes
// interleaved (none, tcp, none, tcp, ...), medians over the repetitions:
//
//   none       no FQDNPolicy program on the path;
//   tcp        the agent's veth endpoint programs (tc) enforce a policy on the pod, with the
//              DNS-over-TCP programs (sockops, sk_skb, sk_msg): every query framed, recorded
//              in flight and checked, every answer framed, parsed and learned from, every
//              segment compared with what the socket wrote and its numbers shifted.
//
// (A mode with the tc programs alone is gone: the datapath fails closed, so TCP to a trusted
// server carries no data when DNS over TCP is not enabled for the endpoint.)
//
// Figures per mode: latency of queries on a persistent connection at a fixed rate (dnsperf
// -m tcp -v: p50/p99), the most queries per second (dnsperf -m tcp, several connections,
// pipelined), and the time of one whole exchange on a new connection (connect, query,
// answer, close; a Python loop: sockops tracking and connection state included). With
// --prog-stats, also the kernel's run time per program run (BPF stats on for the tcp runs).
//
//   swift run --scratch-path .build-tcp TCPBench [--reps 5] [--seconds 5] [--rate 2000] [--prog-stats]
//
// Needs root, knotd and dnsperf. Everything it makes (namespaces, cgroup, pins) is removed.
import ArgumentParser
import BPFMapBindings
import FQDNPolicyTesting
import Foundation
import Glibc
import PolicyEngine

struct BenchError: Error, CustomStringConvertible { var description: String }

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "TCPBench", abstract: "DNS over TCP with and without the TCP programs, same run (root).")

    @Option(help: "Interleaved rounds per mode.")
    var reps = 5
    @Option(help: "Seconds per measurement.")
    var seconds = 5
    @Option(help: "Queries per second of the fixed-rate run.")
    var rate = 2000
    @Option(help: "Connections of the connect-latency run.")
    var connections = 300
    @Option(help: "Most dnsperf clients (TCP connections) of the max-rate run.")
    var maxClients = 4
    @Flag(help: "Also read the BPF programs' run time (kernel.bpf_stats_enabled).")
    var progStats = false
}

enum Mode: String, CaseIterable { case none, tcp }

struct Sample {
    var p50 = 0.0, p99 = 0.0, fixedLost = 0.0, qps = 0.0, pingP50 = 0.0, pingP99 = 0.0, connP50 = 0.0, connP99 = 0.0
}

func log(_ s: String) { FileHandle.standardError.write(Data("[TCPBench] \(s)\n".utf8)) }

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let k = max(0, min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[k]
}

func number(_ text: String, after label: String) -> Double? {
    guard let r = text.range(of: label) else { return nil }
    let rest = text[r.upperBound...].drop(while: { $0 == " " })
    return Double(rest.prefix(while: { $0.isNumber || $0 == "." }))
}

/// Per-query latencies (µs) from `dnsperf -v` lines: "> NOERROR name A 0.000123".
func latencies(_ out: String) -> [Double] {
    out.split(separator: "\n").compactMap { line -> Double? in
        guard line.hasPrefix("> ") else { return nil }
        return line.split(separator: " ").last.flatMap { Double($0) }.map { $0 * 1e6 }
    }.sorted()
}

let connectScript = #"""
import socket, struct, sys, time
server, n = sys.argv[1], int(sys.argv[2])
def q(i):
    name = "n%d.demo.test" % (i % 200 + 1)
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00"
    m = struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1)
    return struct.pack("!H", len(m)) + m
def answer(s):
    got = b""
    while len(got) < 2 or len(got) < 2 + struct.unpack("!H", got[:2])[0]:
        d = s.recv(4096)
        if not d:
            break
        got += d
def connect():
    s = socket.create_connection((server, 53), timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
# One query at a time on one connection (the per-message cost), then one exchange per new
# connection (tracking and connection state too).
s = connect()
for i in range(50):
    s.sendall(q(i)); answer(s)
ping = []
for i in range(4 * n):
    t0 = time.perf_counter()
    s.sendall(q(i)); answer(s)
    ping.append((time.perf_counter() - t0) * 1e6)
s.close()
conn = []
for i in range(n):
    t0 = time.perf_counter()
    s = connect()
    s.sendall(q(i)); answer(s)
    s.close()
    conn.append((time.perf_counter() - t0) * 1e6)
def pct(v, p):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(len(v) * p / 100.0 + 0.5) - 1))]
print("%.1f %.1f %.1f %.1f" % (pct(ping, 50), pct(ping, 99), pct(conn, 50), pct(conn, 99)))
"""#

@main
struct TCPBench {
    static func main() async throws {
        let o = Options.parseOrExit()
        guard geteuid() == 0 else { log("needs root"); exit(1) }
        guard KnotServer.isInstalled, (try? runCommand(["which", "dnsperf"]))?.status == 0 else {
            log("needs knotd and dnsperf (apt-get install knot knot-dnsutils dnsperf)"); exit(1)
        }
        // A PM QoS request for the whole run (Documentation/Benchmarks.md: vCPU wake-ups).
        let qos = open("/dev/cpu_dma_latency", O_WRONLY)
        if qos >= 0 { var zero: Int32 = 0; _ = write(qos, &zero, 4) } else { log("no PM QoS request: tails will be noisier") }
        defer { if qos >= 0 { close(qos) } }

        try await withNetworkFixture { fixture in
            try await withBPFFSDirectory { pin in
                try await withCgroupFixture { cgroup in
                    try await run(o, fixture: fixture, pin: pin, cgroup: cgroup)
                }
            }
        }
    }

    static func run(_ o: Options, fixture: NetworkFixture, pin: String, cgroup: CgroupFixture) async throws {
        let topology = try NodeTopology(fixture: fixture)
        let pod = try topology.addPod()
        let dns = try topology.addHost()
        let names = (1...200).map { "n\($0) A 10.220.1.\($0)" }
        let knot = try KnotServer(namespace: dns.namespace, listen: [dns.ipv4], zones: [.init(origin: "demo.test", records: names)])
        defer { knot.stop() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("tcpbench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let queries = work + "/queries.txt"
        try (1...200).map { "n\($0).demo.test A" }.joined(separator: "\n").appending("\n").write(toFile: queries, atomically: true, encoding: .utf8)

        let agent = try PolicyAgent(configuration: .init(pinDirectory: pin, dnsServers: [DNSServer(dns.ipv4)!]))
        let tcp = try TCPDatapath.load(pinDirectory: pin)
        try await agent.apply([.forApp("client", name: "bench", egress: [EgressRule(toFQDNs: .patterns("*.demo.test"))],
                                       dns: .patterns("*.demo.test"))])
        let endpoint = Endpoint(name: "pod0", attachment: .veth(interface: pod.nodeInterface, namespace: topology.node.name),
                                labels: ["app": "client"])
        defer { Task { try? await agent.shutdown(removeDatapath: true) } }

        func set(_ mode: Mode) async throws {
            let present = await agent.endpointID(named: "pod0") != nil
            switch mode {
            case .none:
                if present { try await agent.removeEndpoint(named: "pod0") }
                try tcp.detachSockops(cgroup: cgroup.path)
            case .tcp:
                if !present { try await agent.addEndpoint(endpoint) }
                try await agent.enableTCP(tcp, endpoint: "pod0", podNamespace: pod.namespace.name, sockopsCgroup: cgroup.path)
            }
        }
        func inPod(_ args: [String]) throws -> CommandResult {
            try cgroup.run(["ip", "netns", "exec", pod.namespace.name] + args, check: false)
        }
        func dnsperf(_ extra: [String]) throws -> String {
            let r = try inPod(["dnsperf", "-m", "tcp", "-s", dns.ipv4, "-d", queries, "-l", String(o.seconds), "-t", "2"] + extra)
            guard r.status == 0 else { throw BenchError(description: "dnsperf: \(r)") }
            return r.stdout
        }

        log("modes \(Mode.allCases.map(\.rawValue)), \(o.reps) repetitions, \(o.seconds) s per dnsperf run, fixed rate \(o.rate) qps")
        var samples: [Mode: [Sample]] = [:]
        var counted: [Mode: (UInt64, UInt64)] = [:]
        for rep in 1...o.reps {
            for mode in Mode.allCases {
                try await set(mode)
                let before = try tcp.counterValues()
                var s = Sample()
                let fixed = try dnsperf(["-c", "1", "-Q", String(o.rate), "-v"])
                let lat = latencies(fixed)
                s.p50 = percentile(lat, 50)
                s.p99 = percentile(lat, 99)
                s.fixedLost = number(fixed, after: "Queries lost:") ?? .nan
                let max = try dnsperf(["-c", String(o.maxClients), "-q", "64"])
                s.qps = number(max, after: "Queries per second:") ?? .nan
                let conn = try inPod(["python3", "-c", connectScript, dns.ipv4, String(o.connections)])
                let parts = conn.stdout.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                if parts.count == 4 {
                    (s.pingP50, s.pingP99, s.connP50, s.connP99) = (parts[0], parts[1], parts[2], parts[3])
                } else {
                    log("client loop: \(conn)")
                }
                let after = try tcp.counterValues()
                let msgs = (after[.rxMessages] ?? 0) - (before[.rxMessages] ?? 0)
                let conns = (after[.connections] ?? 0) - (before[.connections] ?? 0)
                counted[mode, default: (0, 0)].0 += msgs
                counted[mode, default: (0, 0)].1 += conns
                samples[mode, default: []].append(s)
                log(String(format: "rep %d %-8@ dnsperf p50 %6.1f p99 %7.1f µs (lost %.0f) | max %6.0f qps | one at a time p50 %6.1f p99 %6.1f µs | new connection p50 %6.1f p99 %7.1f µs | framed in kernel: %llu responses, %llu connections",
                           rep, mode.rawValue, s.p50, s.p99, s.fixedLost, s.qps, s.pingP50, s.pingP99, s.connP50, s.connP99, msgs, conns))
            }
        }

        var progLines: [String] = []
        if o.progStats {
            // Per-run kernel cost of each program: TCP at the fixed rate and the connect loop
            // (tcp mode), and for reference UDP at the same rate (the datapath's tc programs
            // parse and learn from UDP the same way).
            try await set(.tcp)
            let programs: [(String, BPFProgram)] = TCPDatapath.Program.allCases.map { ($0.rawValue, tcp.program($0)) }
                + [Datapath.Program.vethIngress, .vethEgress].map { ($0.rawValue, agent.datapath.program($0)) }
            progLines.append("TCP (\(o.rate) qps on one connection, then \(o.connections) new connections): " + (try programStats(programs) {
                _ = try dnsperf(["-c", "1", "-Q", String(o.rate)])
                _ = try inPod(["python3", "-c", connectScript, dns.ipv4, String(o.connections)])
            }))
            progLines.append("UDP (\(o.rate) qps): " + (try programStats(programs) {
                let r = try inPod(["dnsperf", "-m", "udp", "-s", dns.ipv4, "-d", queries, "-l", String(o.seconds), "-t", "2", "-Q", String(o.rate)])
                guard r.status == 0 else { throw BenchError(description: "dnsperf: \(r)") }
            }))
        }

        func med(_ m: Mode, _ k: KeyPath<Sample, Double>) -> Double { median(samples[m, default: []].map { $0[keyPath: k] }) }
        print("TCP DNS through FQDNPolicy, medians of \(o.reps) interleaved repetitions (kernel \(uname()), \(ProcessInfo.processInfo.activeProcessorCount) CPUs)")
        print("fixed rate: dnsperf -m tcp -c 1 -Q \(o.rate) -l \(o.seconds) -v (per-query latency); max: dnsperf -m tcp -c \(o.maxClients) -q 64 -l \(o.seconds);")
        print("one at a time: \(4 * o.connections) queries, each after the previous answer, on one connection; new connection: \(o.connections) x (connect, query, answer, close); Python client")
        print("")
        print("| mode | dnsperf p50 µs | dnsperf p99 µs | max qps | one at a time p50 µs | p99 µs | new connection p50 µs | p99 µs | responses framed in kernel |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for m in Mode.allCases {
            print(String(format: "| %@ | %.1f | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f | %llu |", m.rawValue, med(m, \.p50), med(m, \.p99), med(m, \.qps),
                         med(m, \.pingP50), med(m, \.pingP99), med(m, \.connP50), med(m, \.connP99), counted[m]?.0 ?? 0))
        }
        print("")
        for (m, base) in [(Mode.tcp, Mode.none)] {
            func d(_ k: KeyPath<Sample, Double>) -> String {
                String(format: "%+.1f µs (x%.2f)", med(m, k) - med(base, k), med(m, k) / med(base, k))
            }
            print("\(m.rawValue) vs \(base.rawValue): dnsperf p50 \(d(\.p50)), p99 \(d(\.p99)); max qps x\(String(format: "%.3f", med(m, \.qps) / med(base, \.qps))); one at a time p50 \(d(\.pingP50)), p99 \(d(\.pingP99)); new connection p50 \(d(\.connP50)), p99 \(d(\.connP99))")
        }
        if !progLines.isEmpty {
            print("")
            print("kernel run time per program run (bpf_stats_enabled on only for these runs):")
            for l in progLines { print("- " + l) }
        }
        if (counted[.tcp]?.0 ?? 0) == 0 { log("warning: the TCP programs framed nothing in tcp mode") }
        if (counted[.none]?.0 ?? 0) != 0 { log("warning: the TCP programs framed responses outside tcp mode") }
        try await agent.shutdown(removeDatapath: true)
    }

    /// Kernel run time per program run (BPF stats on only around `body`).
    static func programStats(_ programs: [(String, BPFProgram)], _ body: () throws -> Void) throws -> String {
        let path = "/proc/sys/kernel/bpf_stats_enabled"
        let previous = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        try "1".write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? previous.write(toFile: path, atomically: false, encoding: .utf8) }
        func stats() -> [(UInt64, UInt64)] {
            programs.map { _, p in (try? p.info()).map { ($0.runTimeNanoseconds, $0.runCount) } ?? (0, 0) }
        }
        let a = stats()
        try body()
        let b = stats()
        return zip(programs, zip(a, b)).compactMap { entry -> String? in
            let ((name, _), ((t0, n0), (t1, n1))) = entry
            let n = n1 &- n0
            guard n > 0 else { return nil }
            return String(format: "%@ %.0f ns/run (%llu runs)", name, Double(t1 &- t0) / Double(n), n)
        }.joined(separator: ", ")
    }

    static func uname() -> String {
        var u = utsname()
        Glibc.uname(&u)
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}
