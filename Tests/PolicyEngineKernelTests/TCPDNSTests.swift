import DNSWire
import FQDNPolicyTesting
import Foundation
import PolicyEngine
import Testing

/// DNS over TCP in the kernel (Documentation/TCP.md), end to end: namespaces made by the test,
/// a real Knot server, real clients (kdig) and crafted ones (exact write boundaries), and a
/// relay that returns Knot's real answers cut into chosen segments. Every test checks that
/// the client received exactly the bytes the server side sent, and that no per-connection
/// state is left once the connections are closed.
@Suite(.serialized) struct TCPDNSTests {
    // MARK: - Framing of responses

    @Test(.kernel) func oneMessage() async throws {
        try await TCPWorld.with { w in
            // A real client and server: kdig over TCP straight to Knot.
            let dig = try w.inPod("kdig +tcp +time=2 +retry=0 +short @\(w.dns.ipv4) web1.demo.test A")
            #expect(dig.stdout.contains("10.220.1.2"), "\(dig)")
            #expect(try await w.learned() == ["web1.demo.test": ["10.220.1.2"]])
            #expect(try w.connects(w.web1.ipv4))
            // A crafted client through the relay (bytes compared).
            let r = try w.exchange(.normal, [.init("p1.demo.test", id: 1)])
            #expect(r.responses.count == 1)
            #expect(try await w.learned()["p1.demo.test"] == ["10.220.1.11"])
            let c = try await w.agent.counters()
            #expect(c[.dnsQueries] == 2)
            #expect(c[.dnsResponses] == 2)
            #expect(c[.addressesLearned] == 2)
            #expect(c[.dnsResponsesMalformed] == 0)
            let t = try w.tcp.counterValues()
            #expect(t[.connections] == 2)
            #expect(t[.rxMessages] == 2)
            #expect(t[.txMessages] == 2)
            #expect(t[.rxLost] == 0)
        }
    }

    @Test(.kernel) func lengthPrefixSplitAcrossSegments() async throws {
        try await TCPWorld.with { w in
            let r = try w.exchange(.splitPrefix, [.init("p1.demo.test", id: 7), .init("p2.demo.test", id: 8)], writes: .each)
            #expect(r.responses.count == 2)
            #expect(try await w.learned() == ["p1.demo.test": ["10.220.1.11"], "p2.demo.test": ["10.220.1.12"]])
            let t = try w.tcp.counterValues()
            #expect(t[.rxSplitPrefix] == 2)
            #expect(t[.rxMessages] == 2)
        }
    }

    /// The test that catches a stream parser returning `2 + length`: several responses in
    /// ONE segment. Such a parser frames only the first (it is called again at the same skb
    /// start) and the client stalls; the verdict-only framing must learn from every one and
    /// deliver every byte.
    @Test(.kernel, arguments: [2, 4])
    func pipelinedResponsesInOneSegment(count: Int) async throws {
        try await TCPWorld.with { w in
            let names = (1...count).map { "p\($0).demo.test" }
            let r = try w.exchange(.batch(count), names.enumerated().map { .init($0.element, id: UInt16(100 + $0.offset)) })
            #expect(r.responses.count == count)
            #expect(r.responses.map { ResponseFacts.extract(from: $0).id } == (0..<count).map { UInt16(100 + $0) })
            let learned = try await w.learned()
            for (i, n) in names.enumerated() { #expect(learned[n] == ["10.220.1.\(11 + i)"], "\(n)") }
            let t = try w.tcp.counterValues()
            #expect(t[.rxSegments] == 1, "all responses arrived in one segment")
            #expect(t[.rxMessages] == UInt64(count))
            #expect(t[.rxReassembled] == 0)
        }
    }

    @Test(.kernel, arguments: [1, 2, 9])
    func responsePlusFirstBytesOfTheNext(bytes: Int) async throws {
        try await TCPWorld.with { w in
            let r = try w.exchange(.plus(bytes), [.init("p1.demo.test", id: 21), .init("p2.demo.test", id: 22)])
            #expect(r.responses.count == 2)
            #expect(try await w.learned() == ["p1.demo.test": ["10.220.1.11"], "p2.demo.test": ["10.220.1.12"]])
            let t = try w.tcp.counterValues()
            #expect(t[.rxSegments] == 2)
            #expect(t[.rxMessages] == 2)
            // 1 byte: the next prefix is split; 2: the prefix is whole, the body is not; 9:
            // part of the body is kept until the rest arrives.
            #expect(t[.rxSplitPrefix] == (bytes == 1 ? 1 : 0))
            #expect(t[.rxReassembled] == (bytes > 2 ? 1 : 0))
        }
    }

    @Test(.kernel) func largeResponses4KAnd16K() async throws {
        try await TCPWorld.with { w in
            // Knot's own segmentation (several MSS-sized segments), a TXT answer then an A
            // answer on the same connection: the framing must stay in step after the big one.
            for (name, least) in [("txt4k.demo.test", 4000), ("txt16k.demo.test", 16000)] {
                let r = try w.exchange(direct: true, [.init(name, type: 16, id: 1), .init("web1.demo.test", id: 2)], writes: .each)
                #expect(r.responses.count == 2)
                #expect(r.responses[0].count >= least && r.responses[0].count <= 16384, "\(name): \(r.responses[0].count) bytes")
                #expect(ResponseFacts.extract(from: r.responses[0]).error == nil)
            }
            // Through the relay in 1000-byte writes: reassembled from many segments.
            let r = try w.exchange(.chunks(1000), [.init("txt16k.demo.test", type: 16, id: 3), .init("p3.demo.test", id: 4)], writes: .each)
            #expect(r.responses.count == 2)
            // 60 A records in 100-byte pieces: every address is learned.
            let many = try w.exchange(.chunks(100), [.init("many.demo.test", id: 5)])
            #expect(ResponseFacts.extract(from: many.responses.first ?? []).credited.count == 60)
            let learned = try await w.learned()
            #expect(learned["web1.demo.test"] == ["10.220.1.2"])
            #expect(learned["p3.demo.test"] == ["10.220.1.13"])
            #expect(Set(learned["many.demo.test"] ?? []) == Set((1...60).map { "10.220.5.\($0)" }))
            let c = try await w.agent.counters()
            #expect(c[.dnsResponsesMalformed] == 0)
            #expect(c[.dnsResponses] == 7)
            let t = try w.tcp.counterValues()
            #expect((t[.rxReassembled] ?? 0) >= 2)
            #expect(t[.rxTooLong] == 0)
        }
    }

    @Test(.kernel) func responseLongerThanTheLimitIsReportedAndSkipped() async throws {
        try await TCPWorld.with { w in
            let events = EventCollector(try w.agent.events())
            let r = try w.exchange(direct: true, [.init("txt20k.demo.test", type: 16, id: 1), .init("p1.demo.test", id: 2)], writes: .each)
            #expect(r.responses.count == 2)
            #expect(r.responses[0].count > 16384)
            // Like a UDP payload over the limit: malformed (limit), delivered, nothing learned;
            // the next response on the connection is framed and learned.
            #expect(try await w.learned() == ["p1.demo.test": ["10.220.1.11"]])
            let c = try await w.agent.counters()
            #expect(c[.dnsResponsesMalformed] == 1)
            let bad = try await events.first { $0.kind == .malformed }
            #expect(bad?.reason == "limit_message_length")
            #expect(bad?.proto == "tcp")
            let t = try w.tcp.counterValues()
            #expect(t[.rxTooLong] == 1)
            #expect(t[.rxMessages] == 2)
            #expect(try w.tcp.partialResponses().isEmpty, "a response over the limit is never buffered")
        }
    }

    @Test(.kernel, arguments: [1, 2, 30])
    func connectionClosedMidMessage(after bytes: Int) async throws {
        try await TCPWorld.with { w in
            let r = try w.exchange(.cut(bytes), [.init("p1.demo.test", id: 9)], expectAll: false)
            #expect(r.eof)
            #expect(r.responses.isEmpty)
            // Nothing learned from the partial message; the connection's state is gone.
            #expect(try await w.learned().isEmpty)
            let c = try await w.agent.counters()
            #expect(c[.dnsResponses] == 0)
            #expect(c[.addressesLearned] == 0)
            let t = try w.tcp.counterValues()
            #expect(t[.rxPartialClosed] == 1)
            #expect(t[.rxMessages] == 0)
        }
    }

    // MARK: - Queries: in flight, refused

    @Test(.kernel) func queriesWrittenInPiecesAreFramed() async throws {
        try await TCPWorld.with { w in
            // The prefix apart from the message, and one byte per write: corked until whole,
            // recorded in flight, so the answers teach.
            _ = try w.exchange(.normal, [.init("p1.demo.test", id: 31), .init("p2.demo.test", id: 32)], writes: .prefixApart)
            _ = try w.exchange(.normal, [.init("p3.demo.test", id: 33)], writes: .bytewise)
            #expect(try await w.learned().count == 3)
            let t = try w.tcp.counterValues()
            #expect(t[.txMessages] == 3)
            #expect((t[.txCorked] ?? 0) >= 2)
            #expect(t[.txWriteDenied] == 0)
        }
    }

    @Test(.kernel) func answersToNothingInFlightTeachNothing() async throws {
        try await TCPWorld.with { w in
            let events = EventCollector(try w.agent.events())
            // A copy of the real answer with another transaction id arrives first.
            let r = try w.exchange(.forgedFirst, [.init("p1.demo.test", id: 41)], expect: 2)
            #expect(r.responses.count == 2)
            let c = try await w.agent.counters()
            #expect(c[.dnsResponsesNoInflight] == 1)
            #expect(c[.addressesLearned] == 1)  // the real answer
            let e = try await events.first { $0.kind == .notLearned }
            #expect(e?.reason == "no_inflight")
            // A server that is not trusted (the policy lets the pod reach it by CIDR): its
            // connections are not even looked at, its answers teach nothing.
            let rogue = try w.inPod("kdig +tcp +time=2 +retry=0 +short @\(w.rogue.ipv4) web2.demo.test A")
            #expect(rogue.stdout.contains("10.220.2.2"))
            #expect(try await w.learned()["web2.demo.test"] == nil)
            #expect(try w.connects(w.web2.ipv4) == false)
            #expect(try w.tcp.counterValues()[.connections] == 1)
        }
    }

    /// An answer that could teach nothing anyway (NXDOMAIN) and matches no query is counted
    /// as not credited, without an event: over TCP exactly as over UDP (dp_no_inflight).
    @Test(.kernel) func nonCreditingAnswerToNothingIsCountedLikeUDP() async throws {
        try await TCPWorld.with { w in
            let events = EventCollector(try w.agent.events())
            let r = try w.exchange(.forgedFirst, [.init("absent.demo.test", id: 43)], expect: 2)
            #expect(r.responses.count == 2)
            let c = try await w.agent.counters()
            #expect(c[.dnsResponsesNoInflight] == 0)
            #expect(c[.dnsResponsesNotCredited] == 2, "the forged copy (no query) and the real NXDOMAIN")
            #expect(try await events.first(timeout: 1) { $0.kind == .notLearned } == nil)
        }
    }

    @Test(.kernel) func refusedQueryIsAnsweredInTheStream() async throws {
        try await TCPWorld.with { w in
            let events = EventCollector(try w.agent.events())
            let r = try w.exchange(direct: true, [.init("secret.other.test", id: 51)])
            #expect(r.writeError == nil)
            let facts = ResponseFacts.extract(from: try #require(r.responses.first))
            #expect(facts.rcode == 5)
            #expect(facts.id == 51)
            #expect(facts.qr)
            #expect(facts.qname?.description == "secret.other.test")
            // kdig (one query per connection) sees the same.
            let dig = try w.inPod("kdig +tcp +time=2 +retry=0 @\(w.dns.ipv4) secret.other.test A")
            #expect(dig.stdout.contains("status: REFUSED"), "\(dig.stdout)")
            // Knot never saw them; the connection goes on (an allowed query after a refused one).
            let after = try w.exchange(direct: true, [.init("secret.other.test", id: 52)], writes: .each)
            #expect(ResponseFacts.extract(from: after.responses.first ?? []).rcode == 5)
            let mixed = try w.exchange(direct: true, [.init("secret.other.test", id: 53), .init("web1.demo.test", id: 54)], writes: .each)
            #expect(mixed.responses.map { ResponseFacts.extract(from: $0).rcode } == [5, 0])
            #expect(try await w.learned() == ["web1.demo.test": ["10.220.1.2"]])
            let c = try await w.agent.counters()
            #expect(c[.dnsQueriesRefused] == 4)
            #expect(c[.dnsResponses] == 1)
            let t = try w.tcp.counterValues()
            #expect(t[.txAnswered] == 4)
            let e = try await events.first { $0.kind == .queryRefused }
            #expect(e?.name == "secret.other.test")
            #expect(e?.reason == "refused")
            #expect(e?.proto == "tcp")
            #expect(e?.port == 53)
        }
    }

    @Test(.kernel) func nxdomainAndDropModes() async throws {
        try await TCPWorld.with(refusedAction: .nxdomain) { w in
            let r = try w.exchange(direct: true, [.init("secret.other.test", id: 61)])
            #expect(ResponseFacts.extract(from: r.responses.first ?? []).rcode == 3)
        }
        try await TCPWorld.with(refusedAction: .drop) { w in
            // The query goes nowhere and the write fails.
            let r = try w.exchange(direct: true, [.init("secret.other.test", id: 62)], expectAll: false, timeout: 1)
            #expect(r.writeError == "EACCES")
            #expect(r.responses.isEmpty)
            #expect(try await w.agent.counters()[.dnsQueriesDropped] == 1)
            #expect(try w.tcp.counterValues()[.txWriteDenied] == 1)
        }
    }

    @Test(.kernel) func refusedQueryWithMoreBytesInTheSameWriteFailsTheWrite() async throws {
        try await TCPWorld.with { w in
            // Two queries in one write, the first refused: no answer can be put between them
            // (Documentation/TCP.md), so the write fails, and so does every later write on
            // that connection (its query framing is lost: fail closed).
            let r = try w.exchange(direct: true, [.init("secret.other.test", id: 71), .init("web1.demo.test", id: 72)],
                                   expectAll: false, timeout: 1)
            #expect(r.writeError == "EACCES")
            #expect(r.responses.isEmpty)
            #expect(try await w.learned().isEmpty)
            let c = try await w.agent.counters()
            #expect(c[.dnsQueriesDropped] == 1)
            #expect(c[.dnsResponses] == 0)
        }
    }

    // MARK: - Endpoints, families

    @Test(.kernel) func cgroupEndpoint() async throws {
        try await TCPWorld.with(endpoint: .cgroup) { w in
            let dig = try w.inPod("kdig +tcp +time=2 +retry=0 +short @\(w.dns.ipv4) web1.demo.test A")
            #expect(dig.stdout.contains("10.220.1.2"), "\(dig)")
            #expect(try await w.learned() == ["web1.demo.test": ["10.220.1.2"]])
            _ = try w.exchange(.batch(2), [.init("p1.demo.test", id: 1), .init("p2.demo.test", id: 2)])
            #expect(try await w.learned().count == 3)
            // Unlike UDP on a cgroup endpoint (dropped), a refused TCP query gets its answer.
            let refused = try w.inPod("kdig +tcp +time=2 +retry=0 @\(w.dns.ipv4) secret.other.test A")
            #expect(refused.stdout.contains("status: REFUSED"), "\(refused.stdout)")
        }
    }

    // MARK: - The CLI agent

    /// `fqdnctl agent --tcp` (the CLI, not the API) on a veth endpoint: a TCP answer is learned
    /// and usable, a refused query is answered REFUSED in the stream, `fqdnctl metrics` has the
    /// TCP counters; after SIGKILL of the agent, DNS over TCP goes on in the kernel (a name
    /// resolved with no agent is learned); a restarted agent adopts it all, nothing lost.
    @Test(.kernel, .timeLimit(.minutes(3))) func cliAgentWithTCP() async throws {
        try await withNetworkFixture { fixture in
            try await withBPFFSDirectory { pin in
                try await withCgroupFixture { cgroup in
                    let topology = try NodeTopology(fixture: fixture)
                    let pod = try topology.addPod()
                    let dns = try topology.addHost()
                    let web1 = try topology.addHost()
                    let knot = try KnotServer(namespace: dns.namespace, listen: [dns.ipv4], zones: [TCPWorld.zone, TCPWorld.otherZone])
                    defer { knot.stop() }
                    let listener = try web1.namespace.perform { try SocketClient.Listener(port: 80) }
                    defer { listener.stop() }
                    let policyPath = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-tcp-cli-\(getpid()).yaml").path
                    try PolicyDocument.yaml([TCPWorld.policy()]).write(toFile: policyPath, atomically: true, encoding: .utf8)
                    defer { try? FileManager.default.removeItem(atPath: policyPath) }
                    let arguments = ["--policy", policyPath, "--dns-server", dns.ipv4, "--pin", pin,
                                     "--endpoint", "pod0:iface=\(pod.nodeInterface),netns=\(topology.node.name),labels=app=client",
                                     "--tcp", "--tcp-pod-netns", "pod0=\(pod.namespace.name)", "--tcp-sockops-cgroup", cgroup.path]
                    defer { try? Datapath.remove(pinDirectory: pin) }
                    func inPod(_ script: String) throws -> CommandResult {
                        try cgroup.run(["ip", "netns", "exec", pod.namespace.name, "bash", "-c", script], check: false)
                    }
                    func kdig(_ name: String, short: Bool = true) throws -> String {
                        try inPod("kdig +tcp +time=2 +retry=0 \(short ? "+short " : "")@\(dns.ipv4) \(name) A").stdout
                    }
                    func learned() throws -> [String: [String]] {
                        var out: [String: [String]] = [:]
                        for n in try DatapathMaps.pinned(at: pin).learned() { out[n.name] = n.addresses.map(\.address) }
                        return out
                    }

                    let agent = try ResilienceTests.AgentProcess(arguments: arguments)
                    defer { agent.stop() }
                    try #require(try await agent.waitReady(), "\(agent.log)")
                    #expect(agent.log.contains("; DNS over TCP"), "\(agent.log)")
                    #expect(try kdig("web1.demo.test").contains(web1.ipv4))
                    #expect(try learned() == ["web1.demo.test": [web1.ipv4]])
                    #expect(try pod.namespace.perform { try SocketClient.canConnect(to: web1.ipv4, port: 80, timeout: 1) })
                    #expect(try kdig("secret.other.test", short: false).contains("status: REFUSED"))
                    let text = try runCommand([ResilienceTests.fqdnctl, "metrics", "--pin", pin]).stdout
                    func metric(_ c: TCPCounter) -> UInt64? {
                        text.split(separator: "\n").first { $0.hasPrefix(c.prometheusName + " ") }
                            .flatMap { UInt64($0.split(separator: " ")[1]) }
                    }
                    #expect(metric(.connections) == 2, "two kdig connections tracked\n\(text)")
                    #expect(metric(.rxMessages) == 1, "one answer framed (the refused query never reached Knot)\n\(text)")
                    #expect(metric(.txAnswered) == 1, "\(text)")
                    #expect(text.contains("# HELP fqdnpolicy_tcp_rx_messages_total "), "\(text)")

                    agent.kill(SIGKILL)
                    agent.process.waitUntilExit()
                    #expect(try kdig("p1.demo.test").contains("10.220.1.11"), "answered with no agent")
                    let withoutAgent = try learned()
                    #expect(withoutAgent == ["web1.demo.test": [web1.ipv4], "p1.demo.test": ["10.220.1.11"]], "learned with no agent")

                    let next = try ResilienceTests.AgentProcess(arguments: arguments)
                    defer { next.stop() }
                    try #require(try await next.waitReady(), "\(next.log)")
                    #expect(next.log.contains("adopted"), "\(next.log)")
                    #expect(try learned() == withoutAgent, "nothing learned is lost")
                    #expect(try kdig("p2.demo.test").contains("10.220.1.12"))
                    #expect(try learned()["p2.demo.test"] == ["10.220.1.12"])
                    #expect(try pod.namespace.perform { try SocketClient.canConnect(to: web1.ipv4, port: 80, timeout: 1) })
                    next.kill(SIGTERM)
                    next.process.waitUntilExit()
                    #expect(next.process.terminationStatus == 0, "\(next.log)")
                }
            }
        }
    }

    /// Bad `--tcp` arguments are refused before anything is loaded.
    @Test func cliAgentTCPArgumentErrors() throws {
        let policyPath = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-tcp-args-\(getpid()).yaml").path
        try PolicyDocument.yaml([TCPWorld.policy()]).write(toFile: policyPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: policyPath) }
        let base = [ResilienceTests.fqdnctl, "agent", "--policy", policyPath, "--dns-server", "10.0.0.1",
                    "--pin", "/sys/fs/bpf/fqdn-never-made-\(getpid())"]
        let noTCP = try runCommand(base + ["--endpoint", "a:cgroup=/sys/fs/cgroup/x", "--tcp-pod-netns", "a=ns"], check: false)
        #expect(noTCP.status != 0 && noTCP.stderr.contains("need --tcp"), "\(noTCP)")
        let malformed = try runCommand(base + ["--endpoint", "a:cgroup=/sys/fs/cgroup/x", "--tcp", "--tcp-pod-netns", "a"], check: false)
        #expect(malformed.status != 0 && malformed.stderr.contains("is not NAME=NETNS"), "\(malformed)")
        let vethWithout = try runCommand(base + ["--endpoint", "pod:iface=eth9", "--tcp"], check: false)
        #expect(vethWithout.status == 2 && vethWithout.stderr.contains("endpoint pod: DNS over TCP on a veth endpoint needs --tcp-pod-netns pod=NETNS"),
                "\(vethWithout)")
        let unknown = try runCommand(base + ["--endpoint", "a:cgroup=/sys/fs/cgroup/x", "--tcp", "--tcp-pod-netns", "b=ns"], check: false)
        #expect(unknown.status == 2 && unknown.stderr.contains("no endpoint named b"), "\(unknown)")
        #expect(!FileManager.default.fileExists(atPath: "/sys/fs/bpf/fqdn-never-made-\(getpid())"))
    }

    /// Removing a veth endpoint forgets the pod namespace its DNS over TCP was mapped from
    /// (`PolicyAgent.removeEndpoint`; before, the mapping outlived the endpoint).
    /// Removing an endpoint forgets its pod namespace and the records of its open DNS-over-TCP
    /// connections (sockops, which deletes a record when its connection closes, finds it through
    /// the endpoint: gone by then).
    @Test(.kernel) func removedEndpointForgetsItsPodNamespace() async throws {
        try await TCPWorld.with { w in
            let index = try #require(await w.agent.interfaceIndex(of: w.endpoint))
            #expect(try w.tcp.interfaceIndex(ofPodNamespace: w.pod.namespace.name) == index)
            // A connection held open across the removal: one query answered, then 3 s idle.
            let script = """
            import socket, struct, time
            q = bytes.fromhex('12340100000100000000000004776562310464656d6f04746573740000010001')
            s = socket.create_connection(('\(w.dns.ipv4)', 53), timeout=2)
            s.sendall(struct.pack('!H', len(q)) + q)
            s.recv(4096)
            time.sleep(3)
            # Abortive close: once the endpoint is gone its numbers are no longer shifted, so the
            # server would not take this connection's FIN (clients connect again).
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            s.close()
            """
            let holder = Task { try w.inPod("/usr/bin/python3 -c \"\(script)\"") }
            let deadline = ContinuousClock.now + .seconds(2)
            while try w.tcp.writtenStreams().isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try w.tcp.writtenStreams().count == 1, "the open connection's record")
            try await w.agent.removeEndpoint(named: w.endpoint)
            #expect(try w.tcp.interfaceIndex(ofPodNamespace: w.pod.namespace.name) == nil)
            #expect(try w.tcp.writtenStreams().isEmpty, "the removed endpoint's records are gone")
            _ = try await holder.value
        }
    }

    /// Class 3 over TCP (Documentation/Security.md): the pod's own connection to the trusted
    /// server, one allowed query written through the socket, then segments crafted with the
    /// connection's sequence numbers (read from the pod's own traffic) carrying bytes the socket
    /// never wrote: a refused query, the allowed query again, other bytes over the range already
    /// sent; IPv4 and IPv6. Sent through AF_PACKET on a veth endpoint (as a pod with CAP_NET_RAW
    /// would), through a raw IP socket on a cgroup endpoint (AF_PACKET does not pass cgroup hooks).
    /// None may reach the server's namespace; from a pod that is no endpoint they do (the attack
    /// is real). The connection itself keeps working.
    @Test(.kernel, arguments: [TCPWorld.EndpointKind.veth, .cgroup])
    func craftedSegmentsCarryNothingTheSocketDidNotWrite(kind: TCPWorld.EndpointKind) async throws {
        try await TCPWorld.with(endpoint: kind) { w in
            let via = kind == .veth ? "packet" : "ip"
            let events = EventCollector(try w.agent.events())
            let before = try await w.agent.counters()
            let enforced = try w.inject(from: w.pod, via: via, inCgroup: true)
            let after = try await w.agent.counters()
            #expect(enforced.sent == 12, "3 segments x 2 repeats x 2 families")
            #expect(enforced.arrived[w.dns.namespace.name] == 0,
                    "crafted segments reached the server: \(enforced.samples)")
            #expect(enforced.answered == [true, true], "the connection itself keeps working")
            #expect((after[.dnsQueriesRejected] ?? 0) - (before[.dnsQueriesRejected] ?? 0) == UInt64(enforced.sent))
            let e = try await events.first { $0.kind == .queryRejected }
            #expect(e?.reason == "tcp_unwritten", "\(String(describing: e))")
            #expect(try w.tcp.counterValues()[.txWriteDenied] == 0, "no write of the socket failed")

            let control = try w.topology.addPod()
            let open = try w.inject(from: control, via: via, inCgroup: false)
            #expect((open.arrived[w.dns.namespace.name] ?? 0) > 0, "the control pod's segments must arrive")
        }
    }

    /// The shifted numbers stay consistent to the last segment: after 5 connections (connect,
    /// query, answer, close) no segment leaves the pod toward the server any more. (When the
    /// shift lived in the connection's entry, the socket's last ACK, still queued when the entry
    /// went, left unshifted: the server resent its FIN and the pod answered, for seconds.)
    @Test(.kernel) func closedConnectionsGoQuiet() async throws {
        try await TCPWorld.with { w in
            let script = """
            import socket, struct
            q = bytes.fromhex('12340100000100000000000004776562310464656d6f04746573740000010001')
            for i in range(5):
                s = socket.create_connection(('\(w.dns.ipv4)', 53), timeout=2)
                s.sendall(struct.pack('!H', len(q)) + q)
                n = struct.unpack('!H', s.recv(2))[0]
                while n > 0:
                    n -= len(s.recv(n))
                s.close()
            """
            let r = try w.inPod("/usr/bin/python3 -c \"\(script)\"")
            #expect(r.status == 0, "\(r)")
            try await Task.sleep(for: .seconds(1))
            let before = try await w.agent.counters()[.egressAllowedDNS] ?? 0
            try await Task.sleep(for: .seconds(3))
            let after = try await w.agent.counters()[.egressAllowedDNS] ?? 0
            #expect(after == before, "\(after - before) segments toward the server after every connection closed")
        }
    }

    /// Over TCP a query is at most 1,022 bytes (its bytes are kept for the egress check;
    /// Documentation/TCP.md, "Limits and gaps"): kdig padding its query with 900 bytes is
    /// answered; padding it with 1,100 bytes, the write fails and the query is reported as
    /// malformed (the limit), the server never sees it.
    @Test(.kernel) func queriesOverTheTCPLimitFailClearly() async throws {
        try await TCPWorld.with { w in
            let events = EventCollector(try w.agent.events())
            let ok = try w.inPod("kdig +tcp +time=2 +retry=0 +short +padding=900 @\(w.dns.ipv4) web1.demo.test A")
            #expect(ok.stdout.contains("10.220.1.2"), "\(ok)")
            let long = try w.inPod("kdig +tcp +time=2 +retry=0 +padding=1100 @\(w.dns.ipv4) web1.demo.test A")
            #expect(!long.stdout.contains("10.220.1.2"), "\(long)")
            let bad = try await events.first { $0.kind == .malformed }
            #expect(bad?.reason == "limit_message_length")
            #expect(bad?.proto == "tcp")
            let c = try await w.agent.counters()
            #expect(c[.dnsQueriesMalformed] == 1, "\(c)")
            #expect(try w.tcp.counterValues()[.txWriteDenied] == 1)
        }
    }

    /// Class 5 over TCP (Documentation/Security.md): the pod sends its allowed query with IP TTL 1
    /// (it never reaches the server), reads its connection's numbers from its own traffic and
    /// hands them to an accomplice off the node (web2), which forges the answer (web1.demo.test
    /// -> web2's address, from the server's address) with exactly those numbers and with 50
    /// random ones, IPv4 and IPv6. The datapath shifts the connection's sequence numbers by
    /// amounts the pod never sees, so the pod's socket accepts none of them and nothing is
    /// learned. On a pod that is no endpoint the socket does accept the forged bytes (the
    /// attack is real). SACK is taken out of the pod's SYN (its blocks would show the shift).
    @Test(.kernel) func answersForgedWithTheConnectionsNumbersAreNotAccepted() async throws {
        try await TCPWorld.with { w in
            let enforced = try w.forge(from: w.pod, inCgroup: true, random: 50)
            #expect(enforced.sent == 2 * 2 * 51)
            #expect(enforced.received == [false, false], "the pod's socket accepted a forged answer")
            #expect(enforced.sack == [false, false], "SACK-permitted must be taken out of the pod's SYN")
            #expect(try await w.learned()["web1.demo.test"]?.contains(w.web2.ipv4) != true)
            #expect(try w.connects(w.web2.ipv4) == false)
            let c = try await w.agent.counters()
            #expect(c[.addressesLearned] == 0, "\(c)")

            let control = try w.topology.addPod()
            let open = try w.forge(from: control, inCgroup: false, random: 0)
            #expect(open.received == [true, true], "with the connection's own numbers the forged answer is accepted")
            #expect(open.sack == [true, true], "the server allows SACK when the SYN offers it")

            // The endpoint's own lookups over TCP still work.
            let dig = try w.inPod("kdig +tcp +time=2 +retry=0 +short @\(w.dns.ipv4) web1.demo.test A")
            #expect(dig.stdout.contains("10.220.1.2"), "\(dig)")
            #expect(try await w.learned()["web1.demo.test"] == ["10.220.1.2"])
        }
    }

    @Test(.kernel) func ipv6() async throws {
        try await TCPWorld.with { w in
            let dig = try w.inPod("kdig +tcp +time=2 +retry=0 +short @\(w.dns.ipv6) web1.demo.test AAAA")
            #expect(dig.stdout.contains("fd10:220:1::2"), "\(dig)")
            #expect(try await w.learned() == ["web1.demo.test": ["fd10:220:1::2"]])
            #expect(try w.connects(w.web1.ipv6))
            #expect(try w.tcp.connections().isEmpty)
        }
    }
}

/// The world of a TCP test: a node namespace routing a pod and hosts; Knot on the DNS host
/// (trusted, both families) and a relay in front of it on 10.220.0.53 (trusted); a rogue Knot
/// (not trusted); a web server; an agent with the TCP programs; a cgroup for the clients
/// (where sockops is attached). The pod is a veth endpoint (its namespace registered) or, with
/// `.cgroup`, the cgroup itself is the endpoint and the pod's veth is not one.
struct TCPWorld {
    enum EndpointKind { case veth, cgroup }

    let world: TestWorld
    let tcp: TCPDatapath
    let cgroup: CgroupFixture
    let endpoint: String
    static let relayAddress = "10.220.0.53"

    var topology: NodeTopology { world.topology }
    var pod: NodeTopology.Member { world.pod }
    var dns: NodeTopology.Member { world.dns }
    var web1: NodeTopology.Member { world.web1 }
    var web2: NodeTopology.Member { world.web2 }
    var rogue: NodeTopology.Member { world.rogue }
    var agent: PolicyAgent { world.agent }

    static let zone = KnotServer.Zone(origin: "demo.test", records: [
        "web1 A 10.220.1.2", "web1 AAAA fd10:220:1::2", "web2 A 10.220.2.2",
        "p1 A 10.220.1.11", "p2 A 10.220.1.12", "p3 A 10.220.1.13", "p4 A 10.220.1.14",
    ] + (1...60).map { "many A 10.220.5.\($0)" } + [
        txt("txt4k", strings: 16), txt("txt16k", strings: 65), txt("txt20k", strings: 80),
    ])
    static let otherZone = KnotServer.Zone(origin: "other.test", records: ["secret A 10.220.2.2"])

    /// A TXT record of `strings` 250-byte strings.
    static func txt(_ owner: String, strings: Int) -> String {
        "\(owner) TXT " + (0..<strings).map { i in "\"" + String(repeating: Character(UnicodeScalar(97 + i % 26)!), count: 250) + "\"" }.joined(separator: " ")
    }

    /// *.demo.test on TCP 80 and as queries; the DNS host on TCP 53 (DNS over TCP).
    static func policy(_ refusedAction: RefusedQueryAction = .refused) -> FQDNPolicy {
        .forApp("client", name: "tcp", egress: [
            EgressRule(toFQDNs: .patterns("*.demo.test"), toPorts: [.tcp(80)]),
            .cidr("10.220.3.2/32", ports: [.tcp(53)]),
        ], dns: .patterns("*.demo.test"), refusedQueryAction: refusedAction)
    }

    static func with(endpoint kind: EndpointKind = .veth, refusedAction: RefusedQueryAction = .refused,
                     _ body: (TCPWorld) async throws -> Void) async throws {
        try await withCgroupFixture { cgroup in
            var options = TestWorld.Options()
            options.pods = 1
            options.podEndpoints = false
            options.zones = [zone, otherZone]
            options.dnsAliases = [relayAddress]
            options.rogueZone = zone
            try await TestWorld.with(options) { world in
                let tcp = try TCPDatapath.load(pinDirectory: world.pinDirectory)
                let name: String
                switch kind {
                case .veth:
                    name = "pod0"
                    try await world.agent.addEndpoint(Endpoint(
                        name: name, attachment: .veth(interface: world.pod.nodeInterface, namespace: world.topology.node.name),
                        labels: ["app": "client"]))
                    try await world.agent.enableTCP(tcp, endpoint: name, podNamespace: world.pod.namespace.name, sockopsCgroup: cgroup.path)
                case .cgroup:
                    name = "job"
                    try await world.agent.addEndpoint(Endpoint(name: name, attachment: .cgroup(path: cgroup.path), labels: ["app": "client"]))
                    try await world.agent.enableTCP(tcp, endpoint: name)
                }
                try await world.agent.apply([policy(refusedAction)])
                let tcpWorld = TCPWorld(world: world, tcp: tcp, cgroup: cgroup, endpoint: name)
                try await body(tcpWorld)
                try await tcpWorld.expectNoConnectionState()
            }
        }
    }

    /// Runs a shell command in the pod's namespace, inside the clients' cgroup.
    func inPod(_ script: String) throws -> CommandResult {
        try cgroup.run(["ip", "netns", "exec", pod.namespace.name, "bash", "-c", script], check: false)
    }

    /// A crafted client in the pod (in the cgroup) exchanging `queries` with the relay in
    /// `mode` (or straight with Knot when `direct`). Checks that the client received exactly
    /// the bytes the relay sent.
    @discardableResult
    func exchange(_ mode: DNSTCPRelay.Mode = .normal, direct: Bool = false, _ queries: [DNSTCPClient.Query],
                  writes: DNSTCPClient.Writes = .one, expect: Int? = nil, expectAll: Bool = true,
                  timeout: Double = 3, sourceLocation: SourceLocation = #_sourceLocation) throws -> DNSTCPClient.Result {
        if direct {
            let r = try DNSTCPClient.run(namespace: pod.namespace, cgroup: cgroup, server: dns.ipv4, queries: queries,
                                         writes: writes, expect: expect, timeout: timeout)
            if expectAll { #expect(r.responses.count == (expect ?? queries.count), "\(r)", sourceLocation: sourceLocation) }
            return r
        }
        let relay = try DNSTCPRelay(namespace: dns.namespace, address: Self.relayAddress, upstream: dns.ipv4, mode: mode)
        defer { relay.stop() }
        let r = try DNSTCPClient.run(namespace: pod.namespace, cgroup: cgroup, server: Self.relayAddress, queries: queries,
                                     writes: writes, expect: expect, timeout: timeout)
        let sent = relay.waitForConnections(1)
        #expect(sent.count == 1, sourceLocation: sourceLocation)
        #expect(r.received == sent.first, "the client must receive every byte unchanged (\(r.received.count) received, \(sent.first?.count ?? 0) sent)",
                sourceLocation: sourceLocation)
        if expectAll { #expect(r.responses.count == (expect ?? queries.count), "\(r)", sourceLocation: sourceLocation) }
        return r
    }

    /// What the hostile pod's TCP scenarios report.
    struct HostileRun: Decodable {
        var sent: Int
        var arrived: [String: Int]
        var samples: [[String: String]]
        /// tcp-inject: the socket's own query after the crafted segments was answered.
        var answered: [Bool]?
        /// tcp-forge: the socket received the forged answer; the SYN-ACK allowed SACK.
        var received: [Bool]?
        var sack: [Bool]?
    }

    /// Runs a TCP scenario of the hostile pod (Tests/Security/hostile_pod.py) from `member`,
    /// in the clients' cgroup or not.
    func hostile(_ scenario: String, from member: NodeTopology.Member, inCgroup: Bool, _ extra: [String]) throws -> HostileRun {
        let args = [
            "/usr/bin/python3", SecurityTests.script, "--pod", member.namespace.name, "--pod-if", member.interface,
            "--pod-mac", try SecurityTests.mac(member.namespace, member.interface),
            "--gateway-mac", try SecurityTests.mac(topology.node, member.nodeInterface), "--src4", member.ipv4, "--src6", member.ipv6,
            "--dns4", dns.ipv4, "--dns6", dns.ipv6, "--scenario", scenario,
        ] + extra
        let r = inCgroup ? try cgroup.run(args, check: false) : try runCommand(args, check: false)
        let line = try #require(r.stdout.split(separator: "\n").last, "the hostile pod printed nothing: \(r)")
        return try JSONDecoder().decode(HostileRun.self, from: Data(line.utf8))
    }

    /// tcp-inject, counting what reaches the DNS host.
    func inject(from member: NodeTopology.Member, via: String, inCgroup: Bool) throws -> HostileRun {
        try hostile("tcp-inject", from: member, inCgroup: inCgroup,
                    ["--sink", dns.namespace.name, "--via", via, "--repeat", "2"])
    }

    /// tcp-forge, web2 as the accomplice forging web1.demo.test -> web2's address.
    func forge(from member: NodeTopology.Member, inCgroup: Bool, random: Int) throws -> HostileRun {
        try hostile("tcp-forge", from: member, inCgroup: inCgroup, [
            "--acc-ns", web2.namespace.name, "--acc-if", web2.interface,
            "--acc-mac", try SecurityTests.mac(web2.namespace, web2.interface),
            "--acc-gw-mac", try SecurityTests.mac(topology.node, web2.nodeInterface),
            "--forge-addr", web2.ipv4, "--forge-random", String(random), "--repeat", "2",
        ])
    }

    /// Learned names of the endpoint with their live addresses.
    func learned() async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for n in try await agent.snapshot() where n.endpoint == endpoint {
            out[n.name] = n.addresses.filter { $0.expiresIn > 0 }.map(\.address)
        }
        return out
    }

    func connects(_ address: String, port: UInt16 = 80) throws -> Bool {
        let script = "/usr/bin/python3 -c \"import socket; s = socket.socket(socket.AF_INET6 if ':' in '\(address)' else socket.AF_INET); s.settimeout(1); s.connect(('\(address)', \(port)))\""
        return try inPod(script).status == 0
    }

    /// Every connection has closed: no per-connection state and no partial response is left.
    func expectNoConnectionState(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(3)
        while try !(tcp.connections().isEmpty && tcp.partialResponses().isEmpty && tcp.sockets().isEmpty
                    && tcp.writtenStreams().isEmpty),
              ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try tcp.connections().isEmpty, "leaked connection state", sourceLocation: sourceLocation)
        #expect(try tcp.partialResponses().isEmpty, "leaked partial responses", sourceLocation: sourceLocation)
        #expect(try tcp.sockets().isEmpty, "sockets left in the sockhash", sourceLocation: sourceLocation)
        #expect(try tcp.writtenStreams().isEmpty, "leaked records of written bytes", sourceLocation: sourceLocation)
        let t = try tcp.counterValues()
        #expect(t[.connections] == t[.closed], "every tracked connection closed", sourceLocation: sourceLocation)
        #expect(t[.trackFailed] == 0, sourceLocation: sourceLocation)
    }
}
