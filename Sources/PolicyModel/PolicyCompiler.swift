import CFQDNShared
import DomainTrie

/// Why policies cannot be turned into kernel entries. Nothing is written when this is thrown.
public struct PolicyCompileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The policies involved (those selecting one endpoint).
    public var policies: [String]
    public var reason: String

    public init(policies: [String], reason: String) {
        self.policies = policies
        self.reason = reason
    }

    public var description: String { "policy \(policies.joined(separator: " + ")): \(reason)" }
}

/// One LPM entry of a policy version: a prefix and the rules whose CIDRs hold it (0: an
/// `except` hole).
public struct CIDREntry: Sendable, Hashable {
    public var network: IPNetwork
    public var ruleMask: UInt32
}

/// The kernel form of every policy that selects one endpoint: a *policy version*, written
/// under its own id next to the versions in use, then switched to with one map update.
///
/// - Rule r (bit r of every rule mask) is the r-th egress rule of the selecting policies,
///   policies taken in name order. At most `FQDN_MAX_RULES` (32).
/// - Trie tags: r for each `toFQDNs` selector of rule r; `FQDN_TAG_DNS_QUERY` for each DNS
///   rule (`toPorts[].rules.dns`), which decide the names that may be queried.
/// - Several policies combine as a union of allows: a query is restricted only when every
///   selecting policy has DNS rules; the refused-query action is the first policy's, min TTL
///   and max IPs per name the largest.
public struct CompiledPolicy: Sendable {
    public let id: UInt32
    /// The selecting policies, sorted by name.
    public let sources: [FQDNPolicy]
    public let settings: fqdn_policy_settings
    /// Rule -> its ports (every rule has an entry; 0 ranges = every port and protocol).
    public let ports: [UInt32: fqdn_rule_ports]
    public let trie: CompiledTrie
    public let cidrs: [CIDREntry]
    /// Human-readable summary of each rule, by rule index.
    public let ruleSummaries: [String]

    public var policyNames: [String] { sources.map(\.name) }

    /// Compiles the policies selecting one endpoint under version id `id`.
    public static func compile(_ policies: [FQDNPolicy], id: UInt32, flowGrace: UInt32) throws(PolicyCompileError) -> CompiledPolicy {
        let sources = policies.sorted { $0.name < $1.name }
        let names = sources.map(\.name)
        func fail(_ reason: String) -> PolicyCompileError { PolicyCompileError(policies: names, reason: reason) }
        guard id != 0 else { throw fail("policy version id 0 is reserved") }

        let rules = sources.flatMap { p in p.egress.map { (policy: p.name, rule: $0) } }
        guard rules.count <= Int(FQDN_MAX_RULES) else {
            throw fail("\(rules.count) egress rules select one endpoint (at most \(FQDN_MAX_RULES))")
        }

        var trieRules: [TrieRule] = []
        var ports: [UInt32: fqdn_rule_ports] = [:]
        var summaries: [String] = []
        for (r, entry) in rules.enumerated() {
            for selector in entry.rule.toFQDNs {
                trieRules.append(TrieRule(try pattern(selector, policy: entry.policy, fail), tag: UInt32(r)))
            }
            ports[UInt32(r)] = try portsValue(entry.rule.toPorts, policy: entry.policy, rule: r, fail)
            var parts: [String] = []
            if !entry.rule.toFQDNs.isEmpty { parts.append("fqdn " + entry.rule.toFQDNs.map(\.text).joined(separator: ",")) }
            if !entry.rule.toCIDR.isEmpty { parts.append("cidr " + entry.rule.toCIDR.map(\.network.description).joined(separator: ",")) }
            parts.append(entry.rule.toPorts.isEmpty ? "any port" : entry.rule.toPorts.map(\.text).joined(separator: ","))
            summaries.append("\(entry.policy): " + parts.joined(separator: " "))
        }

        let restrictQueries = !sources.isEmpty && sources.allSatisfy { !$0.dnsRules.isEmpty }
        if restrictQueries {
            var seen = Set<FQDNSelector>()
            for p in sources {
                for selector in p.dnsRules where seen.insert(selector).inserted {
                    trieRules.append(TrieRule(try pattern(selector, policy: p.name, fail), tag: UInt32(FQDN_TAG_DNS_QUERY)))
                }
            }
        }
        let trie: CompiledTrie
        do {
            trie = try CompiledTrie(trieRules, policy: id)
        } catch {
            throw fail("the DNS name patterns cannot be compiled for the kernel: \(error)")
        }

        // CIDR rules: every network and every except is a prefix; each prefix maps to the
        // rules that hold it without an except holding it. The longest-prefix match of an
        // address then yields exactly the rules that allow it.
        var prefixes = Set<IPNetwork>()
        for entry in rules { for c in entry.rule.toCIDR { prefixes.insert(c.network); c.except.forEach { prefixes.insert($0) } } }
        var cidrs: [CIDREntry] = []
        let ordered = prefixes.sorted { a, b in
            if a.address.count != b.address.count { return a.address.count < b.address.count }
            if a.prefixLength != b.prefixLength { return a.prefixLength < b.prefixLength }
            return a.address.lexicographicallyPrecedes(b.address)
        }
        for prefix in ordered {
            var mask: UInt32 = 0
            for (r, entry) in rules.enumerated() {
                for c in entry.rule.toCIDR where c.network.contains(prefix) && !c.except.contains(where: { $0.contains(prefix) }) {
                    mask |= 1 << UInt32(r)
                }
            }
            cidrs.append(CIDREntry(network: prefix, ruleMask: mask))
        }
        guard cidrs.count <= Int(FQDN_MAX_CIDR_ENTRIES) else { throw fail("\(cidrs.count) CIDR prefixes (at most \(FQDN_MAX_CIDR_ENTRIES))") }

        var settings = fqdn_policy_settings()
        settings.flags = restrictQueries ? UInt32(FQDN_POL_F_DNS_RULES) : 0
        settings.refused_action = switch sources.first?.refusedQueryAction ?? .refused {
        case .refused: UInt32(FQDN_REFUSE_REFUSED)
        case .nxdomain: UInt32(FQDN_REFUSE_NXDOMAIN)
        case .drop: UInt32(FQDN_REFUSE_DROP)
        }
        settings.min_ttl = sources.map(\.minTTL).max() ?? 0
        settings.max_ips_per_name = min(max(sources.map(\.maxIPsPerName).max() ?? FQDNPolicy.defaultMaxIPsPerName, 1), UInt32(FQDN_MAX_IPS_PER_NAME_LIMIT))
        settings.flow_grace = flowGrace
        settings.rule_count = UInt32(rules.count)

        return CompiledPolicy(id: id, sources: sources, settings: settings, ports: ports, trie: trie, cidrs: cidrs, ruleSummaries: summaries)
    }

    /// The egress rules whose `toFQDNs` match `name` (bit r = rule r): what the kernel writes
    /// into a learned entry. Computed by the compiled walk, as the kernel does.
    public func ruleMask(for name: DomainName) -> UInt32 {
        guard let tags = trie.matchingTags(name) else { return 0 }
        return tags.reduce(0) { $1 < FQDN_MAX_RULES ? $0 | (1 << $1) : $0 }
    }

    /// Whether the DNS rules let `name` be queried.
    public func mayQuery(_ name: DomainName) -> Bool {
        guard settings.flags & UInt32(FQDN_POL_F_DNS_RULES) != 0 else { return true }
        return trie.matchingTags(name)?.contains(UInt32(FQDN_TAG_DNS_QUERY)) ?? false
    }

    static func pattern(_ s: FQDNSelector, policy: String, _ fail: (String) -> PolicyCompileError) throws(PolicyCompileError) -> FQDNPattern {
        do {
            switch s {
            case .matchName(let n): return try FQDNPattern(matchName: n)
            case .matchPattern(let p): return try FQDNPattern(matchPattern: p)
            }
        } catch {
            throw fail("\(policy): \(s): \(error)")
        }
    }

    static func portsValue(_ rules: [PortRule], policy: String, rule: Int, _ fail: (String) -> PolicyCompileError) throws(PolicyCompileError) -> fqdn_rule_ports {
        var value = fqdn_rule_ports()
        // Any rule that allows every port of every protocol makes the list moot.
        if rules.isEmpty || rules.contains(where: { $0.port == 0 && $0.endPort == UInt16.max && $0.proto == .any }) {
            return value
        }
        guard rules.count <= Int(FQDN_MAX_PORTS_PER_RULE) else {
            throw fail("\(policy): rule \(rule) has \(rules.count) port entries (at most \(FQDN_MAX_PORTS_PER_RULE))")
        }
        value.count = UInt32(rules.count)
        withUnsafeMutableBytes(of: &value.ranges) { raw in
            for (i, p) in rules.enumerated() {
                var range = fqdn_port_range()
                range.first = p.port
                range.last = p.endPort
                range.proto = switch p.proto {
                case .any: 0
                case .tcp: 6
                case .udp: 17
                }
                raw.storeBytes(of: range, toByteOffset: i * MemoryLayout<fqdn_port_range>.stride, as: fqdn_port_range.self)
            }
        }
        return value
    }
}

extension FQDNSelector {
    var text: String {
        switch self {
        case .matchName(let n): n
        case .matchPattern(let p): p
        }
    }
}

extension PortRule {
    var text: String {
        let range = port == 0 ? "*" : (endPort == port ? "\(port)" : "\(port)-\(endPort)")
        return proto == .any ? range : "\(range)/\(proto.rawValue)"
    }
}
