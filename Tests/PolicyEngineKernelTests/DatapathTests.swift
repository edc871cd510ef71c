import DNSWire
import FQDNPolicyTesting
import Foundation
import PolicyEngine
import Testing

/// FQDN egress policy end to end on the real kernel: namespaces made by the test, a real
/// Knot DNS server, real sockets. Every test builds its own `Environment` (and removes it).
@Suite(.serialized) struct DatapathTests {
    /// The names the pods may query in these tests (and nothing else).
    static let dnsNames: [FQDNSelector] = .names(
        "web1.demo.test", "short.demo.test", "alias.demo.test", "backend.demo.test", "web2-allowed-query.demo.test")

    /// web1.demo.test allowed (on TCP `port`; nil: every port), `extra` rules, the DNS names.
    static func allowWeb1(port: UInt16? = 80, app: String = "pod0", name: String = "test", extra: [EgressRule] = [],
                          refusedQueryAction: RefusedQueryAction = .refused) -> FQDNPolicy {
        let web1 = EgressRule(toFQDNs: .names("web1.demo.test"), toPorts: port.map { [.tcp($0)] } ?? [])
        return .forApp(app, name: name, egress: [web1] + extra, dns: dnsNames, refusedQueryAction: refusedQueryAction)
    }

    /// `names` allowed on every port, the DNS names.
    static func allow(_ names: [FQDNSelector], app: String = "pod0", name: String = "test", minTTL: UInt32 = FQDNPolicy.defaultMinTTL) -> FQDNPolicy {
        .forApp(app, name: name, egress: [EgressRule(toFQDNs: names)], dns: dnsNames, minTTL: minTTL)
    }

    // MARK: - Allowed names

    @Test(.kernel, .timeLimit(.minutes(5)))
    func firstConnectAfterAnswerNeverDropped() async throws {
        try await Environment.with(policies: [Self.allowWeb1()]) { env in
            let maps = env.agent.maps
            let id = try #require(await env.agent.endpointID(named: "pod0"))
            let query = { (n: Int) in DNSMessageBuilder.query(name: "web1.demo.test", id: UInt16(n + 1)) }
            let dnsServer = env.dns.ipv4, web = env.web1.ipv4
            // 1,000 cycles: forget what was learned, resolve, connect at once.
            let failures = try env.pods[0].namespace.perform { () throws -> [String] in
                var failures: [String] = []
                for n in 0..<1000 {
                    try maps.forgetLearned(endpointID: id)
                    guard let answer = try SocketClient.dnsQuery(query(n), server: dnsServer) else {
                        failures.append("cycle \(n): no DNS answer"); continue
                    }
                    let facts = ResponseFacts.extract(from: answer)
                    guard facts.credited.map({ "\($0.address)" }) == [web] else {
                        failures.append("cycle \(n): answer \(facts.credited)"); continue
                    }
                    let r = try SocketClient.connectResult(to: web, port: 80, timeout: 1)
                    if r != 0 { failures.append("cycle \(n): connect errno \(r)") }
                }
                return failures
            }
            #expect(failures.isEmpty, "\(failures.count) failed cycles: \(failures.prefix(5))")
            let c = try await env.counters()
            #expect((c[.addressesLearned] ?? 0) >= 1000)
            #expect((c[.egressAllowedLearned] ?? 0) >= 1000)
        }
    }

    /// The steady state: answers for a name already learned refresh its address in place (the
    /// expiry moves on), counted in `addresses_refreshed`; by default no event is sent for them,
    /// only for what changes. With `refreshEvents` each refresh is an event too.
    @Test(.kernel, arguments: [false, true])
    func refreshedAddressesAreCountedAndSentOnlyWhenAsked(refreshEvents: Bool) async throws {
        var options = TestWorld.Options()
        options.policies = [Self.allowWeb1()]
        options.refreshEvents = refreshEvents
        try await TestWorld.with(options) { env in
            let events = EventCollector(try env.agent.events())
            #expect(try env.resolve("web1.demo.test")?.addresses == ["10.220.1.2"])
            let first = try #require(try await env.agent.snapshot().first { $0.name == "web1.demo.test" }?.addresses.first)
            let before = try await env.counters()
            try await Task.sleep(for: .milliseconds(1100))
            for _ in 0..<3 { #expect(try env.resolve("web1.demo.test")?.rcode == 0) }
            let after = try await env.counters()
            #expect((after[.addressesRefreshed] ?? 0) - (before[.addressesRefreshed] ?? 0) == 3)
            #expect(after[.addressesLearned] == before[.addressesLearned], "no new entry")
            let now = try #require(try await env.agent.snapshot().first { $0.name == "web1.demo.test" }?.addresses.first)
            // 1.1 s passed: without the refresh the entry would expire 1.1 s sooner than it did.
            #expect(now.expiresIn > first.expiresIn - 0.5, "the refresh moved the expiry on: \(first.expiresIn) -> \(now.expiresIn)")
            #expect(try env.connects(env.web1.ipv4))
            // A denied connection as the marker: every event of the answers before it is in.
            #expect(try env.connects(env.web2.ipv4) == false)
            _ = try #require(try await events.first { $0.kind == .denied })
            let learned = events.all.filter { $0.kind == .learned }
            #expect(learned.filter { $0.reason == "new" }.count == 1)
            #expect(learned.filter { $0.reason == "refreshed" }.count == (refreshEvents ? 3 : 0), "\(learned)")
        }
    }

    // MARK: - Refused queries

    @Test(.kernel) func deniedQueryGetsRefusedFromTheKernel() async throws {
        try await Environment.with(policies: [Self.allowWeb1()]) { env in
            let events = EventCollector(try env.agent.events())
            let refused = try #require(try env.resolve("web2.demo.test"))
            #expect(refused.rcode == 5)
            #expect(refused.addresses.isEmpty)
            #expect(refused.facts.qr)
            // A real client sees the same.
            let kdig = try env.pods[0].namespace.run(["kdig", "@\(env.dns.ipv4)", "+time=2", "+retry=0", "web2.demo.test", "A"], check: false)
            #expect(kdig.stdout.contains("status: REFUSED"), "\(kdig.stdout)")
            // Knot never saw the queries: the kernel answered.
            let c = try await env.counters()
            #expect(c[.dnsQueriesRefused] == 2)
            #expect(c[.dnsResponses] == 0)
            // The allowed name still resolves.
            #expect(try env.resolve("web1.demo.test")?.addresses == ["10.220.1.2"])
            let seen = try await events.first { $0.kind == .queryRefused }
            #expect(seen?.name == "web2.demo.test")
            #expect(seen?.reason == "refused")
            #expect(seen?.endpoint == "pod0")
        }
    }

    @Test(.kernel) func nxdomainAndDropModes() async throws {
        try await Environment.with(policies: [Self.allowWeb1(refusedQueryAction: .nxdomain)]) { env in
            let r = try #require(try env.resolve("web2.demo.test"))
            #expect(r.rcode == 3)
            #expect(r.addresses.isEmpty)
            // AAAA over IPv6 is refused the same way.
            let r6 = try #require(try env.resolve("web2.demo.test", type: 28, server: env.dns.ipv6))
            #expect(r6.rcode == 3)
            #expect(try await env.counters()[.dnsQueriesRefused] == 2)

            try await env.agent.apply([Self.allowWeb1(refusedQueryAction: .drop)])
            #expect(try env.resolve("web2.demo.test", timeout: 1) == nil)
            #expect(try await env.counters()[.dnsQueriesDropped] == 1)
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
        }
    }

    // MARK: - Egress enforcement

    @Test(.kernel) func unlearnedAddressIsDropped() async throws {
        try await Environment.with(policies: [Self.allowWeb1()]) { env in
            let events = EventCollector(try env.agent.events())
            #expect(try env.connects(env.web1.ipv4) == false)  // not resolved yet
            #expect(try env.resolve("web1.demo.test")?.addresses == ["10.220.1.2"])
            #expect(try env.connects(env.web1.ipv4))
            #expect(try env.connects(env.web2.ipv4) == false)  // never resolved
            #expect(try env.connects(env.web2.ipv6) == false)
            let c = try await env.counters()
            #expect((c[.egressDenied] ?? 0) >= 3)
            let learned = try await events.first { $0.kind == .learned }
            #expect(learned?.name == "web1.demo.test")
            #expect(learned?.address == "10.220.1.2")
            #expect(learned?.ttl == 300)
            let denied = try await events.first { $0.kind == .denied && $0.address == env.web2.ipv4 }
            #expect(denied?.port == 80)
            #expect(denied?.proto == "tcp")
        }
    }

    @Test(.kernel) func learnedAddressExpiresWithItsTTL() async throws {
        try await Environment.with(policies: [Self.allow(.names("short.demo.test"))]) { env in
            let r = try #require(try env.resolve("short.demo.test"))
            #expect(r.facts.credited.first?.ttl == 2)
            #expect(try env.connects(env.web1.ipv4))
            try await Task.sleep(for: .milliseconds(3200))
            #expect(try env.connects(env.web1.ipv4) == false)
            #expect((try await env.counters()[.egressDeniedExpired] ?? 0) >= 1)
            let gc = try await env.agent.collectGarbage()
            #expect(gc.expiredAddresses == 1)
            #expect(gc.names == 1)
            #expect(try await env.learned().isEmpty)
            // A new answer allows it again.
            _ = try env.resolve("short.demo.test")
            #expect(try env.connects(env.web1.ipv4))
        }
    }

    @Test(.kernel) func minTTLKeepsShortAnswersAlive() async throws {
        try await Environment.with(policies: [Self.allow(.names("short.demo.test"), minTTL: 60)]) { env in
            _ = try #require(try env.resolve("short.demo.test"))
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try env.connects(env.web1.ipv4))
            let entry = try #require(try await env.agent.snapshot().first { $0.name == "short.demo.test" }?.addresses.first)
            #expect(entry.ttl == 2)
            #expect(entry.expiresIn > 50)
        }
    }

    @Test(.kernel) func cnameChainIsCreditedToTheQueriedNameOnly() async throws {
        try await Environment.with(policies: [Self.allow(.names("alias.demo.test"))]) { env in
            let r = try #require(try env.resolve("alias.demo.test"))
            #expect(r.facts.chain.map(\.description) == ["backend.demo.test"])
            #expect(r.addresses == ["10.220.2.2"])
            #expect(try env.connects(env.web2.ipv4))
            let learned = try await env.learned()
            #expect(learned == ["alias.demo.test": ["10.220.2.2"]])

            // The CNAME target is not a name the policy allows: answering it directly teaches nothing.
            try await env.agent.flushLearned(endpoint: "pod0")
            let direct = try #require(try env.resolve("backend.demo.test"))
            #expect(direct.addresses == ["10.220.2.2"])
            #expect(try env.connects(env.web2.ipv4) == false)
            #expect(try await env.learned().isEmpty)
        }
    }

    @Test(.kernel) func aaaaOverIPv6() async throws {
        try await Environment.with(policies: [Self.allowWeb1()]) { env in
            let r = try #require(try env.resolve("web1.demo.test", type: 28, server: env.dns.ipv6))
            #expect(r.addresses == ["fd10:220:1::2"])
            #expect(try env.connects(env.web1.ipv6))
            #expect(try env.connects(env.web2.ipv6) == false)
            #expect(try env.connects(env.web1.ipv4) == false)  // only the AAAA was asked for
            #expect(try await env.learned() == ["web1.demo.test": ["fd10:220:1::2"]])
        }
    }

    @Test(.kernel) func portRestriction() async throws {
        try await Environment.with(policies: [Self.allowWeb1(port: 80)]) { env in
            _ = try #require(try env.resolve("web1.demo.test"))
            #expect(try env.connects(env.web1.ipv4, port: 80))
            #expect(try env.connects(env.web1.ipv4, port: 8080) == false)
            #expect((try await env.counters()[.egressDeniedPort] ?? 0) >= 1)
        }
    }

    @Test(.kernel) func cidrRuleWithExcept() async throws {
        let policy = Self.allowWeb1(extra: [.cidr("10.220.2.0/24", except: ["10.220.2.9/32"], ports: [.tcp(8080)])])
        try await Environment.with(policies: [policy]) { env in
            try env.topology.addAddress("10.220.2.9", to: env.web2)
            #expect(try env.connects(env.web2.ipv4, port: 8080))            // no DNS needed
            #expect(try env.connects(env.web2.ipv4, port: 80) == false)     // port
            #expect(try env.connects("10.220.2.9", port: 8080) == false)    // except hole
            #expect(try env.connects(env.web1.ipv4, port: 8080) == false)   // outside
            #expect((try await env.counters()[.egressAllowedCIDR] ?? 0) >= 1)
        }
    }

    // MARK: - Anti-spoofing

    @Test(.kernel) func spoofedAnswersAreNotLearned() async throws {
        try await Environment.with(policies: [Self.allowWeb1(port: nil)]) { env in
            let pod = PacketBuilder.Endpoint(env.pods[0].ipv4, port: 40000)
            let server = PacketBuilder.Endpoint(env.dns.ipv4, port: 53)
            let name = "web1.demo.test"
            // A query through the real program records it in flight and leaves with a port and
            // id the kernel drew (test_run: no packet sent; the rewritten query is its output).
            func query() async throws -> (port: UInt16, id: UInt16) {
                let packet = PacketBuilder.udp(from: pod, to: server, payload: DNSMessageBuilder.query(name: name, id: 0x1234))
                let q = try await env.agent.run(packet, through: .vethIngress, endpoint: "pod0")
                #expect(q.returnValue == 0)
                #expect(Self.udpChecksumIsValid(q.data), "the rewritten query's UDP checksum")
                let sent = (port: Self.be16(q.data, 34), id: Self.be16(q.data, 42))
                #expect(sent.port != 40000 || sent.id != 0x1234, "the query left with the pod's own port and id")
                #expect(sent.port >= 1024)
                return sent
            }
            func answer(id: UInt16, qname: String = name, from: PacketBuilder.Endpoint = server,
                        port: UInt16, address: String) -> [UInt8] {
                PacketBuilder.udp(from: from, to: .init(env.pods[0].ipv4, port: port), payload: DNSMessageBuilder.response(
                    id: id, name: qname, answers: [.a(name: qname, ttl: 300, address: address)]))
            }
            let first = try await query()
            // What the pod knows (its own port and id), and other near misses: no in-flight
            // query on their 5-tuple, so they teach nothing (and are delivered as they are).
            let misses: [(String, [UInt8])] = [
                ("the pod's own port and id", answer(id: 0x1234, port: 40000, address: "10.220.2.2")),
                ("another client port", answer(id: first.id, port: first.port &+ 1, address: "10.220.2.2")),
                ("wrong server port", answer(id: first.id, from: .init(env.dns.ipv4, port: 5353), port: first.port, address: "10.220.2.2")),
                ("untrusted server", answer(id: first.id, from: .init(env.rogue.ipv4, port: 53), port: first.port, address: "10.220.2.2")),
            ]
            for (what, packet) in misses {
                let r = try await env.agent.run(packet, through: .vethEgress, endpoint: "pod0")
                #expect(r.returnValue == 0, "\(what): delivered")
                #expect(try await env.learned().isEmpty, "\(what) was learned")
            }
            var c = try await env.counters()
            #expect(c[.dnsResponsesNoInflight] == 2)  // the pod's own values, another port
            #expect(c[.dnsResponsesUntrusted] == 1)
            // The right 5-tuple with a wrong id: dropped, and it consumes the query (one guess
            // per query): the genuine answer after it teaches nothing.
            let wrongID = try await env.agent.run(answer(id: first.id &+ 1, port: first.port, address: "10.220.2.2"), through: .vethEgress, endpoint: "pod0")
            #expect(wrongID.returnValue == 2, "a wrong id on the query's 5-tuple is dropped")
            let late = try await env.agent.run(answer(id: first.id, port: first.port, address: "10.220.1.2"), through: .vethEgress, endpoint: "pod0")
            #expect(late.returnValue == 0)
            #expect(try await env.learned().isEmpty, "an answer after the query was consumed taught")
            // Right port and id, another question: dropped, consumed.
            let second = try await query()
            let other = try await env.agent.run(answer(id: second.id, qname: "web2.demo.test", port: second.port, address: "10.220.2.2"), through: .vethEgress, endpoint: "pod0")
            #expect(other.returnValue == 2)
            c = try await env.counters()
            #expect(c[.dnsResponsesIdMismatch] == 2)
            #expect(try env.connects(env.web2.ipv4) == false)

            // The genuine answer (the port and id the server saw, the query's question) teaches
            // once and reaches the pod with the pod's own port and id, checksum intact.
            let third = try await query()
            let genuine = try await env.agent.run(answer(id: third.id, port: third.port, address: "10.220.1.2"), through: .vethEgress, endpoint: "pod0")
            #expect(genuine.returnValue == 0)
            #expect(Self.be16(genuine.data, 36) == 40000 && Self.be16(genuine.data, 42) == 0x1234, "restored port and id")
            #expect(Self.udpChecksumIsValid(genuine.data), "the restored answer's UDP checksum")
            #expect(try await env.learned() == [name: ["10.220.1.2"]])
            _ = try await env.agent.run(answer(id: third.id, port: third.port, address: "10.220.2.2"), through: .vethEgress, endpoint: "pod0")
            #expect(try await env.learned() == [name: ["10.220.1.2"]], "a replayed answer must not teach")
        }
    }

    /// An answer the parser cannot read (cut short in its record) on a randomised query's
    /// 5-tuple: with the server's id it still reaches the pod with the pod's port and id (the
    /// client sees what the server sent; nothing is learned); with another id it is dropped.
    @Test(.kernel) func unreadableAnswerToARandomisedQueryStillReachesThePod() async throws {
        try await Environment.with(policies: [Self.allowWeb1(port: nil)]) { env in
            let pod = PacketBuilder.Endpoint(env.pods[0].ipv4, port: 40000)
            let server = PacketBuilder.Endpoint(env.dns.ipv4, port: 53)
            let name = "web1.demo.test"
            for (wrongID, expected) in [(false, UInt32(0)), (true, UInt32(2))] {
                let packet = PacketBuilder.udp(from: pod, to: server, payload: DNSMessageBuilder.query(name: name, id: 0x4321))
                let q = try await env.agent.run(packet, through: .vethIngress, endpoint: "pod0")
                let sent = (port: Self.be16(q.data, 34), id: Self.be16(q.data, 42))
                let full = DNSMessageBuilder.response(id: sent.id &+ (wrongID ? 1 : 0), name: name, answers: [.a(name: name, ttl: 300, address: "10.220.1.2")])
                let cut = Array(full.dropLast(3))
                let before = try await env.counters()
                let r = try await env.agent.run(PacketBuilder.udp(from: server, to: .init(env.pods[0].ipv4, port: sent.port), payload: cut),
                                                through: .vethEgress, endpoint: "pod0")
                let after = try await env.counters()
                #expect(r.returnValue == expected, "wrong id: \(wrongID)")
                #expect((after[.dnsResponsesMalformed] ?? 0) - (before[.dnsResponsesMalformed] ?? 0) == 1)
                if !wrongID {
                    #expect(Self.be16(r.data, 36) == 40000 && Self.be16(r.data, 42) == 0x4321, "restored port and id")
                    #expect(Self.udpChecksumIsValid(r.data))
                } else {
                    #expect((after[.dnsResponsesIdMismatch] ?? 0) - (before[.dnsResponsesIdMismatch] ?? 0) == 1)
                }
                #expect(try await env.learned().isEmpty)
            }
        }
    }

    static func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }

    /// An Ethernet + IPv4 (20-byte header) + UDP frame's checksum, summed over the
    /// pseudo-header and the datagram as RFC 768 says (0 in the field: none).
    static func udpChecksumIsValid(_ frame: [UInt8]) -> Bool {
        let udp = Array(frame[34...])
        if udp[6] == 0 && udp[7] == 0 { return true }
        var pseudo = Array(frame[26..<34])
        pseudo += [0, 17, UInt8(udp.count >> 8), UInt8(udp.count & 0xFF)]
        var sum: UInt32 = 0
        let all = pseudo + udp + (udp.count % 2 == 1 ? [0] : [])
        for i in stride(from: 0, to: all.count, by: 2) { sum += UInt32(all[i]) << 8 | UInt32(all[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return sum == 0xFFFF
    }

    @Test(.kernel) func answersOfAnUntrustedServerAreNotLearned() async throws {
        // DNS to the rogue server is allowed by a CIDR rule; it answers web1 with web2's address.
        let policy = Self.allowWeb1(port: nil, extra: [.cidr("10.220.3.2/32", ports: [])])
        try await Environment.with(policies: [policy]) { env in
            let r = try #require(try env.resolve("web1.demo.test", server: env.rogue.ipv4))
            #expect(r.addresses == ["10.220.2.2"])
            #expect(try env.connects(env.web2.ipv4) == false)
            #expect(try await env.learned().isEmpty)
            #expect((try await env.counters()[.dnsResponsesUntrusted] ?? 0) >= 1)
        }
    }

    // MARK: - Endpoints and policies

    @Test(.kernel) func endpointsDoNotSeeEachOthersLearnedAddresses() async throws {
        let policies = [Self.allowWeb1(port: nil, app: "pod0", name: "a"),
                        Self.allow(.names("web1.demo.test", "alias.demo.test"), app: "pod1", name: "b")]
        try await Environment.with(policies: policies) { env in
            _ = try #require(try env.resolve("web1.demo.test", pod: 0))
            #expect(try env.connects(env.web1.ipv4, pod: 0))
            #expect(try env.connects(env.web1.ipv4, pod: 1) == false, "pod1 never resolved web1")
            _ = try #require(try env.resolve("alias.demo.test", pod: 1))
            #expect(try env.connects(env.web2.ipv4, pod: 1))
            #expect(try env.connects(env.web2.ipv4, pod: 0) == false, "pod0's policy and lookups do not include web2")
            #expect(try await env.learned("pod0") == ["web1.demo.test": ["10.220.1.2"]])
            #expect(try await env.learned("pod1") == ["alias.demo.test": ["10.220.2.2"]])
        }
    }

    @Test(.kernel) func policyReplacementReevaluatesLearnedAddresses() async throws {
        try await Environment.with(policies: [Self.allowWeb1(port: 80)]) { env in
            _ = try #require(try env.resolve("web1.demo.test"))
            #expect(try env.connects(env.web1.ipv4, port: 8080) == false)
            let before = try env.agent.maps.endpoints().first { $0.name == "pod0" }?.policyID
            // Widen the ports: the learned address carries over, no new DNS answer needed.
            try await env.agent.apply([Self.allowWeb1(port: 8080)])
            let after = try env.agent.maps.endpoints().first { $0.name == "pod0" }?.policyID
            #expect(before != after)
            #expect(try env.connects(env.web1.ipv4, port: 8080))
            #expect(try env.connects(env.web1.ipv4, port: 80) == false)
            #expect(try env.agent.maps.policyVersions().map(\.id) == [after!], "the old version is gone")
            // A policy without web1: what was learned for it is forgotten.
            try await env.agent.apply([Self.allow(.names("alias.demo.test"))])
            #expect(try env.connects(env.web1.ipv4, port: 8080) == false)
            #expect(try await env.learned().isEmpty)
        }
    }

    @Test(.kernel) func restartedAgentAdoptsThePinnedState() async throws {
        try await Environment.with(policies: [Self.allowWeb1()]) { env in
            _ = try #require(try env.resolve("web1.demo.test"))
            try await env.agent.shutdown()  // leaves everything pinned and attached
            let before = try await env.learned()
            let links = FileManager.default.subpaths(atPath: env.pinDirectory + "/links")?.sorted()
            // Enforcement goes on without an agent, learning too.
            #expect(try env.connects(env.web1.ipv4))
            #expect(try env.connects(env.web2.ipv4) == false)
            _ = try #require(try env.resolve("alias.demo.test"))

            let second = try PolicyAgent(configuration: env.agent.configuration)
            #expect(second.datapath.adopted)
            try await second.addEndpoint(Endpoint(name: "pod0", attachment: .veth(interface: env.pods[0].nodeInterface, namespace: env.topology.node.name), labels: ["app": "pod0"]))
            try await second.addEndpoint(Endpoint(name: "pod1", attachment: .veth(interface: env.pods[1].nodeInterface, namespace: env.topology.node.name), labels: ["app": "pod1"]))
            try await second.apply([Self.allowWeb1()])
            #expect(try await second.endpointID(named: "pod0") == env.agent.endpointID(named: "pod0"))
            #expect(FileManager.default.subpaths(atPath: env.pinDirectory + "/links")?.sorted() == links)
            #expect(try await env.learned() == before, "nothing learned is lost")
            #expect(try env.connects(env.web1.ipv4))
            #expect(try env.connects(env.web2.ipv4) == false)
            try await second.shutdown()
        }
    }

    /// A policy changed while no agent ran: the new agent adopts the endpoints on their pinned
    /// version (which keeps enforcing until `apply`), then applies the changed policy. The
    /// widened port reaches the address learned before the restart without a new answer; a
    /// newly allowed name is learned and connects; nothing learned is lost.
    @Test(.kernel) func policyChangedWhileTheAgentWasDownIsAppliedOnAdoption() async throws {
        try await Environment.with(policies: [Self.allowWeb1(port: 80)]) { env in
            _ = try #require(try env.resolve("web1.demo.test"))
            try await env.agent.shutdown()
            let before = try await env.learned()
            #expect(before == ["web1.demo.test": ["10.220.1.2"]])
            _ = try #require(try env.resolve("alias.demo.test"), "answered (an allowed query) but not learned")
            #expect(try env.connects(env.web2.ipv4) == false)

            let second = try PolicyAgent(configuration: env.agent.configuration)
            for (i, pod) in env.pods.enumerated() {
                try await second.addEndpoint(Endpoint(name: "pod\(i)", attachment: .veth(interface: pod.nodeInterface, namespace: env.topology.node.name),
                                                      labels: ["app": "pod\(i)"]))
            }
            // Adopted, not yet applied: the pinned version still enforces, unchanged.
            #expect(try env.connects(env.web1.ipv4, port: 80))
            #expect(try env.connects(env.web1.ipv4, port: 8080) == false)

            try await second.apply([Self.allowWeb1(port: 8080, extra: [EgressRule(toFQDNs: .names("alias.demo.test"))])])
            #expect(try await env.learned() == before, "the learned address carries over to the new version")
            #expect(try env.connects(env.web1.ipv4, port: 8080), "the changed port applies without a new answer")
            #expect(try env.connects(env.web1.ipv4, port: 80) == false)
            _ = try #require(try env.resolve("alias.demo.test"))
            #expect(try env.connects(env.web2.ipv4), "the newly allowed name is learned")
            #expect(try await env.learned()["alias.demo.test"] == ["10.220.2.2"])
            try await second.shutdown()
        }
    }

    @Test(.kernel) func badPolicyFileIsAClearErrorAndNothingIsApplied() async throws {
        try await Environment.with(policies: [Self.allowWeb1()]) { env in
            _ = try #require(try env.resolve("web1.demo.test"))
            let stateBefore = try env.agent.maps.endpoints()
            let versionsBefore = try env.agent.maps.policyVersions()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-bad-\(getpid())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }

            let valid = PolicyDocument.yaml([Self.allowWeb1()])
            // A YAML syntax error, a wrong field, and a valid file with an invalid pattern in
            // its second document: each names the file and where.
            let cases: [(String, String, [String])] = [
                ("syntax.yaml", valid + "  - [unclosed\n", ["syntax.yaml:", "invalid YAML"]),
                ("field.yaml", valid.replacingOccurrences(of: "toFQDNs:", with: "toFQDN:"), ["field.yaml:", "unknown field 'toFQDN'"]),
                ("pattern.yaml", PolicyDocument.yaml([Self.allowWeb1(name: "ok"), Self.allow(.patterns("a**b.test"), name: "bad")]),
                 ["pattern.yaml:", "[1].spec.egress[0].toFQDNs[0].matchPattern"]),
            ]
            for (file, text, mentions) in cases {
                let path = "\(dir)/\(file)"
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                let error = await #expect(throws: PolicyError.self) { try await env.agent.apply(policyFile: path) }
                for m in mentions { #expect(error?.description.contains(m) == true, "\(error?.description ?? "no error") lacks \(m)") }
            }
            #expect(try env.agent.maps.endpoints() == stateBefore)
            #expect(try env.agent.maps.policyVersions() == versionsBefore)
            #expect(try env.connects(env.web1.ipv4))
            #expect(try env.resolve("web2.demo.test")?.rcode == 5)
        }
    }

    /// A cgroup endpoint "job" (sources: `sources(host)`, nil for the default) whose processes
    /// run in `host`, a namespace without a veth endpoint; web1 and the DNS rules allowed.
    /// `inJob` runs a shell script in the cgroup, in that namespace.
    static func withCgroupJob(sources: (NodeTopology.Member) -> Endpoint.SourceAddresses? = { _ in nil },
                              _ body: (Environment, NodeTopology.Member, (String) throws -> CommandResult) async throws -> Void) async throws {
        let policy = Self.allow(.names("web1.demo.test"), app: "job")
        try await Environment.with { env in
            try await withCgroupFixture { cgroup in
                let host = try env.topology.addPod()
                try await env.agent.addEndpoint(Endpoint(name: "job", attachment: .cgroup(path: cgroup.path), labels: ["app": "job"],
                                                         sourceAddresses: sources(host)))
                try await env.agent.apply([policy])
                let inJob = { (script: String) throws -> CommandResult in
                    try cgroup.run(["ip", "netns", "exec", host.namespace.name, "bash", "-c", script], check: false)
                }
                try await body(env, host, inJob)
                try await env.agent.removeEndpoint(named: "job")
            }
        }
    }

    @Test(.kernel) func cgroupEndpoint() async throws {
        try await Self.withCgroupJob { env, _, inJob in
        // (bash's /dev/tcp would wait out the SYN retries: the kernel retransmits a
        // SYN that a cgroup program dropped.)
        let connect = { (ip: String) in
            "/usr/bin/python3 -c \"import socket; s = socket.socket(); s.settimeout(2); s.connect(('\(ip)', 80))\""
        }
        #expect(try inJob(connect(env.web1.ipv4)).status != 0, "not resolved yet")
        let dig = try inJob("kdig @\(env.dns.ipv4) +time=2 +retry=0 +short web1.demo.test A")
        #expect(dig.stdout.contains("10.220.1.2"), "\(dig)")
        #expect(try inJob(connect(env.web1.ipv4)).status == 0)
        #expect(try inJob(connect(env.web2.ipv4)).status != 0)
        // cgroup_skb cannot answer: a refused query is dropped and the sender gets EPERM.
        let refused = try inJob("kdig @\(env.dns.ipv4) +time=2 +retry=0 web2.demo.test A")
        #expect(!refused.stdout.contains("NOERROR"))
        #expect((try await env.counters()[.dnsQueriesDropped] ?? 0) >= 1)
        #expect(try await env.learned("job") == ["web1.demo.test": ["10.220.1.2"]])
        }
    }

    /// A cgroup endpoint given its source addresses (`addr=`; unchecked by default): packets of
    /// its processes from any other address are dropped as spoofed, on the cgroup_skb path.
    @Test(.kernel) func cgroupEndpointWithGivenSourceAddresses() async throws {
        try await Self.withCgroupJob(sources: { .fixed([IPNetwork.parseAddress($0.ipv4)!]) }) { env, host, inJob in
        let v4 = try inJob("kdig @\(env.dns.ipv4) +time=2 +retry=0 +short web1.demo.test A")
        #expect(v4.stdout.contains("10.220.1.2"), "from the given address: \(v4)")
        let before = try await env.counters()
        let v6 = try inJob("kdig @\(env.dns.ipv6) +time=1 +retry=0 +short web1.demo.test A")
        #expect(!v6.stdout.contains("10.220.1.2"), "from an address the endpoint was not given: \(v6)")
        let after = try await env.counters()
        #expect((after[.egressDeniedSpoofed] ?? 0) > (before[.egressDeniedSpoofed] ?? 0))
        #expect(try await env.agent.maps.endpoints().first { $0.name == "job" }?.sourceAddresses == [host.ipv4])
        }
    }
}

/// Collects the agent's events in the background; `first(where:)` waits for a match.
final class EventCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [PolicyEvent] = []
    private var task: Task<Void, Never>?

    init(_ stream: AsyncThrowingStream<PolicyEvent, any Error>) {
        task = Task { [weak self] in
            do {
                for try await e in stream {
                    guard let self else { return }
                    self.lock.withLock { self.events.append(e) }
                }
            } catch {}
        }
    }

    deinit { task?.cancel() }

    var all: [PolicyEvent] { lock.withLock { events } }

    func first(timeout: Double = 2, where predicate: (PolicyEvent) -> Bool) async throws -> PolicyEvent? {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            if let e = lock.withLock({ events.first(where: predicate) }) { return e }
            if ContinuousClock.now > deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
