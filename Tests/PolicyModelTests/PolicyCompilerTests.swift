import CFQDNShared
import DomainTrie
import Foundation
import Testing

@testable import PolicyModel

/// The policy compiler (pure Swift): rule masks, DNS query rules, ports, CIDR prefixes with
/// except holes, combination of several policies, limits.
struct PolicyCompilerTests {
    static func name(_ s: String) throws -> DomainName { try DomainName(s) }

    @Test func fqdnRulesBecomeRuleBits() throws {
        let p = FQDNPolicy(name: "p", egress: [
            EgressRule(toFQDNs: [.matchName("api.example.com")], toPorts: [PortRule(port: 443, proto: .tcp)]),
            EgressRule(toFQDNs: [.matchPattern("*.example.com")]),
        ])
        let v = try CompiledPolicy.compile([p], id: 7, flowGrace: 60)
        #expect(v.ruleMask(for: try Self.name("api.example.com")) == 0b11)
        #expect(v.ruleMask(for: try Self.name("www.example.com")) == 0b10)
        #expect(v.ruleMask(for: try Self.name("example.com")) == 0)
        #expect(v.settings.rule_count == 2)
        #expect(v.settings.flow_grace == 60)
        #expect(v.ports[0]!.count == 1)
        #expect(v.ports[1]!.count == 0)  // no toPorts: every port
        #expect(v.mayQuery(try Self.name("anything.org")))  // no DNS rules: every name
        #expect(v.trie.policy == 7)
    }

    @Test func dnsRulesRestrictQueries() throws {
        let p = FQDNPolicy(name: "p", egress: [EgressRule(toFQDNs: [.matchName("a.test")])],
                           dnsRules: [.matchPattern("*.test")], refusedQueryAction: .nxdomain)
        let v = try CompiledPolicy.compile([p], id: 1, flowGrace: 0)
        #expect(v.settings.flags & UInt32(FQDN_POL_F_DNS_RULES) != 0)
        #expect(v.settings.refused_action == UInt32(FQDN_REFUSE_NXDOMAIN))
        #expect(v.mayQuery(try Self.name("b.test")))
        #expect(!v.mayQuery(try Self.name("b.example")))
        // The DNS query tag never shows up as a rule bit.
        #expect(v.ruleMask(for: try Self.name("b.test")) == 0)
        #expect(v.ruleMask(for: try Self.name("a.test")) == 1)
    }

    @Test func unionOfPolicies() throws {
        let a = FQDNPolicy(name: "a", egress: [EgressRule(toFQDNs: [.matchName("a.test")])], dnsRules: [.matchName("a.test")],
                           refusedQueryAction: .drop, minTTL: 30, maxIPsPerName: 5)
        let b = FQDNPolicy(name: "b", egress: [EgressRule(toFQDNs: [.matchName("b.test")])], minTTL: 60, maxIPsPerName: 2)
        let v = try CompiledPolicy.compile([b, a], id: 3, flowGrace: 0)
        #expect(v.policyNames == ["a", "b"])
        #expect(v.ruleMask(for: try Self.name("a.test")) == 0b01)
        #expect(v.ruleMask(for: try Self.name("b.test")) == 0b10)
        // b has no DNS rules: queries are not restricted (union of allows).
        #expect(v.settings.flags & UInt32(FQDN_POL_F_DNS_RULES) == 0)
        #expect(v.settings.refused_action == UInt32(FQDN_REFUSE_DROP))
        #expect(v.settings.min_ttl == 60)
        #expect(v.settings.max_ips_per_name == 5)
    }

    @Test func cidrExceptHoles() throws {
        let p = FQDNPolicy(name: "p", egress: [
            EgressRule(toCIDR: [CIDRRule(network: IPNetwork("10.0.0.0/8")!, except: [IPNetwork("10.1.0.0/16")!])]),
            EgressRule(toCIDR: [CIDRRule(network: IPNetwork("10.1.2.0/24")!)]),
            EgressRule(toCIDR: [CIDRRule(network: IPNetwork("2001:db8::/32")!)]),
        ])
        let v = try CompiledPolicy.compile([p], id: 1, flowGrace: 0)
        let entries = Dictionary(uniqueKeysWithValues: v.cidrs.map { ($0.network.description, $0.ruleMask) })
        #expect(entries["10.0.0.0/8"] == 0b001)
        #expect(entries["10.1.0.0/16"] == 0)       // the hole
        #expect(entries["10.1.2.0/24"] == 0b010)   // rule 1 inside rule 0's hole
        #expect(entries["2001:db8::/32"] == 0b100)
        #expect(v.cidrs.count == 4)
    }

    @Test func portsEncoding() throws {
        let p = FQDNPolicy(name: "p", egress: [EgressRule(toFQDNs: [.matchName("a.test")], toPorts: [
            PortRule(port: 80, proto: .tcp), PortRule(port: 8000, endPort: 8100, proto: .udp), PortRule(port: 53),
        ])])
        let v = try CompiledPolicy.compile([p], id: 1, flowGrace: 0)
        let ports = v.ports[0]!
        #expect(ports.count == 3)
        let ranges = withUnsafeBytes(of: ports.ranges) { raw in
            (0..<3).map { raw.load(fromByteOffset: $0 * 8, as: fqdn_port_range.self) }
        }
        #expect(ranges.map { [$0.first, $0.last, UInt16($0.proto)] } == [[80, 80, 6], [8000, 8100, 17], [53, 53, 0]])
        // Port 0 with protocol ANY means every port: the list collapses to "any".
        let any = try CompiledPolicy.compile([FQDNPolicy(name: "q", egress: [EgressRule(toFQDNs: [.matchName("a.test")], toPorts: [PortRule.all])])], id: 1, flowGrace: 0)
        #expect(any.ports[0]!.count == 0)
    }

    @Test func limitsAreErrorsBeforeAnythingIsWritten() throws {
        let many = FQDNPolicy(name: "many", egress: (0..<33).map { EgressRule(toFQDNs: [.matchName("n\($0).test")]) })
        #expect(throws: PolicyCompileError.self) { try CompiledPolicy.compile([many], id: 1, flowGrace: 0) }
        let ports = FQDNPolicy(name: "ports", egress: [EgressRule(toFQDNs: [.matchName("a.test")],
                                                                  toPorts: (1...17).map { PortRule(port: UInt16($0)) })])
        #expect(throws: PolicyCompileError.self) { try CompiledPolicy.compile([ports], id: 1, flowGrace: 0) }
        #expect(throws: PolicyCompileError.self) { try CompiledPolicy.compile([ports], id: 0, flowGrace: 0) }
    }

    @Test func endpointSpecs() throws {
        let e = try Endpoint(parsing: "web:iface=veth1,netns=node,labels=app=web,tier=front")
        #expect(e.name == "web")
        #expect(e.attachment == .veth(interface: "veth1", namespace: "node"))
        #expect(e.labels == ["app": "web", "tier": "front"])
        let c = try Endpoint(parsing: "job:cgroup=/sys/fs/cgroup/job")
        #expect(c.attachment == .cgroup(path: "/sys/fs/cgroup/job"))
        #expect(throws: EndpointSpecError.self) { try Endpoint(parsing: "x") }
        #expect(throws: EndpointSpecError.self) { try Endpoint(parsing: "x:cgroup=relative") }
        #expect(throws: EndpointSpecError.self) { try Endpoint(parsing: "x:iface=a,cgroup=/b") }
        // Source validation: discovered for veth endpoints unless told, unchecked for cgroups.
        #expect(e.sourceAddresses == .discover)
        #expect(c.sourceAddresses == .unchecked)
        let fixed = try Endpoint(parsing: "p:iface=veth2,addr=10.0.0.5,addr=fd00::5,labels=app=p")
        #expect(fixed.sourceAddresses == .fixed([[10, 0, 0, 5], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]]))
        #expect(fixed.description == "p:iface=veth2,addr=10.0.0.5,addr=fd00::5,labels=app=p")
        #expect(try Endpoint(parsing: fixed.description) == fixed)
        #expect(try Endpoint(parsing: "p:iface=veth2,src=unchecked").sourceAddresses == .unchecked)
        #expect(try Endpoint(parsing: "j:cgroup=/sys/fs/cgroup/j,addr=10.0.0.9").sourceAddresses == .fixed([[10, 0, 0, 9]]))
        for (spec, reason) in [("p:iface=v,addr=10.0.0.300", "addr=10.0.0.300 is not an IPv4 or IPv6 address"),
                               ("p:iface=v,src=maybe", "expected src=discover or src=unchecked"),
                               ("p:iface=v,addr=10.0.0.1,src=unchecked", "give addr= or src=, not both"),
                               ("j:cgroup=/sys/fs/cgroup/j,src=discover", "src=discover applies to iface= endpoints only")] {
            #expect {
                try Endpoint(parsing: spec)
            } throws: { error in
                "\(error)".contains(reason) && "\(error)".contains(spec)
            }
        }
        #expect(DNSServer("10.0.0.2")?.description == "10.0.0.2:53")
        #expect(DNSServer("[fd00::2]:5353")?.port == 5353)
        #expect(DNSServer("fd00::2")?.address.count == 16)
        #expect(DNSServer("nope") == nil)
    }
}
