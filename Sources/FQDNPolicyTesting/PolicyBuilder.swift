import PolicyEngine

// Shorthands for the typed policies tests, benchmarks and examples apply: the library's own
// types (FQDNPolicy, EgressRule, PortRule, FQDNSelector), with the repeated parts named once.
// Policies a user reads as YAML come from `PolicyDocument.yaml(_:)`.

extension FQDNPolicy {
    /// A policy for the endpoints labelled `app=<app>`: they may query the names `dns` selects
    /// and reach what `egress` allows, nothing else.
    ///
    /// ```swift
    /// let policy = FQDNPolicy.forApp("pod0", egress: [EgressRule(toFQDNs: .names("web1.demo.test"), toPorts: [.tcp(80)])],
    ///                                dns: .names("web1.demo.test"))
    /// ```
    public static func forApp(
        _ app: String, name: String = "test", egress: [EgressRule], dns: [FQDNSelector],
        refusedQueryAction: RefusedQueryAction = .refused, minTTL: UInt32 = FQDNPolicy.defaultMinTTL,
        maxIPsPerName: UInt32 = FQDNPolicy.defaultMaxIPsPerName
    ) -> FQDNPolicy {
        FQDNPolicy(name: name, endpointSelector: LabelSelector(matchLabels: ["app": app]), egress: egress, dnsRules: dns,
                   refusedQueryAction: refusedQueryAction, minTTL: minTTL, maxIPsPerName: maxIPsPerName)
    }
}

extension Array where Element == FQDNSelector {
    /// `matchName` selectors, one per name.
    public static func names(_ names: String...) -> [FQDNSelector] { names.map { .matchName($0) } }
    /// `matchPattern` selectors, one per pattern.
    public static func patterns(_ patterns: String...) -> [FQDNSelector] { patterns.map { .matchPattern($0) } }
}

extension PortRule {
    /// One TCP port.
    public static func tcp(_ port: UInt16) -> PortRule { PortRule(port: port, proto: .tcp) }
}

extension EgressRule {
    /// A CIDR destination (with exceptions) on the given ports. Traps on a malformed network:
    /// these are a test's constants.
    public static func cidr(_ network: String, except: [String] = [], ports: [PortRule]) -> EgressRule {
        func net(_ s: String) -> IPNetwork {
            guard let n = IPNetwork(s) else { preconditionFailure("not a network: \(s)") }
            return n
        }
        return EgressRule(toCIDR: [CIDRRule(network: net(network), except: except.map(net))], toPorts: ports)
    }
}
