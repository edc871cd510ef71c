import BPFMapBindings
import DNSWire
import FQDNPolicyTesting
import Foundation
import Glibc
@testable import PolicyEngine
import Testing

/// Resilience on the real kernel (Documentation/Operations.md): the agent can die without DNS or enforcement
/// noticing, long-lived flows outlive the TTL of their destination.
@Suite(.serialized) struct ResilienceTests {
    /// web1 and alias (-> backend = web2's address) allowed on TCP 80; DNS for web1, short, alias.
    static let policy = FQDNPolicy.forApp("pod0", egress: [
        EgressRule(toFQDNs: .names("web1.demo.test", "alias.demo.test"), toPorts: [.tcp(80)]),
    ], dns: .names("web1.demo.test", "short.demo.test", "alias.demo.test"))

    static var fqdnctl: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("fqdnctl").path
    }

    /// `fqdnctl metrics --pin` parsed: counter name (Prometheus) -> value.
    static func metrics(pin: String) throws -> [Counter: UInt64] {
        let text = try runCommand([fqdnctl, "metrics", "--pin", pin]).stdout
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = UInt64(parts[1]) { values[String(parts[0])] = v }
        }
        var out: [Counter: UInt64] = [:]
        for c in Counter.allCases { out[c] = values[c.prometheusName] }
        return out
    }

    /// A `fqdnctl agent` child process; stderr goes to a file (read for readiness and reports).
    final class AgentProcess: @unchecked Sendable {
        let process = Process()
        let logPath: String

        /// `stdout`: where the agent prints its events (default: nowhere).
        init(arguments: [String], stdout: FileHandle? = nil) throws {
            logPath = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-agent-\(getpid())-\(UUID().uuidString.prefix(8)).log").path
            FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: ResilienceTests.fqdnctl)
            process.arguments = ["agent"] + arguments
            process.standardOutput = stdout ?? FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try process.run()
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        /// Waits until the agent reports its datapath loaded/adopted.
        func waitReady(timeout: Double = 120) async throws -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if log.contains("agent: datapath") { return true }
                if !process.isRunning { return false }
                try await Task.sleep(for: .milliseconds(100))
            }
            return false
        }

        func kill(_ signal: Int32) {
            if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
        }

        func stop() {
            kill(SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: logPath)
        }
    }

    /// dnsperf's summary.
    struct LoadReport {
        var sent = 0, completed = 0, lost = 0, noerror = 0, qps = 0.0
        var text = ""
        init(_ text: String) {
            self.text = text
            func value(_ label: String) -> String? {
                guard let line = text.split(separator: "\n").first(where: { $0.contains(label) }) else { return nil }
                return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
            }
            sent = value("Queries sent").flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
            completed = value("Queries completed").flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
            lost = value("Queries lost").flatMap { Int($0.split(separator: " ").first ?? "") } ?? -1
            qps = value("Queries per second").flatMap { Double($0) } ?? 0
            if let codes = value("Response codes"), let r = codes.range(of: "NOERROR ") {
                noerror = Int(codes[r.upperBound...].prefix { $0.isNumber }) ?? 0
            }
        }
    }

    // MARK: - Agent killed under DNS load

    @Test(.kernel, .timeLimit(.minutes(5)))
    func agentKilledUnderDNSLoad() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.fqdnctl), "fqdnctl not built at \(Self.fqdnctl)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/dnsperf"), "dnsperf is not installed")
        try await withNetworkFixture { fixture in
            try await withBPFFSDirectory { pin in
                let topology = try NodeTopology(fixture: fixture)
                let pod = try topology.addPod()
                let dns = try topology.addHost()
                let web1 = try topology.addHost()
                let web2 = try topology.addHost()
                let knot = try KnotServer(namespace: dns.namespace, listen: [dns.ipv4, dns.ipv6], zones: [TestWorld.demoZone])
                defer { knot.stop() }
                var listeners: [SocketClient.Listener] = []
                for host in [web1, web2] {
                    for port: UInt16 in [80, 8080] { listeners.append(try host.namespace.perform { try SocketClient.Listener(port: port) }) }
                }
                defer { listeners.forEach { $0.stop() } }
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-resilience-\(getpid())").path
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: dir) }
                try PolicyDocument.yaml([Self.policy]).write(toFile: "\(dir)/policy.yaml", atomically: true, encoding: .utf8)
                try "web1.demo.test A\nweb1.demo.test AAAA\nshort.demo.test A\n".write(toFile: "\(dir)/queries.txt", atomically: true, encoding: .utf8)

                let agentArguments = [
                    "--policy", "\(dir)/policy.yaml", "--pin", pin, "--gc-interval", "1",
                    "--endpoint", "pod0:iface=\(pod.nodeInterface),netns=\(topology.node.name),labels=app=pod0",
                    "--dns-server", dns.ipv4, "--dns-server", "[\(dns.ipv6)]:53",
                ]
                // Cleanup order (also on failure): agents killed first, then the pins removed.
                defer { try? Datapath.remove(pinDirectory: pin) }
                let agent = try AgentProcess(arguments: agentArguments)
                defer { agent.stop() }
                var second: AgentProcess?
                defer { second?.stop() }
                let ready = try await agent.waitReady()
                try #require(ready, "agent did not start: \(agent.log)")

                func connect(_ address: String, _ port: UInt16 = 80) throws -> Int32 {
                    try pod.namespace.perform { try SocketClient.connectResult(to: address, port: port, timeout: 1) }
                }
                func resolve(_ name: String) throws -> ResponseFacts? {
                    let q = DNSMessageBuilder.query(name: name, id: UInt16.random(in: 1...UInt16.max))
                    return try pod.namespace.perform { try SocketClient.dnsQuery(q, server: dns.ipv4, timeout: 2) }
                        .map { ResponseFacts.extract(from: $0) }
                }

                // Before the load: web1 learned and usable, web2 (not resolved) and web1:8080 denied.
                #expect(try resolve("web1.demo.test")?.credited.map { "\($0.address)" } == [web1.ipv4])
                #expect(try connect(web1.ipv4) == 0)
                #expect(try connect(web2.ipv4) == ETIMEDOUT)
                #expect(try connect(web1.ipv4, 8080) == ETIMEDOUT)

                // 12 s of DNS load at 1,500 qps from the pod against the real server.
                let loadSeconds = 12
                let perf = Process()
                perf.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                perf.arguments = ["ip", "netns", "exec", pod.namespace.name, "dnsperf", "-s", dns.ipv4, "-d", "\(dir)/queries.txt",
                                  "-l", "\(loadSeconds)", "-Q", "1500", "-c", "4", "-q", "200", "-t", "2"]
                let perfOut = Pipe()
                perf.standardOutput = perfOut
                perf.standardError = perfOut
                try perf.run()
                defer { if perf.isRunning { Glibc.kill(perf.processIdentifier, SIGKILL) } }
                let reader = Task.detached { perfOut.fileHandleForReading.readDataToEndOfFile() }

                try await Task.sleep(for: .seconds(4))
                let beforeKill = try Self.metrics(pin: pin)
                agent.kill(SIGKILL)
                agent.process.waitUntilExit()
                #expect(agent.process.terminationReason == .uncaughtSignal)
                #expect(agent.process.terminationStatus == SIGKILL)

                // No agent: enforcement and learning go on in the kernel.
                var allowedOK = 0, allowedTried = 0
                for _ in 0..<5 {
                    allowedTried += 1
                    if try connect(web1.ipv4) == 0 { allowedOK += 1 }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(allowedOK == allowedTried, "allowed connections without agent: \(allowedOK)/\(allowedTried)")
                #expect(try connect(web1.ipv4, 8080) == ETIMEDOUT, "port still denied")
                #expect(try connect(web2.ipv4) == ETIMEDOUT, "web2 not learned yet")
                // First resolution of alias while no agent runs: learned, usable.
                let alias = try #require(try resolve("alias.demo.test"))
                #expect(alias.rcode == 0)
                #expect(alias.credited.map { "\($0.address)" } == [web2.ipv4])
                #expect(try connect(web2.ipv4) == 0, "name resolved without agent is usable")
                #expect(try connect(web2.ipv4, 8080) == ETIMEDOUT)
                // A denied name is still refused by the kernel.
                let refused = try #require(try resolve("web2.demo.test"))
                #expect(refused.rcode == 5)

                perf.waitUntilExit()
                let report = LoadReport(String(decoding: await reader.value, as: UTF8.self))
                let afterLoad = try Self.metrics(pin: pin)
                print("[resilience] dnsperf: sent \(report.sent), completed \(report.completed), lost \(report.lost), NOERROR \(report.noerror), \(report.qps) qps")
                #expect(report.sent >= 1000 * (loadSeconds - 1), "\(report.text)")
                #expect(report.lost == 0, "\(report.text)")
                #expect(report.completed == report.sent)
                #expect(report.noerror == report.completed, "\(report.text)")
                #expect(report.qps >= 1000)

                // Counters from the pinned state: the kernel answered/learned/enforced while no agent ran.
                func delta(_ c: Counter) -> UInt64 { (afterLoad[c] ?? 0) - (beforeKill[c] ?? 0) }
                print("[resilience] after kill: dns_responses +\(delta(.dnsResponses)), learned +\(delta(.addressesLearned)), refreshed +\(delta(.addressesRefreshed)), allowed_learned +\(delta(.egressAllowedLearned)), denied +\(delta(.egressDenied)), refused +\(delta(.dnsQueriesRefused))")
                #expect(delta(.dnsResponses) >= UInt64(1000 * (loadSeconds - 6)))
                #expect(delta(.addressesLearned) >= 1, "alias learned without agent")
                #expect(delta(.addressesRefreshed) >= 1000)
                #expect(delta(.egressAllowedLearned) >= 6)
                #expect(delta(.egressDenied) >= 3)
                #expect(delta(.egressDeniedPort) >= 2)
                #expect(delta(.dnsQueriesRefused) >= 1)
                #expect(afterLoad[.learnFailed] == 0)
                #expect(afterLoad[.dnsResponsesMalformed] == 0)
                #expect(afterLoad[.inflightFailed] == 0)

                // A new agent adopts the state: what was learned without agent is kept.
                func learnedPairs() throws -> Set<String> {
                    var out = Set<String>()
                    for n in try DatapathMaps.pinned(at: pin).learned() where n.name != "short.demo.test" {
                        for a in n.addresses { out.insert("\(n.name) \(a.address)") }
                    }
                    return out
                }
                let snapshotBefore = try learnedPairs()
                #expect(snapshotBefore.contains("alias.demo.test \(web2.ipv4)"))
                let next = try AgentProcess(arguments: agentArguments)
                second = next
                let nextReady = try await next.waitReady()
                try #require(nextReady, "second agent did not start: \(next.log)")
                #expect(next.log.contains("adopted"), "\(next.log)")
                #expect(try learnedPairs() == snapshotBefore, "nothing learned is lost")
                #expect(try connect(web2.ipv4) == 0)
                #expect(try connect(web1.ipv4) == 0)
                next.kill(SIGTERM)
                next.process.waitUntilExit()
                #expect(next.process.terminationStatus == 0, "\(next.log)")
            }
        }
    }
    // MARK: - Live flows outlive TTL

    @Test(.kernel, .timeLimit(.minutes(2)))
    func establishedFlowOutlivesTTLNewConnectionDenied() async throws {
        let policy = FQDNPolicy.forApp("pod0", egress: [EgressRule(toFQDNs: .names("short.demo.test"), toPorts: [.tcp(9000)])],
                                       dns: .names("short.demo.test"))
        try await Environment.with(policies: [policy]) { env in
            let server = try env.web1.namespace.perform { try EchoServer(port: 9000) }
            defer { server.stop() }
            let r = try #require(try env.resolve("short.demo.test"))
            #expect(r.facts.credited.map(\.ttl) == [2])
            let flow = try env.pods[0].namespace.perform { try EchoConnection(to: env.web1.ipv4, port: 9000) }
            defer { flow.close() }
            #expect(try flow.roundTrip("before expiry"))
            let before = try await env.counters()
            // Past the TTL (2 s): the address is expired, the flow is not.
            try await Task.sleep(for: .milliseconds(3500))
            #expect(try await env.learned()["short.demo.test"]?.isEmpty ?? true, "address expired")
            for i in 0..<5 {
                #expect(try flow.roundTrip("after expiry \(i)"), "established flow survives the TTL")
            }
            // A new connection to the expired address is denied.
            #expect(try env.pods[0].namespace.perform { try SocketClient.connectResult(to: env.web1.ipv4, port: 9000, timeout: 1) } == ETIMEDOUT)
            let after = try await env.counters()
            #expect((after[.egressAllowedFlow] ?? 0) - (before[.egressAllowedFlow] ?? 0) >= 5)
            #expect((after[.egressDeniedExpired] ?? 0) - (before[.egressDeniedExpired] ?? 0) >= 1)
            // Garbage collection removes the expired address but keeps the live flow.
            _ = try await env.agent.collectGarbage()
            #expect(try flow.roundTrip("after gc"))
            // A fresh answer allows new connections again.
            _ = try #require(try env.resolve("short.demo.test"))
            #expect(try env.connects(env.web1.ipv4, port: 9000))
        }
    }

    /// The flow grace is the operator's: with 2 s, a flow that keeps talking outlives the
    /// expiry of its address, a flow idle for longer than the grace does not. (The kernel
    /// refreshes a flow's last-seen time at most once a second: a grace of 1 s would drop
    /// active flows, so `fqdnctl agent` accepts 0 (off) or >= 2.)
    @Test(.kernel, .timeLimit(.minutes(2)))
    func flowGraceIsSettable() async throws {
        let policy = FQDNPolicy.forApp("pod0", egress: [EgressRule(toFQDNs: .names("short.demo.test"))], dns: .names("short.demo.test"))
        try await World.with(records: ["short 2 A 10.220.1.2"], policy: policy, flowGrace: 2) { w in
            let server = try w.web1.namespace.perform { try EchoServer(port: 9000) }
            defer { server.stop() }
            #expect(try w.resolve("short.demo.test")?.credited.map(\.ttl) == [2])
            let chatty = try w.pod.namespace.perform { try EchoConnection(to: w.web1.ipv4, port: 9000) }
            defer { chatty.close() }
            let idle = try w.pod.namespace.perform { try EchoConnection(to: w.web1.ipv4, port: 9000) }
            defer { idle.close() }
            #expect(try chatty.roundTrip("a"))
            #expect(try idle.roundTrip("a"))
            // 5 s: the address expires after 2 s; the chatty flow talks every 0.4 s.
            for i in 0..<13 {
                #expect(try chatty.roundTrip("tick \(i)"), "active flow within the grace")
                try await Task.sleep(for: .milliseconds(400))
            }
            #expect(try idle.roundTrip("late") == false, "idle longer than the 2 s grace after expiry: dropped")
            #expect(try chatty.roundTrip("still"))
        }
    }

    // MARK: - Pressure

    @Test(.kernel, .timeLimit(.minutes(2)))
    func maxIPsPerNameEvictsTheOldest() async throws {
        let many = ["10.220.9.1", "10.220.9.2", "10.220.9.3", "10.220.9.4"]
        let names: [FQDNSelector] = .names("many.demo.test", "web1.demo.test")
        let policy = FQDNPolicy.forApp("pod0", egress: [EgressRule(toFQDNs: names)], dns: names, maxIPsPerName: 2)
        try await World.with(records: many.map { "many A \($0)" }, policy: policy) { w in
            for a in many { try w.topology.addAddress(a, to: w.web1) }
            #expect(try w.resolve("web1.demo.test")?.credited.count == 1)
            let r = try #require(try w.resolve("many.demo.test"))
            let order = r.credited.map { "\($0.address)" }
            #expect(Set(order) == Set(many))
            let learned = try await w.learned()
            // Ring of 2 slots: the last two credited stay, the two oldest were evicted.
            #expect(Set(learned["many.demo.test"] ?? []) == Set(order.suffix(2)), "\(learned)")
            #expect(learned["web1.demo.test"] == [w.web1.ipv4], "unrelated name untouched")
            for a in order.prefix(2) { #expect(try w.connectResult(a) == ETIMEDOUT, "\(a) evicted") }
            for a in order.suffix(2) { #expect(try w.connectResult(a) == 0, "\(a) kept") }
            #expect(try w.connectResult(w.web1.ipv4) == 0)
            let c = try await w.agent.counters()
            #expect(c[.addressesEvicted] == 2)
            #expect(c[.learnFailed] == 0)
            // Asking again refreshes the kept two and evicts nothing allowed-but-unkept forever:
            // the ring stays at 2.
            _ = try w.resolve("many.demo.test")
            #expect((try await w.learned()["many.demo.test"] ?? []).count == 2)
            // The LRU-eviction metric's bookkeeping with real kernel counts: every entry the
            // kernel created is present, ring-evicted or removed by the agent, so nothing is
            // attributed to the LRU (the map is far from full); it stays so after the agent
            // deletes entries (flush counts addresses_removed).
            let maps = w.agent.maps
            let before = try maps.counterValues()
            let present = try maps.allow4.keys().count
            #expect((before[.addressesLearned] ?? 0) >= 5, "web1 + 4 many at least: \(before)")
            #expect(try maps.lruEvictedAddresses() == 0, "\(before), \(present) present")
            try await w.agent.flushLearned(endpoint: "pod0")
            let after = try maps.counterValues()
            let removed = (after[.addressesRemoved] ?? 0) - (before[.addressesRemoved] ?? 0)
            #expect(Int(removed) == present - (try maps.allow4.keys().count), "the agent's deletes are counted")
            #expect(try maps.lruEvictedAddresses() == 0)
        }
    }

    /// fq_allow4 (LRU, 65,536 entries) overfilled with 70,000 entries of another endpoint:
    /// the kernel evicts, learning into the full map never fails, DNS goes on, a new answer
    /// makes its address usable again.
    @Test(.kernel, .timeLimit(.minutes(3)))
    func fullLearnedAddressMapEvictsAndLearningGoesOn() async throws {
        try await World.with(records: [], policy: Self.webOnlyPolicy) { w in
            #expect(try w.resolve("web1.demo.test")?.credited.count == 1)
            #expect(try w.connectResult(w.web1.ipv4) == 0)
            let map = try BPFHashMap<Allow4Key, AllowValue>(BPFMap.openPinned(w.pin + "/maps/fq_allow4"))
            let capacity = Int(map.map.maxEntries)
            #expect(capacity == 65536)
            let filler = 70_000
            let far = UInt64(1) << 62
            var entries: [(Allow4Key, AllowValue)] = []
            let value = AllowValue(expiry: far, nameHash: 1, policy: 0, mask: 0, ttl: 300, pad: 0)
            for i in 0..<filler {
                let hi = UInt8(truncatingIfNeeded: i >> 8), lo = UInt8(truncatingIfNeeded: i)
                let key = Allow4Key(endpoint: 0xFFFF_0000, a: 10, b: 99, c: hi, d: lo, e: UInt32(i >> 16))
                entries.append((key, value))
            }
            // In chunks: an LRU map makes room by evicting (never ENOSPC).
            for chunk in stride(from: 0, to: filler, by: 10_000) {
                try map.update(batch: Array(entries[chunk..<min(filler, chunk + 10_000)]))
            }
            let keys = try map.keys()
            let fillerLeft = keys.filter { $0.endpoint >= 0xFFFF_0000 }.count
            let evicted = filler + 1 - keys.count
            print("[resilience] fq_allow4: capacity \(capacity), \(filler) inserted, \(keys.count) present, \(evicted) evicted by LRU, filler left \(fillerLeft)")
            #expect(keys.count <= capacity)
            #expect(fillerLeft < filler, "LRU evicted")
            // DNS is unaffected; learning into the full map succeeds; the address works again.
            for _ in 0..<20 {
                #expect(try w.resolve("web1.demo.test")?.credited.count == 1)
                #expect(try w.resolve("web1.demo.test", pod: 1)?.credited.count == 1)
            }
            #expect(try w.connectResult(w.web1.ipv4) == 0)
            #expect(try w.connectResult(w.web1.ipv4, pod: 1) == 0)
            let c = try await w.agent.counters()
            #expect(c[.learnFailed] == 0)
            #expect(c[.inflightFailed] == 0)
            let gc = try await w.agent.collectGarbage()
            _ = gc
            #expect(try await w.learned()["web1.demo.test"] == [w.web1.ipv4])
        }
    }

    // MARK: - Bad input and operations

    /// Malformed answers from a trusted server (a real answer of Knot, mutated) are delivered
    /// (or not) but credit nothing; the next good answer is learned as usual.
    @Test(.kernel, .timeLimit(.minutes(2)))
    func malformedAnswersFromTheServerCreditNothing() async throws {
        let policy = FQDNPolicy.forApp("pod0", egress: [EgressRule(toFQDNs: .names("web1.demo.test"))], dns: .names("web1.demo.test"))
        let fake = "10.220.0.53"
        try await World.with(records: [], policy: policy, extraServers: [fake]) { w in
            try w.topology.addAddress(fake, to: w.dns)
            // A real answer, captured from Knot, as the template.
            let good = try #require(try w.pod.namespace.perform {
                try SocketClient.dnsQuery(DNSMessageBuilder.query(name: "web1.demo.test", id: 7), server: w.dns.ipv4)
            })
            try await w.agent.flushLearned(endpoint: "pod0")
            let qEnd = 12 + 16 + 4  // header, web1.demo.test, type/class
            func patched(_ f: (inout [UInt8]) -> Void) -> [UInt8] { var m = good; f(&m); return m }
            let mutations: [(String, [UInt8])] = [
                ("header only", Array(good.prefix(12))),
                ("cut in the question", Array(good.prefix(20))),
                ("cut in the answer rdata", Array(good.prefix(good.count - 2))),
                ("rdlength past the end", patched { $0[qEnd + 10] = 0x01; $0[qEnd + 11] = 0x00 }),
                ("ancount 200", patched { $0[7] = 200 }),
                ("compression loop", patched { $0[qEnd] = 0xC0; $0[qEnd + 1] = UInt8(qEnd) }),
                ("pointer forward out of range", patched { $0[qEnd] = 0xFF; $0[qEnd + 1] = 0xFF }),
                ("qdcount 2", patched { $0[5] = 2 }),
                ("label length 63 past the end", patched { $0[12] = 63 }),
                ("A rdlength 5", patched { $0[qEnd + 11] = 5 }),
            ]
            let responder = try w.dns.namespace.perform { try FakeDNSServer(address: fake) }
            defer { responder.stop() }
            let before = try await w.agent.counters()
            for (label, message) in mutations {
                responder.reply = message
                let answer = try w.pod.namespace.perform {
                    try SocketClient.dnsQuery(DNSMessageBuilder.query(name: "web1.demo.test", id: 7), server: fake, timeout: 1)
                }
                #expect(try await w.learned().isEmpty, "\(label): nothing learned")
                #expect(try w.connectResult(w.web1.ipv4) == ETIMEDOUT, "\(label): still denied (answer \(answer?.count ?? -1) bytes)")
            }
            let after = try await w.agent.counters()
            func d(_ c: Counter) -> UInt64 { (after[c] ?? 0) - (before[c] ?? 0) }
            print("[resilience] malformed: responses +\(d(.dnsResponses)) malformed +\(d(.dnsResponsesMalformed)) not credited +\(d(.dnsResponsesNotCredited)) mismatch +\(d(.dnsResponsesQnameMismatch)) learned +\(d(.addressesLearned))")
            #expect(d(.addressesLearned) == 0)
            #expect(d(.dnsResponsesMalformed) + d(.dnsResponsesNotCredited) + d(.dnsResponsesQnameMismatch) >= UInt64(mutations.count))
            // Breaks nothing: the same server's good answer, then Knot's, are learned.
            responder.reply = good
            #expect(try w.pod.namespace.perform {
                try SocketClient.dnsQuery(DNSMessageBuilder.query(name: "web1.demo.test", id: 7), server: fake, timeout: 1)
            } != nil)
            #expect(try w.connectResult(w.web1.ipv4) == 0)
            try await w.agent.flushLearned(endpoint: "pod0")
            #expect(try w.resolve("web1.demo.test")?.credited.count == 1)
            #expect(try w.connectResult(w.web1.ipv4) == 0)
        }
    }

    /// The pod's interface disappears (pod deleted) and comes back with the same name (pod
    /// restarted) while the agent is down: the new agent must attach to the new interface.
    @Test(.kernel, .timeLimit(.minutes(2)))
    func interfaceThatDisappearsAndComesBack() async throws {
        try await World.with(records: [], policy: Self.webOnlyPolicy) { w in
            #expect(try w.connectResult(w.web1.ipv4) == ETIMEDOUT)
            // The interface goes away: the other endpoint, GC and status go on.
            try w.topology.node.run(["ip", "link", "del", w.pod.nodeInterface])
            _ = try await w.agent.collectGarbage()
            #expect(try w.connectResult(w.web1.ipv4, pod: 1) == ETIMEDOUT, "pod1 still enforced")
            #expect(try w.resolve("web1.demo.test", pod: 1)?.credited.count == 1)
            #expect(try w.connectResult(w.web1.ipv4, pod: 1) == 0)
            try await w.agent.shutdown()
            // Same name again, new ifindex, then a new agent adopts the pinned state.
            try runCommand(["ip", "link", "add", w.pod.nodeInterface, "netns", w.topology.node.name, "type", "veth", "peer", "name", "eth0", "netns", w.pod.namespace.name])
            try w.topology.node.run(["ip", "addr", "add", "\(w.pod.gateway4)/24", "dev", w.pod.nodeInterface])
            try w.topology.node.run(["ip", "link", "set", w.pod.nodeInterface, "up"])
            try w.pod.namespace.run(["ip", "addr", "add", "\(w.pod.ipv4)/24", "dev", "eth0"])
            try w.pod.namespace.run(["ip", "link", "set", "eth0", "up"])
            try w.pod.namespace.run(["ip", "route", "add", "default", "via", w.pod.gateway4])
            let second = try PolicyAgent(configuration: w.agent.configuration)
            try await w.addPodEndpoints(to: second)
            try await second.apply([Self.webOnlyPolicy])
            #expect(try w.connectResult(w.web1.ipv4) == ETIMEDOUT, "the recreated interface is enforced")
            #expect(try w.resolve("web1.demo.test")?.credited.count == 1)
            #expect(try w.connectResult(w.web1.ipv4) == 0)
            #expect(try w.connectResult(w.web1.ipv4, pod: 1) == 0, "pod1's learned state kept")
            try await second.shutdown(removeDatapath: true)
        }
    }

    /// The agent's stdout blocks (a pipe nobody reads) while the pod floods denied packets,
    /// one `denied` event each: the agent reads ahead a bounded number of events (65,536), the
    /// kernel's ring holds ~3,100 more and counts the rest in `events_lost`. DNS and
    /// enforcement are unaffected, and SIGTERM still stops the agent at once.
    @Test(.kernel, .timeLimit(.minutes(3)))
    func blockedEventOutputKeepsTheAgentBounded() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.fqdnctl))
        try await World.with(records: [], policy: Self.webOnlyPolicy, pods: 1, inProcessAgent: false) { w in
            let policyPath = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-blocked-\(getpid()).yaml").path
            try PolicyDocument.yaml([Self.webOnlyPolicy]).write(toFile: policyPath, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: policyPath) }
            let stdout = Pipe()  // never read: the agent's writes block once its 64 KiB are full
            defer { try? Datapath.remove(pinDirectory: w.pin) }
            let agent = try AgentProcess(arguments: [
                "--policy", policyPath, "--pin", w.pin, "--dns-server", w.dns.ipv4,
                "--endpoint", "pod0:iface=\(w.pod.nodeInterface),netns=\(w.topology.node.name),labels=app=pod0",
            ], stdout: stdout.fileHandleForWriting)
            defer { agent.stop() }
            try #require(try await agent.waitReady(), "\(agent.log)")
            let before = try Self.metrics(pin: w.pin)

            let sent = try w.pod.namespace.perform { try SocketClient.udpFlood(to: w.web1.ipv4, port: 9, count: 150_000) }
            #expect(try w.connectResult(w.web1.ipv4) == ETIMEDOUT, "still enforced")
            #expect(try w.resolve("web1.demo.test")?.credited.count == 1, "DNS answered and learned")
            #expect(try w.connectResult(w.web1.ipv4) == 0)
            try await Task.sleep(for: .seconds(1))

            let after = try Self.metrics(pin: w.pin)
            func delta(_ c: Counter) -> UInt64 { (after[c] ?? 0) - (before[c] ?? 0) }
            #expect(sent > 100_000, "\(sent) sent")
            #expect(delta(.egressDenied) >= UInt64(sent), "every flood packet denied")
            // What the agent and the kernel's ring can hold: 65,536 read ahead, ~3,100 in the
            // 1 MiB ring, a few hundred in the pipe. An unbounded reader would lose ~none.
            #expect(delta(.eventsLost) + 75_000 >= UInt64(sent), "lost \(delta(.eventsLost)) of \(sent)")
            let status = (try? String(contentsOfFile: "/proc/\(agent.process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? "?"
            print("blockedEventOutputKeepsTheAgentBounded: \(sent) sent, \(delta(.eventsLost)) events lost, agent \(rss)")

            agent.kill(SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while agent.process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!agent.process.isRunning, "SIGTERM stops an agent whose stdout is blocked")
            if !agent.process.isRunning { #expect(agent.process.terminationStatus == 0, "\(agent.log)") }
            _ = stdout.fileHandleForReading
        }
    }

    static let webOnlyPolicy = FQDNPolicy(name: "web", egress: [EgressRule(toFQDNs: .names("web1.demo.test"))],
                                          dnsRules: .names("web1.demo.test"))

    /// A second `fqdnctl agent` on a pin directory whose agent runs is refused; missing bpffs
    /// or no datapath is a clear error of the inspection commands.
    @Test(.kernel, .timeLimit(.minutes(3)))
    func secondAgentAndMissingDatapath() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.fqdnctl))
        let missing = try runCommand([Self.fqdnctl, "metrics", "--pin", "/sys/fs/bpf/fqdn-test-nothing-\(getpid())"], check: false)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no FQDNPolicy datapath is pinned"), "\(missing)")
        let notBPFFS = try runCommand([Self.fqdnctl, "status", "--pin", "/tmp/fqdn-not-bpffs-\(getpid())"], check: false)
        #expect(notBPFFS.status != 0)
        #expect(notBPFFS.stderr.contains("no FQDNPolicy datapath is pinned"), "\(notBPFFS)")
        // A pin directory outside bpffs: refused before anything is loaded or attached.
        let policyFile = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-pol-\(getpid()).yaml").path
        try PolicyDocument.yaml([Self.webOnlyPolicy]).write(toFile: policyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: policyFile) }
        let outside = "/tmp/fqdn-not-bpffs-agent-\(getpid())"
        let notPinned = try runCommand([Self.fqdnctl, "agent", "--policy", policyFile, "--endpoint", "x:iface=nosuchif0",
                                        "--dns-server", "10.9.9.9", "--pin", outside], check: false)
        #expect(notPinned.status == 1)
        #expect(notPinned.stderr.contains("not on a bpffs"), "\(notPinned)")
        #expect(!FileManager.default.fileExists(atPath: outside))
        let grace1 = try runCommand([Self.fqdnctl, "agent", "--policy", policyFile, "--endpoint", "x:iface=nosuchif0",
                                     "--dns-server", "10.9.9.9", "--flow-grace", "1"], check: false)
        #expect(grace1.status != 0)
        #expect(grace1.stderr.contains("--flow-grace must be 0 (off) or at least 2"), "\(grace1)")
        try await World.with(records: [], policy: Self.webOnlyPolicy, pods: 1, inProcessAgent: false) { w in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-second-\(getpid())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try PolicyDocument.yaml([Self.webOnlyPolicy]).write(toFile: "\(dir)/policy.yaml", atomically: true, encoding: .utf8)
            let args = ["--policy", "\(dir)/policy.yaml", "--pin", w.pin,
                        "--endpoint", "pod0:iface=\(w.pod.nodeInterface),netns=\(w.topology.node.name)",
                        "--dns-server", w.dns.ipv4]
            defer { try? Datapath.remove(pinDirectory: w.pin) }
            let first = try AgentProcess(arguments: args)
            defer { first.stop() }
            let ready = try await first.waitReady()
            try #require(ready, "\(first.log)")
            let second = try runCommand([Self.fqdnctl, "agent"] + args, check: false)
            #expect(second.status == 1, "\(second)")
            #expect(second.stderr.contains("another agent"), "\(second)")
            #expect(first.process.isRunning)
            #expect(try w.connectResult(w.web1.ipv4) == ETIMEDOUT)
            // After the first agent is killed, a new one may take over.
            first.kill(SIGKILL)
            first.process.waitUntilExit()
            let third = try AgentProcess(arguments: args)
            defer { third.stop() }
            let thirdReady = try await third.waitReady()
            #expect(thirdReady, "\(third.log)")
            #expect(third.log.contains("adopted"))
        }
    }
}

/// A TCP echo server (call the initializer inside the server's namespace): every connection
/// gets its bytes back until it closes.
final class EchoServer: @unchecked Sendable {
    let fd: Int32

    init(port: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketClient.SocketError.call("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        let b = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard b == 0, listen(fd, 16) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw SocketClient.SocketError.call("bind/listen", e)
        }
        self.fd = fd
        Thread {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { if errno == EINTR { continue }; return }
                Thread {
                    var buf = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let n = recv(c, &buf, buf.count, 0)
                        if n <= 0 { break }
                        _ = send(c, buf, n, Int32(MSG_NOSIGNAL))
                    }
                    Glibc.close(c)
                }.start()
            }
        }.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// A long-lived TCP client connection (made inside the client's namespace).
final class EchoConnection: @unchecked Sendable {
    let fd: Int32

    init(to address: String, port: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketClient.SocketError.call("socket", errno) }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &sa.sin_addr) == 1 else { Glibc.close(fd); throw SocketClient.SocketError.address(address) }
        let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { let e = errno; Glibc.close(fd); throw SocketClient.SocketError.call("connect", e) }
        self.fd = fd
    }

    /// Sends `text` and waits (1 s) for the same bytes back.
    func roundTrip(_ text: String) throws -> Bool {
        let bytes = Array(text.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return false }
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while got.count < bytes.count {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return false }
            got += buf.prefix(n)
        }
        return got == bytes
    }

    func close() { Glibc.close(fd) }
}

/// Answers every UDP query at `address`:53 with `reply` (its id replaced by the query's).
final class FakeDNSServer: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var _reply: [UInt8] = []
    var reply: [UInt8] {
        get { lock.withLock { _reply } }
        set { lock.withLock { _reply = newValue } }
    }

    init(address: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SocketClient.SocketError.call("socket", errno) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(53).bigEndian
        inet_pton(AF_INET, address, &sa.sin_addr)
        let b = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard b == 0 else { let e = errno; Glibc.close(fd); throw SocketClient.SocketError.call("bind", e) }
        self.fd = fd
        Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 4096)
            var from = sockaddr_storage()
            while true {
                var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &len) } }
                if n < 0 { if errno == EINTR { continue }; return }
                var out = self.reply
                if out.count >= 2 && n >= 2 { out[0] = buf[0]; out[1] = buf[1] }
                _ = withUnsafePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, out, out.count, 0, $0, len) } }
            }
        }.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// The world of these tests: `pods` pods (endpoints pod0/pod1, labels app=podN), Knot on the
/// DNS host (zone demo.test with web1 plus `records`, IPv4), one web host (TCP 80) and, unless
/// `inProcessAgent` is false, an in-process agent with `policy` applied.
typealias World = TestWorld

extension TestWorld {
    static func with(records: [String], policy: FQDNPolicy, pods podCount: Int = 2, extraServers: [String] = [],
                     inProcessAgent: Bool = true, flowGrace: UInt32 = 300, _ body: (TestWorld) async throws -> Void) async throws {
        var options = Options()
        options.pods = podCount
        options.zones = [KnotServer.Zone(origin: "demo.test", records: ["web1 A 10.220.1.2"] + records)]
        options.dnsOverIPv6 = false
        options.webHosts = 1
        options.agent = inProcessAgent
        options.extraServers = extraServers
        options.flowGrace = flowGrace
        options.policies = [policy]
        try await with(options, body)
    }
}

/// `struct fqdn_allow4_key` with the address split (a test-only filler key).
struct Allow4Key: BPFPlainData, Hashable {
    var endpoint: UInt32
    var a: UInt8, b: UInt8, c: UInt8, d: UInt8
    init(endpoint: UInt32, a: UInt8, b: UInt8, c: UInt8, d: UInt8, e: UInt32) {
        self.endpoint = endpoint &+ e
        self.a = a; self.b = b; self.c = c; self.d = d
    }
}

/// `struct fqdn_allow`.
struct AllowValue: BPFPlainData {
    var expiry: UInt64, nameHash: UInt64, policy: UInt32, mask: UInt32, ttl: UInt32, pad: UInt32
}
