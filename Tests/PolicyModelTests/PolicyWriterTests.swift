import FQDNTestSupport
import Testing

@testable import PolicyModel

/// `PolicyDocument.yaml` writes what `PolicyDocument.parse` reads back into the same policies:
/// the full sample document, policies with every field and awkward strings, and seeded random
/// policies. The reference is the parser (an independent path through Yams' reader), never
/// the writer's own text.
@Suite("CiliumNetworkPolicy documents written back")
struct PolicyWriterTests {
    static func roundTrip(_ policies: [FQDNPolicy], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let text = PolicyDocument.yaml(policies)
        let back = try PolicyDocument.parse(yaml: text, file: "written.yaml")
        #expect(back == policies, "\(text)", sourceLocation: sourceLocation)
    }

    @Test func theFullSampleComesBack() throws {
        let policies = try PolicyDocument.parse(yaml: PolicyDocumentTests.full)
        try Self.roundTrip(policies)
    }

    @Test func everyFieldAndAwkwardStrings() throws {
        let p = FQDNPolicy(
            name: "a: b # not a comment \"quoted\" \\ back",
            endpointSelector: LabelSelector(
                matchLabels: ["k8s:app": "web", "app.kubernetes.io/name": "true", "empty": "", "n": "0123", "yes": "no"],
                matchExpressions: [
                    .init(key: "tier", op: .notIn, values: ["db", "- dash", "null"]),
                    .init(key: "team", op: .exists, values: []),
                ]),
            egress: [
                EgressRule(toFQDNs: [.matchName("api.github.com."), .matchPattern("**.github.io"), .matchPattern("*")],
                           toPorts: [PortRule(port: 443, proto: .tcp), PortRule(port: 8000, endPort: 8080), PortRule(port: 53, proto: .udp)]),
                EgressRule(toCIDR: [CIDRRule(network: IPNetwork("10.0.0.0/8")!, except: [IPNetwork("10.1.0.0/16")!]),
                                    CIDRRule(network: IPNetwork("2001:db8::/32")!)]),
                EgressRule(toFQDNs: [.matchName("every.port.test")]),
            ],
            dnsRules: [.matchPattern("*.example.test"), .matchName("api.github.com")],
            refusedQueryAction: .drop, minTTL: 604_800, maxIPsPerName: 1)
        let defaults = FQDNPolicy(name: "defaults", endpointSelector: LabelSelector(matchLabels: ["app": "x"]))
        let allPorts = FQDNPolicy(name: "all-ports", egress: [EgressRule(toFQDNs: [.matchName("a.test")], toPorts: [.all])])
        try Self.roundTrip([p, defaults, allPorts])
        #expect(PolicyDocument.yaml([p, defaults]).components(separatedBy: "\n---\n").count == 2, "one document per policy")
    }

    @Test func seededRandomPolicies() throws {
        var r = SeededRandom(seed: 0x9011C7)
        func pick<T>(_ items: [T]) -> T { items[Int(r.next() % UInt64(items.count))] }
        let names = ["api.test", "a.b.c.test", "x-1.test.", "_srv._tcp.test"]
        let patterns = ["*.test", "**.svc.test", "img-*.cdn.test", "*", "api-*.test"]
        let values = ["web", "", "a b", "#x", "'q'", "\"", "null", "1e3", "é"]
        for i in 0..<200 {
            func selector() -> FQDNSelector { r.next() % 2 == 0 ? .matchName(pick(names)) : .matchPattern(pick(patterns)) }
            func port() -> PortRule {
                let p = UInt16(truncatingIfNeeded: r.next() % 70_000)
                return PortRule(port: p, endPort: r.next() % 3 == 0 ? p &+ UInt16(r.next() % 100) : nil, proto: pick(TransportProtocol.allCases))
            }
            var egress: [EgressRule] = []
            for _ in 0..<Int(r.next() % 4) {
                var rule = EgressRule()
                if r.next() % 3 != 0 { rule.toFQDNs = (0...Int(r.next() % 3)).map { _ in selector() } }
                if rule.toFQDNs.isEmpty || r.next() % 4 == 0 { rule.toCIDR = [CIDRRule(network: pick([IPNetwork("10.0.0.0/8")!, IPNetwork("fd00::/8")!]))] }
                rule.toPorts = (0..<Int(r.next() % 3)).map { _ in port() }.filter { $0.endPort >= $0.port }
                egress.append(rule)
            }
            var labels: [String: String] = [:]
            for k in 0..<Int(r.next() % 3) { labels["k\(k)"] = pick(values) }
            let p = FQDNPolicy(
                name: "p\(i)-\(pick(values))", endpointSelector: LabelSelector(matchLabels: labels), egress: egress,
                dnsRules: (0..<Int(r.next() % 3)).map { _ in selector() }, refusedQueryAction: pick(RefusedQueryAction.allCases),
                minTTL: UInt32(r.next() % 3), maxIPsPerName: pick([1, 1000, 65_536]))
            try Self.roundTrip([p])
        }
    }
}
