import CFQDNShared
import Foundation

/// A DNS-name selector as in CiliumNetworkPolicy `toFQDNs` and `rules.dns`.
///
/// - `matchName`: one exact name, case-insensitive, trailing dot optional.
/// - `matchPattern`: `*` is zero or more of `[-a-zA-Z0-9_]` within one label, `**.` (prefix
///   only) is one or more labels, and `*` alone matches every name.
public enum FQDNSelector: Sendable, Hashable, CustomStringConvertible {
    case matchName(String)
    case matchPattern(String)

    public var description: String {
        switch self {
        case .matchName(let n): "matchName: \(n)"
        case .matchPattern(let p): "matchPattern: \(p)"
        }
    }
}

/// Transport protocol of a port rule.
public enum TransportProtocol: String, Sendable, Hashable, CaseIterable {
    case tcp = "TCP"
    case udp = "UDP"
    case any = "ANY"
}

/// One allowed destination port or port range (`endPort`), for one protocol or any.
public struct PortRule: Sendable, Hashable {
    public var port: UInt16
    public var endPort: UInt16
    public var proto: TransportProtocol

    /// - Parameters:
    ///   - port: first port; 0 means every port.
    ///   - endPort: last port of a range (inclusive); defaults to `port`.
    public init(port: UInt16, endPort: UInt16? = nil, proto: TransportProtocol = .any) {
        self.port = port
        self.endPort = port == 0 ? UInt16.max : (endPort ?? port)
        self.proto = proto
    }

    /// Every port, every protocol.
    public static let all = PortRule(port: 0)
}

/// An IPv4 or IPv6 network in CIDR form.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 address bytes, host bits cleared.
    public let address: [UInt8]
    public let prefixLength: Int

    public var isIPv6: Bool { address.count == 16 }

    /// Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = IPNetwork.parseAddress(String(parts[0])) else { return nil }
        let maxLen = bytes.count * 8
        var len = maxLen
        if parts.count == 2 {
            guard let l = Int(parts[1]), (0...maxLen).contains(l), !parts[1].hasPrefix("+") else { return nil }
            len = l
        }
        var masked = bytes
        for i in 0..<masked.count {
            let bitsHere = max(0, min(8, len - i * 8))
            masked[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        self.address = masked
        self.prefixLength = len
    }

    /// Whether `other` lies entirely inside this network.
    public func contains(_ other: IPNetwork) -> Bool {
        guard other.address.count == address.count, other.prefixLength >= prefixLength else { return false }
        return IPNetwork(address: other.address, prefixLength: prefixLength).address == address
    }

    private init(address: [UInt8], prefixLength: Int) {
        var masked = address
        for i in 0..<masked.count {
            let bitsHere = max(0, min(8, prefixLength - i * 8))
            masked[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        self.address = masked
        self.prefixLength = prefixLength
    }

    public var description: String {
        IPNetwork.format(address) + "/\(prefixLength)"
    }

    /// Parses a dotted-quad IPv4 or an RFC 4291 IPv6 text address (with `::`, and an embedded
    /// IPv4 tail). Returns 4 or 16 bytes.
    public static func parseAddress(_ s: String) -> [UInt8]? {
        if !s.contains(":") {
            let parts = s.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var out: [UInt8] = []
            for p in parts {
                guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCIIDigit), let v = UInt8(p) else { return nil }
                out.append(v)
            }
            return out
        }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        let halves = s.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring, allowV4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if allowV4Tail, i == items.count - 1, item.contains(".") {
                    guard let v4 = parseAddress(String(item)) else { return nil }
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard (1...4).contains(item.count), item.allSatisfy(\.isHexDigit), let v = UInt16(item, radix: 16)
                else { return nil }
                out.append(v)
            }
            return out
        }
        if halves.count == 2 {
            sawGap = true
            guard let h = groups(halves[0], allowV4Tail: false), let t = groups(halves[1], allowV4Tail: true) else {
                return nil
            }
            head = h
            tail = t
        } else {
            guard let h = groups(halves[0], allowV4Tail: true) else { return nil }
            head = h
        }
        let total = head.count + tail.count
        if sawGap ? total > 7 : total != 8 { return nil }
        let words = head + Array(repeating: 0, count: 8 - total) + tail
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// Text form of 4 or 16 address bytes (RFC 5952 for IPv6).
    public static func format(_ a: [UInt8]) -> String {
        if a.count == 4 { return a.map(String.init).joined(separator: ".") }
        let words = stride(from: 0, to: 16, by: 2).map { UInt16(a[$0]) << 8 | UInt16(a[$0 + 1]) }
        // Longest run (>= 2) of zero words becomes "::".
        var best = (start: -1, len: 0)
        var i = 0
        while i < 8 {
            if words[i] == 0 {
                var j = i
                while j < 8, words[j] == 0 { j += 1 }
                if j - i > best.len, j - i >= 2 { best = (i, j - i) }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if best.start < 0 { return hex(words[...]) }
        return hex(words[..<best.start]) + "::" + hex(words[(best.start + best.len)...])
    }
}

/// A CIDR destination with optional exceptions (`toCIDRSet` with `except`).
public struct CIDRRule: Sendable, Hashable {
    public var network: IPNetwork
    public var except: [IPNetwork]

    public init(network: IPNetwork, except: [IPNetwork] = []) {
        self.network = network
        self.except = except
    }
}

/// One egress allow rule: destinations by name or by CIDR, on the given ports.
///
/// An empty `toPorts` means every port and protocol, as in CiliumNetworkPolicy.
public struct EgressRule: Sendable, Hashable {
    public var toFQDNs: [FQDNSelector]
    public var toCIDR: [CIDRRule]
    public var toPorts: [PortRule]

    public init(toFQDNs: [FQDNSelector] = [], toCIDR: [CIDRRule] = [], toPorts: [PortRule] = []) {
        self.toFQDNs = toFQDNs
        self.toCIDR = toCIDR
        self.toPorts = toPorts
    }
}

/// What a DNS query for a name the policy does not allow gets, answered in the kernel.
public enum RefusedQueryAction: String, Sendable, Hashable, CaseIterable {
    /// An answer with rcode REFUSED (default: musl and glibc stop their search list on it).
    case refused
    /// An answer with rcode NXDOMAIN.
    case nxdomain
    /// No answer: the query is dropped and the client times out.
    case drop
}

/// A label selector (`matchLabels` and `matchExpressions`) as in Kubernetes.
public struct LabelSelector: Sendable, Hashable {
    public enum Operator: String, Sendable, Hashable { case `in` = "In", notIn = "NotIn", exists = "Exists", doesNotExist = "DoesNotExist" }
    public struct Requirement: Sendable, Hashable {
        public var key: String
        public var op: Operator
        public var values: [String]
        public init(key: String, op: Operator, values: [String] = []) {
            self.key = key
            self.op = op
            self.values = values
        }
    }

    public var matchLabels: [String: String]
    public var matchExpressions: [Requirement]

    public init(matchLabels: [String: String] = [:], matchExpressions: [Requirement] = []) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// Cilium writes label keys with a source prefix (`k8s:app`); endpoints here carry plain
    /// keys, so the well-known prefixes are ignored when matching.
    static func plainKey(_ key: String) -> String {
        for prefix in ["k8s:", "any:", "container:", "reserved:"] where key.hasPrefix(prefix) {
            return String(key.dropFirst(prefix.count))
        }
        return key
    }

    /// Whether an endpoint with these labels is selected. An empty selector selects every endpoint.
    public func matches(_ labels: [String: String]) -> Bool {
        for (k, v) in matchLabels where labels[LabelSelector.plainKey(k)] != v { return false }
        for r in matchExpressions {
            let value = labels[LabelSelector.plainKey(r.key)]
            switch r.op {
            case .in: guard let value, r.values.contains(value) else { return false }
            case .notIn: if let value, r.values.contains(value) { return false }
            case .exists: if value == nil { return false }
            case .doesNotExist: if value != nil { return false }
            }
        }
        return true
    }
}

/// An FQDN egress policy: what the selected endpoints may resolve and reach.
///
/// Egress not allowed by a rule is denied (default deny); DNS to the agent's trusted DNS
/// servers is always allowed, and `dnsRules` decide which names may be queried at all.
public struct FQDNPolicy: Sendable, Hashable {
    public var name: String
    public var endpointSelector: LabelSelector
    public var egress: [EgressRule]
    /// Names that may be queried. Empty means every name may be queried (only names in
    /// `toFQDNs` rules are learned). Otherwise a query for any other name gets
    /// `refusedQueryAction`, in the kernel.
    public var dnsRules: [FQDNSelector]
    public var refusedQueryAction: RefusedQueryAction
    /// Learned addresses live at least this long, whatever the answer's TTL.
    public var minTTL: UInt32
    /// Most addresses kept per name per endpoint; the oldest is evicted beyond.
    public var maxIPsPerName: UInt32

    public static let defaultMinTTL: UInt32 = 0
    public static let defaultMaxIPsPerName = UInt32(FQDN_DEFAULT_MAX_IPS_PER_NAME)

    public init(
        name: String,
        endpointSelector: LabelSelector = LabelSelector(),
        egress: [EgressRule] = [],
        dnsRules: [FQDNSelector] = [],
        refusedQueryAction: RefusedQueryAction = .refused,
        minTTL: UInt32 = FQDNPolicy.defaultMinTTL,
        maxIPsPerName: UInt32 = FQDNPolicy.defaultMaxIPsPerName
    ) {
        self.name = name
        self.endpointSelector = endpointSelector
        self.egress = egress
        self.dnsRules = dnsRules
        self.refusedQueryAction = refusedQueryAction
        self.minTTL = minTTL
        self.maxIPsPerName = maxIPsPerName
    }
}

extension String {
    /// Splits at the first "::" only (a second one makes the address invalid, checked by count).
    fileprivate func components(separatedByDoubleColon _: Void) -> [Substring] {
        var parts: [Substring] = []
        var rest = self[...]
        while let r = rest.range(of: "::") {
            parts.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
