import FQDNPolicyTesting
import Foundation
import PolicyEngine
import Synchronization
import Testing

/// Fail closed against a hostile pod (issue 15, Documentation/Security.md): raw frames sent
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
            "--target4", env.web2.ipv4, "--target6", env.web2.ipv6, "--dns4", env.dns.ipv4, "--scenario", scenario,
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
        try await Environment.with(policyYAML: policy) { env in
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

    /// Random frames for a fixed time toward a never-resolved address and the trusted server,
    /// while the pod's allowed traffic goes on: nothing with the marker may arrive, and no
    /// allowed lookup or connection may fail.
    @Test(.kernel, .timeLimit(.minutes(4)))
    func randomFramesNeverPassAndAllowedTrafficGoesOn() async throws {
        try await Environment.with(policyYAML: Self.policy) { env in
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
