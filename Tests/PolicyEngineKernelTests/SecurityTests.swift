import FQDNPolicyTesting
import Foundation
import PolicyEngine
import Synchronization
import Testing

/// Fail closed against a hostile pod (Documentation/Security.md): raw frames sent
/// from a pod's namespace as a pod with CAP_NET_RAW would (Tests/Security/hostile_pod.py, with
/// scapy), counted where they would arrive. Each class runs twice: from pod0 (an enforcing
/// veth endpoint: nothing may arrive) and from a control pod with no endpoint on the same
/// node (the frames do arrive: the attack is real, and only the datapath stops it).
@Suite(.serialized) struct SecurityTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Security/hostile_pod.py").path

    /// pod0 may query web1 (and the other test names) and reach web1 on TCP 80 and 7000.
    static let policy = UpgradeTests.policy

    struct Outcome: Decodable {
        var sent: Int
        var marker: String
        var arrived: [String: Int]
        var samples: [[String: String]]
    }

    static func mac(_ ns: TestNamespace, _ interface: String) throws -> String {
        try ns.run(["cat", "/sys/class/net/\(interface)/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs one scenario of the hostile pod from `pod`, counting arrivals in `sinks`.
    static func attack(_ env: Environment, from pod: NodeTopology.Member, scenario: String, sinks: [NodeTopology.Member],
                       extra: [String] = []) throws -> Outcome {
        var args = [
            "/usr/bin/python3", script, "--pod", pod.namespace.name, "--pod-mac", try mac(pod.namespace, pod.interface),
            "--gateway-mac", try mac(env.topology.node, pod.nodeInterface), "--src4", pod.ipv4, "--src6", pod.ipv6,
            "--target4", env.web2.ipv4, "--target6", env.web2.ipv6, "--dns4", env.dns.ipv4, "--dns6", env.dns.ipv6,
            "--scenario", scenario,
        ]
        for s in sinks { args += ["--sink", s.namespace.name] }
        let r = try runCommand(args + extra)
        let line = try #require(r.stdout.split(separator: "\n").last, "the hostile pod printed nothing: \(r)")
        return try JSONDecoder().decode(Outcome.self, from: Data(line.utf8))
    }

    /// The same frames from pod0 (enforced) and from a pod without an endpoint.
    static func enforcedAndControl(scenario: String, sinks: (Environment) -> [NodeTopology.Member],
                                   extra: [String] = [],
                                   check: (Environment, Outcome, Outcome) async throws -> Void) async throws {
        try await Environment.with(policies: [policy]) { env in
            let control = try env.topology.addPod()
            let before = try await env.counters()
            let enforced = try attack(env, from: env.pods[0], scenario: scenario, sinks: sinks(env), extra: extra)
            let after = try await env.counters()
            let open = try attack(env, from: control, scenario: scenario, sinks: sinks(env), extra: extra)
            #expect(enforced.sent > 0)
            for s in sinks(env) {
                #expect(enforced.arrived[s.namespace.name] == 0,
                        "\(scenario): \(enforced.arrived[s.namespace.name] ?? -1) frames reached \(s.namespace.name) past the datapath: \(enforced.samples)")
                #expect((open.arrived[s.namespace.name] ?? 0) > 0, "\(scenario): the control pod's frames must arrive (the attack is real)")
            }
            var delta: [Counter: UInt64] = [:]
            for (c, v) in after { delta[c] = v - (before[c] ?? 0) }
            try await check(env, enforced, open)
            try await countersCheck(scenario, delta, sent: enforced.sent)
            // Allowed traffic still works after the attack.
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
            #expect(try env.connects(env.web1.ipv4))
        }
    }

    static func countersCheck(_ scenario: String, _ d: [Counter: UInt64], sent: Int) async throws {
        switch scenario {
        case "vlan", "nd":
            // Every frame is dropped as unclassified (its own counter, also in egressDenied).
            #expect(d[.egressDeniedUnclassified] == UInt64(sent), "\(scenario): \(d)")
            #expect(d[.egressDenied] == UInt64(sent))
        case "dns":
            #expect(d[.dnsQueriesRejected] == UInt64(sent), "\(scenario): \(d)")
            #expect(d[.egressAllowedDNS] == 0)
        case "reply":
            #expect(d[.egressDenied] == UInt64(sent), "\(scenario): \(d)")
            #expect(d[.egressAllowedReply] == 0)
        case "spoof":
            #expect(d[.egressDeniedSpoofed] == UInt64(sent), "\(scenario): \(d)")
            #expect(d[.egressDenied] == UInt64(sent))
            #expect(d[.egressAllowedDNS] == 0)
        default: break
        }
    }

    @Test(.kernel, .timeLimit(.minutes(3)))
    func vlanAndQinQFramesAreDropped() async throws {
        try await Self.enforcedAndControl(scenario: "vlan", sinks: { [$0.web2] }) { _, _, _ in }
    }

    @Test(.kernel, .timeLimit(.minutes(3)))
    func neighbourDiscoveryCannotLeaveTheLink() async throws {
        try await Self.enforcedAndControl(scenario: "nd", sinks: { [$0.web2] }) { env, _, _ in
            // The pod's own IPv6 still works: neighbour discovery on its link passes (the
            // node resolves the pod from its global address, the pod answers to it).
            try env.topology.node.run(["ip", "-6", "neigh", "flush", "dev", env.pods[0].nodeInterface])
            try env.pods[0].namespace.run(["ip", "-6", "neigh", "flush", "dev", env.pods[0].interface])
            #expect(try env.resolve("web1.demo.test", type: 28)?.rcode == 0)
            #expect(try env.connects(env.web1.ipv6))
        }
    }

    @Test(.kernel, .timeLimit(.minutes(3)))
    func dnsTheRulesNeverCheckedDoesNotReachTheServer() async throws {
        try await Self.enforcedAndControl(scenario: "dns", sinks: { [$0.dns] }) { env, _, _ in
            // Real clients with EDNS (dig sends an OPT record with a cookie) still work.
            let dig = try env.pods[0].namespace.run(["dig", "+short", "+tries=1", "+time=2", "@\(env.dns.ipv4)", "web1.demo.test", "A"])
            #expect(dig.stdout.contains(env.web1.ipv4), "dig with EDNS: \(dig.stdout)")
            let noEDNS = try env.pods[0].namespace.run(["dig", "+short", "+noedns", "+tries=1", "+time=2", "@\(env.dns.ipv4)", "web1.demo.test", "A"])
            #expect(noEDNS.stdout.contains(env.web1.ipv4))
        }
    }

    @Test(.kernel, .timeLimit(.minutes(3)))
    func forgedRepliesAreDroppedRealOnesPass() async throws {
        try await Self.enforcedAndControl(scenario: "reply", sinks: { [$0.web2] }) { env, _, _ in
            // A server in the pod answers a client that connected to it (SYN-ACK and data
            // leave as replies), over IPv4 and IPv6; the pod still cannot open to that client.
            let server = try env.pods[0].namespace.perform { try SocketClient.Listener(port: 8080) }
            defer { server.stop() }
            let before = try await env.counters()
            #expect(try env.web2.namespace.perform { try SocketClient.canConnect(to: env.pods[0].ipv4, port: 8080) })
            #expect(try env.web2.namespace.perform { try SocketClient.canConnect(to: env.pods[0].ipv6, port: 8080) })
            let after = try await env.counters()
            #expect((after[.egressAllowedReply] ?? 0) > (before[.egressAllowedReply] ?? 0))
            #expect(try !env.connects(env.web2.ipv4, port: 80), "the pod opening a connection is no reply")
        }
    }

    /// Class 4: allowed queries to the trusted server with another host's source address (the
    /// server would answer that host: a reflection channel) or another pod's, IPv4 and IPv6.
    @Test(.kernel, .timeLimit(.minutes(3)))
    func spoofedSourcesDoNotLeaveThePod() async throws {
        try await Self.enforcedAndControl(scenario: "spoof", sinks: { [$0.dns] }) { env, _, _ in
            // The endpoint's addresses were read from the pod side of its veth.
            let sources = try #require(await env.agent.sourceAddresses(of: "pod0"))
            #expect(Set(sources) == Set([env.pods[0].ipv4, env.pods[0].ipv6].compactMap(IPNetwork.parseAddress)))
            // The very same queries from the pod's own addresses arrive: only the source decided.
            let own = try Self.attack(env, from: env.pods[0], scenario: "own-source", sinks: [env.dns])
            #expect(own.arrived[env.dns.namespace.name] == own.sent, "\(own)")
        }
    }

    /// Source addresses given explicitly (`.fixed`: here only the pod's IPv4 address, so its
    /// IPv6 traffic is spoofed by definition), and the clear errors when they cannot be had.
    @Test(.kernel, .timeLimit(.minutes(3)))
    func sourceAddressesGivenOrDiscoveredWithClearErrors() async throws {
        try await Environment.with(policies: [Self.policy]) { env in
            let pod = try env.topology.addPod()
            try await env.agent.addEndpoint(Endpoint(
                name: "v4only", attachment: .veth(interface: pod.nodeInterface, namespace: env.topology.node.name),
                labels: ["app": "pod0"], sourceAddresses: .fixed([IPNetwork.parseAddress(pod.ipv4)!])))
            let v4 = try pod.namespace.perform { try SocketClient.dnsQuery(DNSMessageBuilder.query(name: "web1.demo.test", id: 7), server: env.dns.ipv4, timeout: 2) }
            #expect(v4 != nil, "IPv4 from the given address")
            let before = try await env.counters()
            let v6 = try pod.namespace.perform { try SocketClient.dnsQuery(DNSMessageBuilder.query(name: "web1.demo.test", id: 8), server: env.dns.ipv6, timeout: 1) }
            #expect(v6 == nil, "IPv6 from an address the endpoint was not given")
            #expect((try await env.counters()[.egressDeniedSpoofed] ?? 0) > (before[.egressDeniedSpoofed] ?? 0))

            // A veth whose pod side has no address yet: refused, named, nothing added.
            let bare = try env.topology.fixture.makeNamespace()
            let hostSide = "bare\(UInt16.random(in: 1000...9999))"
            try runCommand(["ip", "link", "add", hostSide, "netns", env.topology.node.name, "type", "veth", "peer", "name", "eth0", "netns", bare.name])
            let noAddress = Endpoint(name: "bare", attachment: .veth(interface: hostSide, namespace: env.topology.node.name), labels: ["app": "pod0"])
            do {
                _ = try await env.agent.addEndpoint(noAddress)
                Issue.record("an endpoint without source addresses was added")
            } catch {
                #expect("\(error)".contains("has no IPv4 or global IPv6 address yet") && "\(error)".contains(hostSide), "\(error)")
            }
            #expect(await !env.agent.endpointList().contains { $0.name == "bare" })
            // The same veth with its sources off is accepted (the operator said so).
            var unchecked = noAddress
            unchecked.sourceAddresses = .unchecked
            _ = try await env.agent.addEndpoint(unchecked)
            #expect(await env.agent.sourceAddresses(of: "bare") == nil)
            // Nothing to discover for a cgroup endpoint.
            do {
                _ = try await env.agent.addEndpoint(Endpoint(name: "cg", attachment: .cgroup(path: "/sys/fs/cgroup"), sourceAddresses: .discover))
                Issue.record("discover on a cgroup endpoint was accepted")
            } catch {
                #expect("\(error)".contains("cannot be discovered for a cgroup endpoint"), "\(error)")
            }
        }
    }

    static func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = [], i = hex.startIndex
        while i < hex.endIndex, let j = hex.index(i, offsetBy: 2, limitedBy: hex.endIndex) {
            out.append(UInt8(hex[i..<j], radix: 16) ?? 0)
            i = j
        }
        return out
    }

    /// Class 5: the pod knows the port and id of its query, tells an accomplice off the node,
    /// and the real answer never comes (here the server's route back to the pod is a
    /// blackhole; a pod gets the same with IP TTL 1). The accomplice's forged answers, from
    /// the server's address, with the pod's values and 2,000 random guesses, teach nothing:
    /// the query left with a port and id the kernel drew. The control: the same forgery with
    /// the kernel's values (read at the server, which no pod can) is learned.
    @Test(.kernel, .timeLimit(.minutes(3)))
    func answersToAQueryThePodKnowsCannotBeForged() async throws {
        try await Environment.with(policies: [Self.policy]) { env in
            let pod = env.pods[0], blackhole = ["blackhole", "\(env.pods[0].ipv4)/32"]
            try env.dns.namespace.run(["ip", "route", "add"] + blackhole)
            defer { _ = try? env.dns.namespace.run(["ip", "route", "del"] + blackhole) }
            /// The pod's query (port 40000, id 0x1234) and the port and id the server saw.
            func query() throws -> (port: UInt16, id: UInt16) {
                let q = try Self.attack(env, from: pod, scenario: "query", sinks: [env.dns], extra: ["--repeat", "1"])
                #expect(q.arrived[env.dns.namespace.name] == 1, "\(q)")
                let frame = Self.bytes(hex: try #require(q.samples.first?["bytes"]))
                try #require(frame.count >= 44)
                return (Self.be16(frame, 34), Self.be16(frame, 42))
            }
            func forge(_ pairs: [(UInt16, UInt16)], random: Int) throws -> Outcome {
                var extra = ["--repeat", "1", "--target4", pod.ipv4, "--forge-addr", env.web2.ipv4, "--forge-random", "\(random)",
                             "--seed", "\(UInt32.random(in: 1...UInt32.max))"]
                for (port, id) in pairs { extra += ["--forge", "\(port):\(id)"] }
                return try Self.attack(env, from: env.web2, scenario: "forge", sinks: [pod], extra: extra)
            }
            let first = try query()
            #expect(first != (40000, 0x1234), "the query left with the pod's own port and id")
            let before = try await env.counters()
            let guesses = try forge([(40000, 0x1234)], random: 2000)
            let after = try await env.counters()
            #expect(guesses.sent == 2001)
            #expect((guesses.arrived[pod.namespace.name] ?? 0) > 0, "the forged answers reach the pod: \(guesses.arrived)")
            #expect(try await env.learned().isEmpty, "a forged answer was learned")
            let missed = (after[.dnsResponsesNoInflight] ?? 0) - (before[.dnsResponsesNoInflight] ?? 0)
            let consumed = (after[.dnsResponsesIdMismatch] ?? 0) - (before[.dnsResponsesIdMismatch] ?? 0)
            #expect(missed + consumed == 2001 && consumed <= 1, "no in-flight \(missed), id mismatch \(consumed)")
            #expect(try !env.connects(env.web2.ipv4))

            // Control: a second query (the same port and id from the pod, other values on the
            // wire), forged with exactly the values the server saw.
            let second = try query()
            #expect(second != first)
            let exact = try forge([second], random: 0)
            #expect(exact.arrived[pod.namespace.name] == 1)
            #expect(try await env.learned() == ["web1.demo.test": [env.web2.ipv4]], "the control forgery must teach")
            #expect(try env.connects(env.web2.ipv4))
        }
    }

    /// Class 5, the leak: a query sent with IP TTL (hop limit) 1 dies at the node, which sends
    /// the pod ICMP time exceeded quoting the query as it left, drawn port and id included.
    /// Errors toward an enforcing pod that quote its UDP to a trusted DNS server are dropped;
    /// the control pod (no endpoint) does get them.
    @Test(.kernel, .timeLimit(.minutes(3)))
    func icmpErrorsNeverShowTheDrawnPortAndID() async throws {
        try await Environment.with(policies: [Self.policy]) { env in
            let control = try env.topology.addPod()
            let enforced = try Self.attack(env, from: env.pods[0], scenario: "query-ttl1", sinks: [env.pods[0]])
            let open = try Self.attack(env, from: control, scenario: "query-ttl1", sinks: [control])
            #expect(enforced.sent == 6)
            #expect(enforced.arrived[env.pods[0].namespace.name] == 0, "ICMP quoting the drawn values reached the pod: \(enforced.samples)")
            #expect((open.arrived[control.namespace.name] ?? 0) > 0, "the node answers TTL 1 with time exceeded (the leak is real)")
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
            #expect(try env.connects(env.web1.ipv4))
        }
    }

    /// Random frames for a fixed time toward a never-resolved address and the trusted server,
    /// while the pod's allowed traffic goes on: nothing with the marker may arrive, and no
    /// allowed lookup or connection may fail.
    @Test(.kernel, .timeLimit(.minutes(4)))
    func randomFramesNeverPassAndAllowedTrafficGoesOn() async throws {
        try await Environment.with(policies: [Self.policy]) { env in
            let seed = UInt32.random(in: 1...UInt32.max)
            let attackerDone = Mutex<Outcome?>(nil)
            let attackerError = Mutex<String?>(nil)
            let t = Thread {
                do { attackerDone.withLock { $0 = try? Self.attack(env, from: env.pods[0], scenario: "random", sinks: [env.web2, env.dns],
                                                                       extra: ["--seconds", "8", "--seed", "\(seed)"]) } }
                if attackerDone.withLock({ $0 }) == nil { attackerError.withLock { $0 = "the hostile pod script failed" } }
            }
            t.start()
            var lookups = 0, failures = 0
            let deadline = Date().addingTimeInterval(7)
            while Date() < deadline {
                lookups += 1
                if try env.resolve("web1.demo.test")?.rcode != 0 { failures += 1 }
                if try !env.connects(env.web1.ipv4) { failures += 1 }
            }
            while attackerDone.withLock({ $0 }) == nil && attackerError.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(100)) }
            let outcome = try #require(attackerDone.withLock { $0 }, "\(attackerError.withLock { $0 } ?? "")")
            print("random frames: seed \(seed), \(outcome.sent) sent, \(lookups) allowed lookups + connects, \(failures) failed")
            #expect(outcome.sent > 1000)
            #expect(outcome.arrived[env.web2.namespace.name] == 0, "seed \(seed): \(outcome.samples)")
            #expect(outcome.arrived[env.dns.namespace.name] == 0, "seed \(seed): \(outcome.samples)")
            #expect(lookups > 10)
            #expect(failures == 0, "seed \(seed): allowed traffic failed during the attack")
        }
    }
}
