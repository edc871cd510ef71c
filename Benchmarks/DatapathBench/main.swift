// DatapathBench: micro-benchmarks of the enforcing datapath and of the control plane
// (Documentation/Benchmarks.md; a benchmark, not a test). Needs root and BPF. Scripts/bench.sh runs it.
//
//   DatapathBench micro   [--repeat N] [--rounds R]     kernel paths via BPF_PROG_TEST_RUN
//   DatapathBench control [--sizes 1000,10000,100000]   YAML parse / compile / apply / +1 update
//
// Both load the real datapath (PolicyAgent, pinned in a fresh bpffs directory) with one veth
// endpoint in namespaces of their own (removed at the end, also on SIGINT/SIGTERM) and print
// Markdown tables on standard output (progress on standard error).
//
// micro: each row runs one packet through a program `--repeat` times (the kernel's mean per
// run), `--rounds` rounds interleaved with a program that returns at once (the floor) in the
// same run; medians of the rounds. The egress checks run the attached program itself
// (fqdn_veth_ingress), the query bench_query (its code, then the in-flight entry
// freed as its answer would, and the packet's own port and id put back: a fresh query each
// run). Responses run bench_response (datapath_bench.bpf.c:
// exactly fqdn_veth_egress's code, after putting the in-flight query back, since a response
// consumes it); the put-back alone (bench_restore) is that row's floor.
import ArgumentParser
import BPFMapBindings
import BPFTestObjects
import CFQDNShared
import DNSWire
import Dispatch
import FQDNPolicyTesting
import Foundation
import Glibc
import PolicyEngine

// MARK: - Arguments, output

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "DatapathBench", abstract: "Micro-benchmarks of the datapath and timings of the control plane (root).")

    enum Mode: String, ExpressibleByArgument, CaseIterable { case micro, control, enableTCP = "enable-tcp" }

    @Argument(help: "micro, control or enable-tcp.")
    var mode: Mode = .micro
    @Option(name: .customLong("repeat"), help: "micro: runs per BPF_PROG_TEST_RUN call.")
    var repeatCount = 20000
    @Option(help: "micro: rounds (medians are taken over them).")
    var rounds = 9
    @Option(help: "control: policy sizes in patterns, comma-separated.")
    var sizes = "1000,10000,100000"
    @Option(help: "enable-tcp: the running agent's pin directory.")
    var pin = ""
    @Option(help: "enable-tcp: the pod's network namespace.")
    var podNetns = ""
    @Option(help: "enable-tcp: the namespace of the endpoint's interface.")
    var nodeNetns = ""
    @Option(help: "enable-tcp: the endpoint's (host-side veth) interface.")
    var interface = ""
    @Option(help: "enable-tcp: the cgroup to attach sockops to.")
    var cgroup = ""
}
let options = Options.parseOrExit()
let mode = options.mode
let repeatCount = options.repeatCount
let rounds = options.rounds
let sizes = options.sizes.split(separator: ",").compactMap { Int($0) }

func note(_ s: String) { FileHandle.standardError.write(Data(("[DatapathBench] " + s + "\n").utf8)) }

func table(_ rows: [[String]], right: Set<Int> = []) -> String {
    let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
    var out = ""
    for (i, row) in rows.enumerated() {
        out += "| " + row.enumerated().map { c, cell in
            let pad = String(repeating: " ", count: widths[c] - cell.count)
            return right.contains(c) ? pad + cell : cell + pad
        }.joined(separator: " | ") + " |\n"
        if i == 0 { out += "|" + widths.enumerated().map { c, w in String(repeating: "-", count: w + 1) + (right.contains(c) ? ":" : "-") }.joined(separator: "|") + "|\n" }
    }
    return out
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func ns(_ d: Duration) -> Double { Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9 }

func fmt(_ x: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", x) }

/// Holds a PM QoS request of 0 µs while the process runs (on these vCPUs idle wake-ups dominate tail latency otherwise).
let pmqos: Int32 = {
    let fd = open("/dev/cpu_dma_latency", O_WRONLY)
    if fd >= 0 { var zero: Int32 = 0; _ = write(fd, &zero, 4) }
    return fd
}()

// MARK: - The world: namespaces, a veth endpoint, the agent

let clientIP = "10.210.0.2", serverIP = "10.220.0.2"
let pinDirectory = "/sys/fs/bpf/fqdnbench-\(getpid())"

/// The policy: every name under bench.test may be queried and is allowed on TCP 80, plus
/// `extra` generated patterns (the same generator as Scripts/bench/netbench.py).
func benchPolicy(extra: Int) -> FQDNPolicy {
    .forApp("bench", name: "bench", egress: [
        EgressRule(toFQDNs: .patterns("**.bench.test") + (0..<extra).map { .matchPattern(generatedPattern($0)) }, toPorts: [.tcp(80)]),
    ], dns: .patterns("**.bench.test"))
}

/// The same policy as an operator's file (what SIGHUP and `fqdnctl policy apply` read).
func policyYAML(extra: Int) -> String { PolicyDocument.yaml([benchPolicy(extra: extra)]) }

func generatedPattern(_ i: Int) -> String {
    let d = i / 5
    let tld = ["com", "net", "org", "io", "dev", "cloud", "internal", "local"][d % 8]
    switch i % 5 {
    case 0: return "api.d\(d).\(tld)"
    case 1: return "h\(i).s\(i % 7).d\(d).\(tld)"
    case 2: return "*.d\(d).\(tld)"
    case 3: return "**.svc.d\(d).\(tld)"
    default: return "img-*.d\(d).\(tld)"
    }
}

final class World: @unchecked Sendable {
    let fixture = NetworkFixture()
    let topology: NodeTopology
    let pod: NodeTopology.Member
    let agent: PolicyAgent
    var ifindex: UInt32 = 0

    init() async throws {
        topology = try NodeTopology(fixture: fixture)
        pod = try topology.addPod()
        let t0 = now()
        agent = try PolicyAgent(configuration: .init(pinDirectory: pinDirectory, dnsServers: [DNSServer(serverIP)!]))
        note("datapath loaded in \(fmt(now() - t0, 2)) s")
        try await agent.addEndpoint(Endpoint(name: "bench", attachment: .veth(interface: pod.nodeInterface, namespace: topology.node.name),
                                             labels: ["app": "bench"]))
        ifindex = await agent.interfaceIndex(of: "bench")!
    }

    func close() async {
        try? await agent.shutdown(removeDatapath: true)
        fixture.cleanup()
    }
}

// Cleanup on SIGINT/SIGTERM: pins and namespaces (the fixture's names carry our pid).
nonisolated(unsafe) var signalSources: [DispatchSourceSignal] = []
for sig in [SIGINT, SIGTERM] where mode != .enableTCP {
    signal(sig, SIG_IGN)
    let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    s.setEventHandler {
        note("signal \(sig): cleaning up")
        try? Datapath.remove(pinDirectory: pinDirectory)
        for name in NetworkFixture.liveNamespaces() where name.hasPrefix("\(NetworkFixture.namespacePrefix)\(getpid())-") {
            _ = try? runCommand(["ip", "netns", "del", name], check: false)
        }
        exit(130)
    }
    s.resume()
    signalSources.append(s)
}

// MARK: - micro

func udp(_ payload: [UInt8], response: Bool, clientPort: UInt16 = 40001) -> [UInt8] {
    let client = PacketBuilder.Endpoint(clientIP, port: clientPort), server = PacketBuilder.Endpoint(serverIP, port: 53)
    return response ? PacketBuilder.udp(from: server, to: client, payload: payload) : PacketBuilder.udp(from: client, to: server, payload: payload)
}

/// The answer as the server sends it to a randomised query: to the port and with the id the
/// kernel chose (its in-flight entry), not the pod's.
func answer(_ message: [UInt8], to query: (port: UInt16, id: UInt16)) -> [UInt8] {
    var m = message
    m[0] = UInt8(query.id >> 8)
    m[1] = UInt8(query.id & 0xFF)
    return udp(m, response: true, clientPort: query.port)
}

func name(_ s: String) -> DNSName { DNSName(s)! }

func response(id: UInt16, _ qname: String, _ answers: [DNSResourceRecord]) -> [UInt8] {
    DNSMessage(header: DNSHeader(id: id, isResponse: true, isAuthoritative: true, recursionDesired: true),
               questions: [DNSQuestion(name: name(qname), type: .a)], answers: answers).encode(compress: true)
}

func a(_ owner: String, _ address: [UInt8], ttl: UInt32 = 300) -> DNSResourceRecord {
    DNSResourceRecord(name: name(owner), type: .a, ttl: ttl, rdata: .a(.v4(address)))
}

func cname(_ owner: String, _ target: String) -> DNSResourceRecord {
    DNSResourceRecord(name: name(owner), type: .cname, ttl: 300, rdata: .cname(name(target)))
}

struct ResponseCase {
    var label: String
    var qname: String
    var id: UInt16
    var message: [UInt8]
    var learned: Int
}

func longLabel(_ c: Character, _ n: Int) -> String { String(repeating: c, count: n) }

func micro() async throws {
    let world = try await World()
    defer { _ = world }
    do {
        try await world.agent.apply([benchPolicy(extra: 0)])
        try await runMicro(world)
    } catch {
        await world.close()
        throw error
    }
    await world.close()
}

func runMicro(_ world: World) async throws {
    let node = world.topology.node
    let context = BPFProgram.skbContext(ifindex: world.ifindex)
    let ingress = world.agent.datapath.program(.vethIngress)
    let egress = world.agent.datapath.program(.vethEgress)
    guard let bytes = BPFTestObjects.named("datapath_bench") else { fatalError("datapath_bench is not embedded") }
    let bench = try BPFObject(bytes: bytes, name: "datapath_bench")
    try bench.adoptPinnedMaps(in: pinDirectory + "/maps")
    try bench.load()
    let trivial = try bench.program("bench_trivial"), restore = try bench.program("bench_restore")
    let benchResponse = try bench.program("bench_response")
    let benchQuery = try bench.program("bench_query"), queryFloor = try bench.program("bench_query_floor")
    let stash = try bench.map("bench_stash")
    let inflight = try BPFMap.openPinned(pinDirectory + "/maps/fq_inflight")

    func testRun(_ p: BPFProgram, _ packet: [UInt8], _ n: Int) throws -> BPFTestRunResult {
        try node.perform { try p.testRun(data: packet, repeat: n, context: context) }
    }

    /// Median ns/run of `program` and of the floors, rounds interleaved.
    func time(_ program: BPFProgram, _ packet: [UInt8], floor: BPFProgram? = nil) throws -> (ns: Double, trivial: Double, floor: Double) {
        var p: [Double] = [], t: [Double] = [], f: [Double] = []
        try node.perform {
            for _ in 0..<rounds {
                t.append(ns(try trivial.testRun(data: packet, repeat: repeatCount, context: context).duration))
                if let floor { f.append(ns(try floor.testRun(data: packet, repeat: repeatCount, context: context).duration)) }
                p.append(ns(try program.testRun(data: packet, repeat: repeatCount, context: context).duration))
            }
        }
        let tm = median(t)
        return (median(p), tm, floor == nil ? tm : median(f))
    }

    // Raw in-flight map access (the one entry a query made).
    let keySize = Int(inflight.keySize), valueSize = Int(inflight.valueSize)
    func clearInflight() {
        for key in (try? inflight.keyBytes()) ?? [] { _ = try? inflight.delete(keyBytes: key) }
    }
    /// Stashes the one in-flight entry and returns the port and id the query left with.
    func stashInflight() throws -> (port: UInt16, id: UInt16) {
        guard let key = try inflight.keyBytes().first, let value = try inflight.lookup(keyBytes: key) else {
            throw BenchError("the query left no in-flight entry")
        }
        let k = key.withUnsafeBytes { $0.loadUnaligned(as: fqdn_inflight_key.self) }
        let v = value.withUnsafeBytes { $0.loadUnaligned(as: fqdn_inflight.self) }
        let align = MemoryLayout<fqdn_inflight>.alignment
        let valueOffset = (keySize + align - 1) / align * align
        var entry = [UInt8](repeating: 0, count: Int(stash.valueSize))
        guard valueOffset + valueSize <= entry.count else { throw BenchError("bench_stash layout") }
        entry.replaceSubrange(0..<keySize, with: key)
        entry.replaceSubrange(valueOffset..<valueOffset + valueSize, with: value)
        try stash.update(keyBytes: UInt32(0).bytes, valueBytes: entry)
        return (k.client_port, v.wire_txid)
    }
    func counters() async throws -> [Counter: UInt64] { try await world.agent.counters() }

    var rows = [["path", "packet", "result", "ns/run", "floor ns", "ns - floor"]]
    func add(_ path: String, _ packet: String, _ result: String, _ t: (ns: Double, trivial: Double, floor: Double), floorName: String) {
        rows.append([path, packet, result, fmt(t.ns), "\(fmt(t.floor)) (\(floorName))", fmt(t.ns - t.floor)])
    }

    // Responses (each learned once for real, then timed in steady state: addresses refreshed).
    let long1 = [longLabel("a", 63), longLabel("b", 63), longLabel("c", 63), longLabel("d", 45), "bench", "test"].joined(separator: ".")
    let long2 = [longLabel("x", 63), longLabel("y", 63), longLabel("z", 63), longLabel("e", 40), "cdn", "bench", "test"].joined(separator: ".")
    let cases: [ResponseCase] = [
        ResponseCase(label: "typical: 1 question, CNAME + 4 A, compressed", qname: "www.bench.test", id: 0x1111,
                     message: response(id: 0x1111, "www.bench.test", [cname("www.bench.test", "edge.cdn.bench.test")]
                         + (1...4).map { a("edge.cdn.bench.test", [10, 231, 0, UInt8($0)]) }), learned: 4),
        ResponseCase(label: "1 A", qname: "api.bench.test", id: 0x2222,
                     message: response(id: 0x2222, "api.bench.test", [a("api.bench.test", [10, 230, 0, 1])]), learned: 1),
        ResponseCase(label: "20 A, compressed", qname: "multi.bench.test", id: 0x3333,
                     message: response(id: 0x3333, "multi.bench.test", (1...20).map { a("multi.bench.test", [10, 232, 0, UInt8($0)]) }), learned: 20),
        ResponseCase(label: "long names: \(long1.utf8.count + 2)-byte qname, CNAME to a \(long2.utf8.count + 2)-byte name, 1 A", qname: long1, id: 0x4444,
                     message: response(id: 0x4444, long1, [cname(long1, long2), a(long2, [10, 233, 0, 1])]), learned: 1),
    ]
    for c in cases {
        clearInflight()
        let query = udp(DNSMessageBuilder.query(name: c.qname, id: c.id), response: false)
        let q = try testRun(ingress, query, 1)
        let sent = try stashInflight()
        let reply = answer(c.message, to: sent)
        // Learn for real once (through the attached program), then check what was learned.
        let before = try await counters()
        let r = try testRun(egress, reply, 1)
        let after = try await counters()
        let learned = Int((after[.addressesLearned] ?? 0) - (before[.addressesLearned] ?? 0))
        guard q.returnValue == 0, r.returnValue == 0, learned == c.learned else {
            throw BenchError("\(c.label): query -> \(q.returnValue), response -> \(r.returnValue), learned \(learned) (expected \(c.learned))")
        }
        if c.id == 0x1111 {
            // Each run a fresh query whose entry its answer frees (bench_query), as in steady
            // traffic; the in-flight delete and the packet put-back alone are the floor.
            let t = try time(benchQuery, query, floor: queryFloor)
            add("query (fqdn_veth_ingress code): parse, DNS rules trie walk, in-flight insert, port and id randomised", "A \(c.qname), \(query.count - 42) B", "pass", t, floorName: "in-flight delete, put-back")
        }
        let t = try time(benchResponse, reply, floor: restore)
        add("response (fqdn_veth_egress code): anti-spoofing, parse, trie walk, learn", "\(c.label), \(c.message.count) B",
            "\(c.learned) refreshed", t, floorName: "in-flight put-back")
        note("\(c.label): \(fmt(t.ns)) ns (floor \(fmt(t.floor)), trivial \(fmt(t.trivial)))")
    }
    // A response nobody asked for (no in-flight query): parsed, then not learned.
    clearInflight()
    let spoof = udp(cases[0].message, response: true)
    add("response without in-flight query (spoofed)", "typical, \(cases[0].message.count) B", "not learned", try time(egress, spoof), floorName: "trivial")

    // Egress checks: a SYN to a learned address (allowed), to an unlearned one (dropped).
    let syn = { (addr: String, port: UInt16) in
        PacketBuilder.tcp(from: .init(clientIP, port: 40002), to: .init(addr, port: port))
    }
    let allowed = syn("10.231.0.1", 80), denied = syn("10.250.0.1", 80), wrongPort = syn("10.231.0.1", 443)
    for (label, packet, expect) in [("SYN to a learned address, allowed port", allowed, UInt32(0)),
                                    ("SYN to an unlearned address", denied, UInt32(2)),
                                    ("SYN to a learned address, other port", wrongPort, UInt32(2))] {
        let r = try testRun(ingress, packet, 1)
        guard r.returnValue == expect else { throw BenchError("egress \(label): returned \(r.returnValue), expected \(expect)") }
        add("egress check (fqdn_veth_ingress)", label, expect == 0 ? "pass" : "drop", try time(ingress, packet), floorName: "trivial")
    }
    print("Repeat \(repeatCount) per round, median of \(rounds) rounds; kernel \(uname()).\n")
    print(table(rows, right: [3, 4, 5]))
}

func uname() -> String {
    var u = utsname()
    Glibc.uname(&u)
    return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ s: String) { description = s }
}

// MARK: - control

func memoryKB() -> (rss: Int, hwm: Int) {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    var rss = 0, hwm = 0
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if line.hasPrefix("VmRSS:"), parts.count > 1 { rss = Int(parts[1]) ?? 0 }
        if line.hasPrefix("VmHWM:"), parts.count > 1 { hwm = Int(parts[1]) ?? 0 }
    }
    return (rss, hwm)
}

func control() async throws {
    let world = try await World()
    do {
        var rows = [["patterns", "YAML bytes", "parse YAML ms", "compile ms", "trie entries", "apply (empty -> N) ms",
                     "update (N -> N+1) ms", "apply back (N+1 -> N) ms", "process RSS MiB"]]
        for n in sizes {
            try await world.agent.apply([])
            let yaml = policyYAML(extra: n), yaml1 = policyYAML(extra: n + 1)
            var t0 = now()
            let policies = try PolicyDocument.parse(yaml: yaml)
            let parse = now() - t0
            let policies1 = try PolicyDocument.parse(yaml: yaml1)
            t0 = now()
            let compiled = try CompiledPolicy.compile(policies, id: 999_999, flowGrace: 300)
            let compile = now() - t0
            t0 = now()
            try await world.agent.apply(policies)
            let apply = now() - t0
            t0 = now()
            try await world.agent.apply(policies1)
            let update = now() - t0
            t0 = now()
            try await world.agent.apply(policies)
            let back = now() - t0
            let m = memoryKB()
            rows.append([String(n), String(yaml.utf8.count), fmt(parse * 1000), fmt(compile * 1000), String(compiled.trie.entryCount),
                         fmt(apply * 1000), fmt(update * 1000), fmt(back * 1000), fmt(Double(m.rss) / 1024, 1)])
            note("\(n) patterns: parse \(fmt(parse * 1000)) ms, compile \(fmt(compile * 1000)) ms, apply \(fmt(apply * 1000)) ms, +1 \(fmt(update * 1000)) ms")
        }
        print("One endpoint; the policy has the benchmark's two rules plus N generated matchPatterns (Scripts/bench/netbench.py's mix: 20% each exact `api.`, exact 2 labels deeper, `*.`, `**.svc.`, `img-*.`). apply = compile + write the new version's maps + switch the endpoint + delete the old version.\n")
        print(table(rows, right: Set(0..<rows[0].count).subtracting([0]).union([0])))
    } catch {
        await world.close()
        throw error
    }
    await world.close()
}

// MARK: - enable-tcp

/// `enable-tcp --pin DIR --pod-netns NS --node-netns NS --interface IF --cgroup PATH`: loads the
/// DNS-over-TCP programs into the datapath pinned at DIR (a running `fqdnctl agent`'s), maps the
/// pod's namespace to the veth endpoint on IF (in NS), attaches sockops to PATH (pinned link)
/// and exits: everything stays attached to the pins (removing the pin directory removes it).
/// For netbench.py while `fqdnctl agent` has no option for TCP (PolicyAgent.enableTCP does this).
func enableTCP() throws {
    let pin = options.pin, pod = options.podNetns, nodeNS = options.nodeNetns
    let interface = options.interface, cgroup = options.cgroup
    guard !pin.isEmpty, !pod.isEmpty, !nodeNS.isEmpty, !interface.isEmpty, !cgroup.isEmpty else {
        throw BenchError("enable-tcp needs --pin, --pod-netns, --node-netns, --interface and --cgroup")
    }
    let index = try NetworkNamespace(named: nodeNS).perform { if_nametoindex(interface) }
    guard index != 0 else { throw BenchError("no interface \(interface) in \(nodeNS)") }
    let tcp = try TCPDatapath.load(pinDirectory: pin)
    try tcp.addPodNamespace(pod, ifindex: index)
    try tcp.attachSockops(cgroup: cgroup)
    try DatapathMaps.pinned(at: pin).markTCPDNSChecked(ifindex: index)
    note("DNS over TCP enabled: pod namespace \(pod) -> ifindex \(index), sockops on \(cgroup)")
}

// MARK: - main

guard getuid() == 0 else {
    note("needs root (namespaces, BPF)")
    exit(2)
}
do {
    switch mode {
    case .micro: try await micro()
    case .control: try await control()
    case .enableTCP: try enableTCP()
    }
} catch {
    note("error: \(error)")
    exit(1)
}
_ = pmqos
