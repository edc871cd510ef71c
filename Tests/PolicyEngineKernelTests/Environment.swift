import DNSWire
import FQDNPolicyTesting
import Foundation
import PolicyEngine
import Testing

/// The test world: a node namespace routing between two pods and four hosts, Knot DNS on
/// host 0 (trusted), web servers on hosts 1 and 2 (TCP 80 and 8080, IPv4 and IPv6), a rogue
/// Knot on host 3 (not trusted) that answers the same names with host 2's address, and an
/// agent with its datapath pinned in a fresh bpffs directory. Everything is removed at the
/// end, also when the test fails.
struct Environment {
    let topology: NodeTopology
    let pods: [NodeTopology.Member]
    let dns: NodeTopology.Member
    let web1: NodeTopology.Member
    let web2: NodeTopology.Member
    let rogue: NodeTopology.Member
    let agent: PolicyAgent
    let pinDirectory: String

    static let zone = KnotServer.Zone(origin: "demo.test", records: [
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

    /// Runs `body` in a fresh environment; `policyYAML` (when given) is applied after the pods
    /// are added as endpoints `pod0`/`pod1` with labels app=pod0/app=pod1.
    static func with<T>(policyYAML: String? = nil, objects: DatapathObjects = .embedded,
                        _ body: (Environment) async throws -> T) async throws -> T {
        try await withNetworkFixture { fixture in
            try await withBPFFSDirectory { pin in
                let clock = ContinuousClock()
                let t0 = clock.now
                func mark(_ what: String) { if ProcessInfo.processInfo.environment["FQDN_TEST_TIMING"] != nil { print("[timing] \(what): \(clock.now - t0)") } }
                let topology = try NodeTopology(fixture: fixture)
                let pods = [try topology.addPod(), try topology.addPod()]
                let dns = try topology.addHost()
                let web1 = try topology.addHost()
                let web2 = try topology.addHost()
                let rogue = try topology.addHost()
                mark("topology")
                let knot = try KnotServer(namespace: dns.namespace, listen: [dns.ipv4, dns.ipv6], zones: [zone])
                defer { knot.stop() }
                let rogueZone = KnotServer.Zone(origin: "demo.test", records: [
                    "web1 A 10.220.2.2", "web2 A 10.220.2.2",
                ])
                let rogueKnot = try KnotServer(namespace: rogue.namespace, listen: [rogue.ipv4], zones: [rogueZone])
                defer { rogueKnot.stop() }
                mark("knot")
                var listeners: [SocketClient.Listener] = []
                for host in [web1, web2] {
                    for port: UInt16 in [80, 8080] {
                        listeners.append(try host.namespace.perform { try SocketClient.Listener(port: port) })
                    }
                }
                defer { listeners.forEach { $0.stop() } }

                let agent = try PolicyAgent(configuration: .init(
                    pinDirectory: pin, dnsServers: [DNSServer(dns.ipv4)!, DNSServer(dns.ipv6)!], flowGrace: 300, objects: objects))
                mark("agent loaded")
                for (i, pod) in pods.enumerated() {
                    try await agent.addEndpoint(Endpoint(
                        name: "pod\(i)", attachment: .veth(interface: pod.nodeInterface, namespace: topology.node.name),
                        labels: ["app": "pod\(i)"]))
                }
                if let policyYAML {
                    try await agent.apply(PolicyDocument.parse(yaml: policyYAML))
                }
                let env = Environment(topology: topology, pods: pods, dns: dns, web1: web1, web2: web2, rogue: rogue,
                                      agent: agent, pinDirectory: pin)
                mark("endpoints + policy")
                do {
                    let result = try await body(env)
                    mark("body")
                    try await agent.shutdown(removeDatapath: true)
                    return result
                } catch {
                    try? await agent.shutdown(removeDatapath: true)
                    throw error
                }
            }
        }
    }

    /// What a DNS lookup from a pod got.
    struct Lookup {
        var rcode: UInt16
        var addresses: [String]
        var facts: ResponseFacts
    }

    /// Resolves `name` from pod `pod` through `server` (default: the trusted Knot, IPv4).
    /// Nil when no answer came (timeout).
    func resolve(_ name: String, type: UInt16 = 1, pod: Int = 0, server: String? = nil, id: UInt16? = nil,
                 sourcePort: UInt16 = 0, timeout: Double = 2) throws -> Lookup? {
        let query = DNSMessageBuilder.query(name: name, type: type, id: id ?? UInt16.random(in: 1...UInt16.max))
        let answer = try pods[pod].namespace.perform {
            try SocketClient.dnsQuery(query, server: server ?? dns.ipv4, sourcePort: sourcePort, timeout: timeout)
        }
        guard let answer else { return nil }
        let facts = ResponseFacts.extract(from: answer)
        return Lookup(rcode: facts.rcode, addresses: facts.credited.map { "\($0.address)" }, facts: facts)
    }

    /// Whether pod `pod` can open a TCP connection.
    func connects(_ address: String, port: UInt16 = 80, pod: Int = 0, timeout: Double = 1) throws -> Bool {
        try pods[pod].namespace.perform { try SocketClient.canConnect(to: address, port: port, timeout: timeout) }
    }

    func counters() async throws -> [Counter: UInt64] { try await agent.counters() }

    /// The learned names of one endpoint.
    func learned(_ endpoint: String = "pod0") async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for n in try await agent.snapshot() where n.endpoint == endpoint {
            out[n.name] = n.addresses.filter { $0.expiresIn > 0 }.map(\.address)
        }
        return out
    }
}

/// A CiliumNetworkPolicy selecting `app` with the given egress rules (YAML list items,
/// indented by 4) and annotations.
func policyYAML(name: String = "test", app: String = "pod0", egress: String, annotations: [String: String] = [:]) -> String {
    var text = """
    apiVersion: cilium.io/v2
    kind: CiliumNetworkPolicy
    metadata:
      name: \(name)

    """
    if !annotations.isEmpty {
        text += "  annotations:\n"
        for (k, v) in annotations.sorted(by: { $0.key < $1.key }) { text += "    \(k): \"\(v)\"\n" }
    }
    text += """
    spec:
      endpointSelector:
        matchLabels:
          app: \(app)
      egress:

    """
    return text + egress
}
