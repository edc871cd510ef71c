import DNSWire
import FQDNPolicyTesting
import Foundation
import PolicyEngine
import Testing

/// The world of most datapath tests: two pods (endpoints pod0/pod1, labels app=podN), Knot on
/// the DNS host (demo.test, both families, trusted), web servers on two hosts (TCP 80 and 8080,
/// IPv4 and IPv6), a rogue Knot (not trusted) answering web1 and web2 with web2's address, and
/// an agent; `policies` are applied once the pods are endpoints.
typealias Environment = TestWorld

extension TestWorld {
    static func with<T>(policies: [FQDNPolicy] = [], objects: DatapathObjects = .embedded,
                        _ body: (TestWorld) async throws -> T) async throws -> T {
        var options = Options()
        options.webPorts = [80, 8080]
        options.rogueZone = KnotServer.Zone(origin: "demo.test", records: ["web1 A 10.220.2.2", "web2 A 10.220.2.2"])
        options.objects = objects
        options.policies = policies
        return try await with(options, body)
    }
}
