import BPFMapBindings
import CFQDNShared
import Foundation

/// The per-CPU counters of the datapath (`enum fqdn_counter`), with their Prometheus names.
public enum Counter: UInt32, CaseIterable, Sendable, Codable {
    case packets = 0
    case dnsQueries = 1
    case dnsQueriesRefused = 2
    case dnsQueriesDropped = 3
    case dnsQueriesMalformed = 4
    case dnsResponses = 5
    case dnsResponsesMalformed = 6
    case dnsResponsesUntrusted = 7
    case dnsResponsesNoInflight = 8
    case dnsResponsesQnameMismatch = 9
    case dnsResponsesNotCredited = 10
    case addressesLearned = 11
    case addressesRefreshed = 12
    case addressesEvicted = 13
    case learnFailed = 14
    case inflightFailed = 15
    case egressAllowedLearned = 16
    case egressAllowedCIDR = 17
    case egressAllowedFlow = 18
    case egressAllowedDNS = 19
    case egressAllowedOther = 20
    case egressDenied = 21
    case egressDeniedExpired = 22
    case egressDeniedPort = 23
    case eventsLost = 24
    case trieErrors = 25
    /// Learned entries the agent deleted (expired ones collected, endpoint flushed or removed,
    /// rules gone after a policy change). Layout 2 and later; written only by userspace.
    case addressesRemoved = 26
    /// Layout 3 (fail closed): dropped frames the datapath does not classify (VLAN tags,
    /// other ethertypes, truncated headers) and ND that could leave the link; also in
    /// `egressDenied`.
    case egressDeniedUnclassified = 27
    /// DNS toward trusted servers in a shape the rules cannot check, dropped.
    case dnsQueriesRejected = 28
    /// Replies on connections into the endpoint.
    case egressAllowedReply = 29
    /// Layout 4: packets whose source address is not one of the endpoint's (source
    /// validation); also in `egressDenied`.
    case egressDeniedSpoofed = 30
    /// Layout 4: answers on a randomised query's port with another id or question, dropped
    /// (forgery attempts, or a server that answers the wrong question).
    case dnsResponsesIdMismatch = 31

    /// `fqdnpolicy_<name>_total`
    public var prometheusName: String { "fqdnpolicy_\(MetricsSnapshot.snakeCase(String(describing: self)))_total" }

    public var help: String {
        switch self {
        case .packets: "Packets of endpoints seen by any hook."
        case .dnsQueries: "UDP DNS queries from endpoints to trusted servers."
        case .dnsQueriesRefused: "Queries answered REFUSED or NXDOMAIN in the kernel."
        case .dnsQueriesDropped: "Refused queries dropped (policy action drop, or cgroup endpoints)."
        case .dnsQueriesMalformed: "Queries the parser rejected (dropped)."
        case .dnsResponses: "DNS responses from trusted servers toward endpoints."
        case .dnsResponsesMalformed: "Responses the parser rejected (delivered, nothing learned)."
        case .dnsResponsesUntrusted: "Responses from port 53 of servers that are not trusted (nothing learned)."
        case .dnsResponsesNoInflight: "Responses matching no in-flight query (nothing learned)."
        case .dnsResponsesQnameMismatch: "Responses whose question differs from the in-flight query's (nothing learned)."
        case .dnsResponsesNotCredited: "Responses with an error rcode, TC set or no single question."
        case .addressesLearned: "New (endpoint, address) entries learned."
        case .addressesRefreshed: "Learned entries refreshed by a new answer."
        case .addressesEvicted: "Addresses pushed out by the max-IPs-per-name limit."
        case .learnFailed: "Learned-address map updates that failed."
        case .inflightFailed: "In-flight query records that failed."
        case .egressAllowedLearned: "Egress packets allowed by a learned address."
        case .egressAllowedCIDR: "Egress packets allowed by a CIDR rule."
        case .egressAllowedFlow: "Egress packets allowed by an established flow after expiry."
        case .egressAllowedDNS: "Egress packets to trusted DNS servers."
        case .egressAllowedOther: "Egress packets passed as not enforced (ARP, on-link ND, no policy)."
        case .egressDenied: "Egress packets dropped."
        case .egressDeniedExpired: "Dropped egress packets whose address had been learned but expired."
        case .egressDeniedPort: "Dropped egress packets whose address was allowed but not the port."
        case .eventsLost: "Events lost because the ring buffer was full."
        case .trieErrors: "Trie walks that failed (name treated as unmatched)."
        case .addressesRemoved: "Learned entries deleted by the agent (expired, endpoint flushed or removed, policy change)."
        case .egressDeniedUnclassified: "Dropped egress frames the datapath does not classify (VLAN tags, other ethertypes, truncated headers) or ND that could leave the link."
        case .dnsQueriesRejected: "DNS messages to trusted servers dropped for a shape the rules cannot check (not one question, a response, another opcode, extra records, TCP Fast Open data, TCP not enabled)."
        case .egressAllowedReply: "Egress packets allowed as replies on connections into the endpoint."
        case .egressDeniedSpoofed: "Dropped egress packets whose source address is not one of the endpoint's (source validation)."
        case .dnsResponsesIdMismatch: "Answers on a randomised query's port with another id or question (dropped; the query is consumed)."
        }
    }
}

/// One learned address of a name.
public struct LearnedAddress: Sendable, Hashable, Codable {
    public var address: String
    /// The TTL of the answer (before min TTL).
    public var ttl: UInt32
    /// Seconds until the kernel stops allowing it (negative: expired, not yet collected).
    public var expiresIn: Double
    public var policyID: UInt32
    public var ruleMask: UInt32
}

/// A name an endpoint resolved, with the addresses the kernel allows for it.
public struct LearnedName: Sendable, Hashable, Codable {
    public var endpoint: String
    public var endpointID: UInt32
    public var name: String
    public var addresses: [LearnedAddress]
}

/// An endpoint as the pinned state records it.
public struct EndpointStatus: Sendable, Hashable, Codable {
    public var name: String
    public var id: UInt32
    /// "veth" or "cgroup"
    public var kind: String
    public var ifindex: UInt32?
    public var cgroupID: UInt64?
    public var policyID: UInt32
    public var previousPolicyID: UInt32
    public var enforcing: Bool
    /// The addresses its packets may carry (source validation); nil: not checked.
    public var sourceAddresses: [String]?
}

/// A policy version as the pinned state records it.
public struct PolicyVersionStatus: Sendable, Hashable, Codable {
    public var id: UInt32
    public var rules: UInt32
    public var restrictsQueries: Bool
    public var refusedQueryAction: String
    public var minTTL: UInt32
    public var maxIPsPerName: UInt32
    public var flowGrace: UInt32
}

/// Reading the datapath's state from its maps: what `fqdnctl status|cache|metrics` print,
/// with or without an agent running.
extension DatapathMaps {
    public func endpoints() throws(DatapathError) -> [EndpointStatus] {
        let infos = try bpf { () throws(BPFError) in try epInfo.entries() }
        let sources = try bpf { () throws(BPFError) in try epAddr.keys() }
        var out: [EndpointStatus] = []
        for (id, info) in infos {
            var ep: fqdn_endpoint?
            if info.kind == UInt32(FQDN_EP_KIND_VETH) {
                ep = try bpf { () throws(BPFError) in try epIfindex.lookup(info.ifindex) }
            } else {
                ep = try bpf { () throws(BPFError) in try epCgroup.lookup(info.cgroup_id) }
            }
            let veth = info.kind == UInt32(FQDN_EP_KIND_VETH)
            out.append(EndpointStatus(
                name: CBytes.string(info.name), id: id, kind: veth ? "veth" : "cgroup",
                ifindex: veth ? info.ifindex : nil, cgroupID: veth ? nil : info.cgroup_id,
                policyID: ep?.policy_id ?? 0, previousPolicyID: ep?.prev_policy_id ?? 0,
                enforcing: (ep?.flags ?? 0) & UInt32(FQDN_EP_F_ENFORCE) != 0,
                sourceAddresses: (ep?.flags ?? 0) & UInt32(FQDN_EP_F_SRC_CHECK) == 0 ? nil
                    : sources.filter { $0.endpoint_id == id }.map {
                        IPNetwork.format(CBytes.get($0.addr, count: $0.family == UInt8(FQDN_AF_INET) ? 4 : 16))
                    }.sorted()))
        }
        return out.sorted { $0.id < $1.id }
    }

    /// Marks the veth endpoint on `ifindex` as having its DNS over TCP checked
    /// (`FQDN_EP_F_TCP_DNS`: only then may its TCP carry data to a trusted server), for a tool
    /// that loads the TCP programs into a running agent's datapath from another process.
    /// `PolicyAgent.enableTCP` does this itself; the agent keeps the flag when it rewrites the
    /// endpoint.
    public func markTCPDNSChecked(ifindex: UInt32) throws(DatapathError) {
        try bpf { () throws(BPFError) in
            guard var v = try epIfindex.lookup(ifindex) else {
                throw .invalidState("no endpoint on interface index \(ifindex)")
            }
            v.flags |= UInt32(FQDN_EP_F_TCP_DNS)
            try epIfindex.update(ifindex, v)
        }
    }

    public func policyVersions() throws(DatapathError) -> [PolicyVersionStatus] {
        try bpf { () throws(BPFError) in try policy.entries() }.map { id, s in
            PolicyVersionStatus(
                id: id, rules: s.rule_count, restrictsQueries: s.flags & UInt32(FQDN_POL_F_DNS_RULES) != 0,
                refusedQueryAction: ["refused", "nxdomain", "drop"][Int(min(s.refused_action, 2))],
                minTTL: s.min_ttl, maxIPsPerName: s.max_ips_per_name, flowGrace: s.flow_grace)
        }.sorted { $0.id < $1.id }
    }

    /// Every learned (endpoint, name) with its addresses, expired ones included until the
    /// agent collects them.
    public func learned(now: UInt64 = BootClock.nanoseconds) throws(DatapathError) -> [LearnedName] {
        let endpointNames = Dictionary(uniqueKeysWithValues: try bpf { () throws(BPFError) in try epInfo.entries() }
            .map { ($0.key, CBytes.string($0.value.name)) })
        var byName: [fqdn_name_key: [LearnedAddress]] = [:]
        func add(_ endpoint: UInt32, _ address: [UInt8], _ v: fqdn_allow) {
            var k = fqdn_name_key()
            k.endpoint_id = endpoint
            k.name_hash = v.name_hash
            byName[k, default: []].append(LearnedAddress(
                address: IPNetwork.format(address), ttl: v.ttl,
                expiresIn: (Double(v.expiry_ns) - Double(now)) / 1e9, policyID: v.policy_id, ruleMask: v.rule_mask))
        }
        for e in try bpf({ () throws(BPFError) in try learnedEntries() }) { add(e.endpointID, e.key.address, e.value) }
        var out: [LearnedName] = []
        for (k, addresses) in byName {
            let name = (try? names.lookup(k))??.name.text ?? "<name \(String(k.name_hash, radix: 16))>"
            out.append(LearnedName(
                endpoint: endpointNames[k.endpoint_id] ?? "#\(k.endpoint_id)", endpointID: k.endpoint_id, name: name,
                addresses: addresses.sorted { $0.address < $1.address }))
        }
        return out.sorted { ($0.endpointID, $0.name) < ($1.endpointID, $1.name) }
    }

    /// Every counter summed over CPUs.
    public func counterValues() throws(DatapathError) -> [Counter: UInt64] {
        var out: [Counter: UInt64] = [:]
        for c in Counter.allCases {
            out[c] = try bpf { () throws(BPFError) in try counters.sum(at: c.rawValue) } ?? 0
        }
        return out
    }

    /// Learned-address entries the kernel's LRU dropped because fq_allow4/fq_allow6 were full.
    ///
    /// The LRU evicts silently, so this is derived: every entry ever created
    /// (`addressesLearned`, counted only for keys that did not exist) leaves the maps either
    /// through the max-IPs ring (`addressesEvicted`), through the agent (`addressesRemoved`),
    /// or through the LRU; what has not left is still present. The counters are read before
    /// the entries, so an entry learned in between makes the result smaller, never larger;
    /// it is clamped at 0.
    public func lruEvictedAddresses(counters values: [Counter: UInt64]? = nil) throws(DatapathError) -> UInt64 {
        let v: [Counter: UInt64]
        if let values { v = values } else { v = try counterValues() }
        let present = UInt64(try bpf { () throws(BPFError) in try learnedKeys().count })
        let gone = (v[.addressesEvicted] ?? 0) &+ (v[.addressesRemoved] ?? 0) &+ present
        let learned = v[.addressesLearned] ?? 0
        return learned > gone ? learned - gone : 0
    }

    /// Adds `count` to `addressesRemoved` (userspace's own counter slot; CPU 0's value).
    /// Call it after deleting learned entries so `lruEvictedAddresses` stays exact. A pinned
    /// layout without the slot (1) is ignored.
    func countRemoved(_ count: Int) {
        guard count > 0, let cpus = try? counters.values(at: Counter.addressesRemoved.rawValue), !cpus.isEmpty else { return }
        var updated = cpus
        updated[0] &+= UInt64(count)
        try? counters.update(Counter.addressesRemoved.rawValue, perCPU: updated)
    }

    /// The counters and gauges in Prometheus text exposition format.
    public func prometheusText() throws(DatapathError) -> String {
        var m = MetricsSnapshot()
        let values = try counterValues()
        m.counters = Counter.allCases.map { ($0.prometheusName, $0.help, values[$0] ?? 0) }
        m.counters.append(("fqdnpolicy_addresses_lru_evicted_total",
                           "Learned entries dropped by the kernel's LRU because the learned-address map was full (learned - evicted - removed - present).",
                           try lruEvictedAddresses(counters: values)))
        let now = BootClock.nanoseconds
        let eps = try endpoints()
        var live: [UInt32: Int] = [:]
        for e in try bpf({ () throws(BPFError) in try learnedEntries() }) where e.value.expiry_ns > now { live[e.endpointID, default: 0] += 1 }
        m.gauges = [
            ("fqdnpolicy_learned_addresses", "Learned addresses not yet expired, per endpoint.",
             eps.map { ([("endpoint", $0.name)], UInt64(live[$0.id] ?? 0)) }),
            ("fqdnpolicy_endpoints", "Endpoints in the datapath.", [([], UInt64(eps.count))]),
            ("fqdnpolicy_inflight_queries", "DNS queries waiting for their answer.",
             [([], UInt64(try bpf { () throws(BPFError) in try inflight.keys().count }))]),
        ]
        return m.text
    }

    /// The trusted DNS servers.
    public func dnsServers() throws(DatapathError) -> [DNSServer] {
        try bpf { () throws(BPFError) in try servers.keys() }.map { k in
            let bytes = CBytes.get(k.addr)
            return DNSServer(address: k.family == UInt8(FQDN_AF_INET) ? Array(bytes.prefix(4)) : bytes, port: k.port)
        }.sorted { $0.description < $1.description }
    }
}

extension fqdn_name_key: @retroactive Hashable, @retroactive Equatable {
    public static func == (a: fqdn_name_key, b: fqdn_name_key) -> Bool {
        a.endpoint_id == b.endpoint_id && a.name_hash == b.name_hash
    }

    public func hash(into h: inout Hasher) {
        h.combine(endpoint_id)
        h.combine(name_hash)
    }
}

/// The version record of a pinned datapath (`fq_meta`).
public struct DatapathMeta: Sendable, Hashable, Codable {
    public var layoutVersion: UInt32
    /// Identity of the programs last loaded on this state (`Datapath.buildID`; 0 for layout 1).
    public var buildID: UInt32 = 0
    /// The agent that adopted the state last (0: none running, or it stopped cleanly).
    public var agentPID: UInt32
    /// CLOCK_BOOTTIME nanoseconds when the maps were created.
    public var createdNanoseconds: UInt64
}

extension DatapathMaps {
    public func metaRecord() throws(DatapathError) -> DatapathMeta {
        let m = try bpf { () throws(BPFError) in try meta.lookup(0) } ?? fqdn_meta()
        return DatapathMeta(layoutVersion: m.layout_version, buildID: m.build_id, agentPID: m.agent_pid, createdNanoseconds: m.created_ns)
    }

    /// Forgets everything learned for one endpoint (addresses, names, in-flight queries,
    /// flows): its next connections need a fresh DNS answer. Synchronous, so a test can call
    /// it from a thread inside a network namespace.
    public func forgetLearned(endpointID id: UInt32) throws(DatapathError) {
        var removed = 0
        defer { countRemoved(removed) }
        try bpf { () throws(BPFError) in
            for k in try learnedKeys() where k.endpointID == id { if try deleteLearned(k) { removed += 1 } }
            for k in try names.keys() where k.endpoint_id == id { try names.delete(k) }
            for k in try slots.keys() where k.endpoint_id == id { try slots.delete(k) }
            for k in try inflight.keys() where k.endpoint_id == id { try inflight.delete(k) }
            for k in try flows.keys() where k.endpoint_id == id { try flows.delete(k) }
        }
    }
}


/// One learned-address entry, either family (`fq_allow4`, `fq_allow6`): what the agent's
/// walks over the learned state need, written once for both maps.
struct LearnedEntry {
    /// The entry's key in its own map.
    enum Key {
        case v4(fqdn_allow4_key)
        case v6(fqdn_allow6_key)

        var endpointID: UInt32 {
            switch self {
            case .v4(let k): k.endpoint_id
            case .v6(let k): k.endpoint_id
            }
        }

        /// 4 or 16 bytes.
        var address: [UInt8] {
            switch self {
            case .v4(let k): CBytes.get(k.addr)
            case .v6(let k): CBytes.get(k.addr)
            }
        }
    }

    var key: Key
    var value: fqdn_allow
    var endpointID: UInt32 { key.endpointID }
}

extension DatapathMaps {
    /// Every learned entry: IPv4, then IPv6.
    func learnedEntries() throws(BPFError) -> [LearnedEntry] {
        try allow4.entries().map { LearnedEntry(key: .v4($0.key), value: $0.value) }
            + allow6.entries().map { LearnedEntry(key: .v6($0.key), value: $0.value) }
    }

    /// Every learned entry's key (no values read).
    func learnedKeys() throws(BPFError) -> [LearnedEntry.Key] {
        try allow4.keys().map { .v4($0) } + allow6.keys().map { .v6($0) }
    }

    /// Deletes the entry; true when it was there.
    func deleteLearned(_ key: LearnedEntry.Key) throws(BPFError) -> Bool {
        switch key {
        case .v4(let k): try allow4.delete(k)
        case .v6(let k): try allow6.delete(k)
        }
    }

    /// Replaces the value of an entry that still exists (one the kernel evicted meanwhile
    /// stays gone).
    func replaceLearned(_ key: LearnedEntry.Key, with value: fqdn_allow) throws(BPFError) {
        switch key {
        case .v4(let k): try allow4.update(k, value, policy: .exist)
        case .v6(let k): try allow6.update(k, value, policy: .exist)
        }
    }
}
