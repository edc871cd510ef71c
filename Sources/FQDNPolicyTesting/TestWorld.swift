import DNSWire
import Foundation
import PolicyEngine

/// A node made of network namespaces for one test, removed after it (also when it fails):
/// pods behind the node (veth endpoints `pod0`, `pod1`, ... labelled `app=podN`), a DNS host
/// running Knot (trusted), web hosts with TCP listeners, optionally a rogue Knot (not trusted),
/// and an agent with its datapath pinned in a fresh bpffs directory.
///
/// Hosts are made in a fixed order, so their addresses are known: the DNS host first
/// (10.220.0.2, fd10:220::2), then the web hosts (10.220.1.2, 10.220.2.2, ...), then the rogue.
///
/// ```swift
/// var options = TestWorld.Options()
/// options.policies = [.forApp("pod0", egress: [EgressRule(toFQDNs: .names("web1.demo.test"))], dns: .names("web1.demo.test"))]
/// try await TestWorld.with(options) { world in
///     #expect(try world.resolve("web1.demo.test")?.rcode == 0)
///     #expect(try world.connects("10.220.1.2"))
/// }
/// ```
public struct TestWorld: Sendable {
    /// What the world holds.
    public struct Options: Sendable {
        /// Pods (each a veth endpoint of the agent when `podEndpoints`).
        public var pods = 2
        /// Whether the pods are added to the agent as endpoints `podN` with labels `app=podN`.
        public var podEndpoints = true
        /// The zones the trusted Knot serves.
        public var zones: [KnotServer.Zone] = [TestWorld.demoZone]
        /// Whether Knot also listens on the DNS host's IPv6 address (trusted as well).
        public var dnsOverIPv6 = true
        /// More addresses of the DNS host, trusted too (a relay in front of Knot, say).
        public var dnsAliases: [String] = []
        /// Web hosts and the TCP ports each listens on (every address).
        public var webHosts = 2
        public var webPorts: [UInt16] = [80]
        /// A Knot the agent does not trust, on a host of its own, serving this zone.
        public var rogueZone: KnotServer.Zone?
        /// An in-process agent (false: the test runs one itself, e.g. `fqdnctl agent`).
        public var agent = true
        /// More trusted servers (addresses, with an optional port) than the DNS host's.
        public var extraServers: [String] = []
        public var flowGrace: UInt32 = 300
        /// The agent's `refreshEvents` (a learned event also for each refreshed address).
        public var refreshEvents = false
        public var objects: DatapathObjects = .embedded
        /// Applied once the pods are endpoints (see ``FQDNPolicy/forApp(_:name:egress:dns:refusedQueryAction:minTTL:maxIPsPerName:)``).
        public var policies: [FQDNPolicy] = []

        public init() {}
    }

    /// demo.test: the names the tests ask for (web1/web2 on the web hosts, a CNAME, a 2 s TTL).
    public static let demoZone = KnotServer.Zone(origin: "demo.test", records: [
        "ns A 10.220.0.2",
        "web1 A 10.220.1.2",
        "web1 AAAA fd10:220:1::2",
        "web2 A 10.220.2.2",
        "web2 AAAA fd10:220:2::2",
        "short 2 A 10.220.1.2",
        "alias CNAME backend",
        "backend A 10.220.2.2",
        "rogue A 10.220.3.2",
    ])

    public let topology: NodeTopology
    public let pods: [NodeTopology.Member]
    public let dns: NodeTopology.Member
    public let web: [NodeTopology.Member]
    public let rogueHost: NodeTopology.Member?
    public let agentOrNil: PolicyAgent?
    public let pinDirectory: String

    /// The in-process agent (the world must have one).
    public var agent: PolicyAgent { agentOrNil! }
    public var pod: NodeTopology.Member { pods[0] }
    public var web1: NodeTopology.Member { web[0] }
    public var web2: NodeTopology.Member { web[1] }
    /// The rogue DNS host (the world must have one).
    public var rogue: NodeTopology.Member { rogueHost! }
    public var pin: String { pinDirectory }

    /// The trusted servers: the DNS host (both families unless told otherwise), its aliases,
    /// the extra ones.
    public static func trustedServers(_ options: Options, dns: NodeTopology.Member) -> [DNSServer] {
        ([dns.ipv4] + (options.dnsOverIPv6 ? [dns.ipv6] : []) + options.dnsAliases + options.extraServers).compactMap(DNSServer.init)
    }

    /// Runs `body` in a fresh world; everything is removed afterwards.
    public static func with<T>(_ options: Options, _ body: (TestWorld) async throws -> T) async throws -> T {
        try await withNetworkFixture { fixture in
            try await withBPFFSDirectory { pin in
                let topology = try NodeTopology(fixture: fixture)
                let pods = try (0..<options.pods).map { _ in try topology.addPod() }
                let dns = try topology.addHost()
                let web = try (0..<options.webHosts).map { _ in try topology.addHost() }
                let rogue = try options.rogueZone.map { _ in try topology.addHost() }
                for alias in options.dnsAliases { try topology.addAddress(alias, to: dns) }
                let knot = try KnotServer(namespace: dns.namespace, listen: [dns.ipv4] + (options.dnsOverIPv6 ? [dns.ipv6] : []),
                                          zones: options.zones)
                defer { knot.stop() }
                let rogueKnot = try rogue.map { try KnotServer(namespace: $0.namespace, listen: [$0.ipv4], zones: [options.rogueZone!]) }
                defer { rogueKnot?.stop() }
                var listeners: [SocketClient.Listener] = []
                defer { listeners.forEach { $0.stop() } }
                for host in web {
                    for port in options.webPorts { listeners.append(try host.namespace.perform { try SocketClient.Listener(port: port) }) }
                }
                var agent: PolicyAgent?
                if options.agent {
                    agent = try PolicyAgent(configuration: .init(
                        pinDirectory: pin, dnsServers: trustedServers(options, dns: dns), flowGrace: options.flowGrace,
                        objects: options.objects, refreshEvents: options.refreshEvents))
                }
                let world = TestWorld(topology: topology, pods: pods, dns: dns, web: web, rogueHost: rogue, agentOrNil: agent,
                                      pinDirectory: pin)
                do {
                    if let agent {
                        if options.podEndpoints { try await world.addPodEndpoints(to: agent) }
                        if !options.policies.isEmpty { try await agent.apply(options.policies) }
                    }
                    let result = try await body(world)
                    try await agent?.shutdown(removeDatapath: true)
                    return result
                } catch {
                    try? await agent?.shutdown(removeDatapath: true)
                    try? Datapath.remove(pinDirectory: pin)
                    throw error
                }
            }
        }
    }

    /// Adds every pod as veth endpoint `podN` (labels `app=podN`).
    public func addPodEndpoints(to agent: PolicyAgent) async throws {
        for (i, p) in pods.enumerated() {
            try await agent.addEndpoint(Endpoint(
                name: "pod\(i)", attachment: .veth(interface: p.nodeInterface, namespace: topology.node.name), labels: ["app": "pod\(i)"]))
        }
    }

    /// What a DNS lookup from a pod got; the answer's facts are readable directly
    /// (`lookup.credited`, `lookup.rcode`).
    @dynamicMemberLookup
    public struct Lookup: Sendable {
        public var facts: ResponseFacts
        /// The credited addresses, as text.
        public var addresses: [String] { facts.credited.map { "\($0.address)" } }
        public subscript<V>(dynamicMember path: KeyPath<ResponseFacts, V>) -> V { facts[keyPath: path] }
    }

    /// Resolves `name` from pod `pod` through `server` (default: the trusted Knot, IPv4).
    /// Nil when no answer came (timeout).
    public func resolve(_ name: String, type: UInt16 = 1, pod: Int = 0, server: String? = nil, id: UInt16? = nil,
                        sourcePort: UInt16 = 0, timeout: Double = 2) throws -> Lookup? {
        let query = DNSMessageBuilder.query(name: name, type: type, id: id ?? UInt16.random(in: 1...UInt16.max))
        let answer = try pods[pod].namespace.perform {
            try SocketClient.dnsQuery(query, server: server ?? dns.ipv4, sourcePort: sourcePort, timeout: timeout)
        }
        return answer.map { Lookup(facts: ResponseFacts.extract(from: $0)) }
    }

    /// Whether pod `pod` can open a TCP connection.
    public func connects(_ address: String, port: UInt16 = 80, pod: Int = 0, timeout: Double = 1) throws -> Bool {
        try pods[pod].namespace.perform { try SocketClient.canConnect(to: address, port: port, timeout: timeout) }
    }

    /// How a TCP connect from pod `pod` ended: 0, or the errno.
    public func connectResult(_ address: String, port: UInt16 = 80, pod: Int = 0, timeout: Double = 1) throws -> Int32 {
        try pods[pod].namespace.perform { try SocketClient.connectResult(to: address, port: port, timeout: timeout) }
    }

    public func counters() async throws -> [Counter: UInt64] { try await agent.counters() }

    /// The live learned addresses of one endpoint, by name.
    public func learned(_ endpoint: String = "pod0") async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for n in try await agent.snapshot() where n.endpoint == endpoint {
            out[n.name] = n.addresses.filter { $0.expiresIn > 0 }.map(\.address)
        }
        return out
    }
}
