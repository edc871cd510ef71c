import CFQDNShared
import Foundation

/// What a policy applies to: the host side of a pod's veth (tc/tcx programs, like a
/// Kubernetes pod) or a cgroup v2 directory (cgroup_skb programs, for host processes).
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Attachment: Sendable, Hashable, CustomStringConvertible {
        /// The host-side end of a veth pair. `namespace` is the network namespace the
        /// interface lives in (an `ip netns` name or a path such as `/proc/1/ns/net`; nil:
        /// the agent's own). Every veth endpoint of one agent must live in the same namespace
        /// (the node's): the kernel finds endpoints by interface index.
        case veth(interface: String, namespace: String? = nil)
        /// A cgroup v2 directory (absolute path). Sockets in it and in its descendants
        /// belong to the endpoint.
        case cgroup(path: String)

        public var description: String {
            switch self {
            case let .veth(interface, namespace): "iface=\(interface)" + (namespace.map { ",netns=\($0)" } ?? "")
            case let .cgroup(path): "cgroup=\(path)"
            }
        }
    }

    /// The source addresses an endpoint's packets may carry (source validation,
    /// Documentation/Security.md). With a check, a packet from any other address is dropped,
    /// counted (`egressDeniedSpoofed`) and reported (`denied`, reason `spoofed`).
    public enum SourceAddresses: Sendable, Hashable, CustomStringConvertible {
        /// The addresses on the pod side of the veth, read when the endpoint is added (or
        /// adopted by a restarted agent). The default for veth endpoints. Adding fails when
        /// the pod side cannot be found or has no address yet.
        case discover
        /// Exactly these addresses (4 or 16 bytes each; at most `FQDN_MAX_EP_ADDRS`), e.g.
        /// the IPs of the pod's CNI result.
        case fixed([[UInt8]])
        /// Not checked. The default for cgroup endpoints: their processes use the node's
        /// network namespace and addresses, and forging a source there takes CAP_NET_RAW in
        /// the node's namespace, which is outside the threat model.
        case unchecked

        public var description: String {
            switch self {
            case .discover: "src=discover"
            case .unchecked: "src=unchecked"
            case let .fixed(list): list.map { "addr=" + IPNetwork.format($0) }.joined(separator: ",")
            }
        }
    }

    /// Unique per agent; at most 63 bytes (it is stored in the pinned state).
    public var name: String
    public var attachment: Attachment
    /// Matched by policies' `endpointSelector`.
    public var labels: [String: String]
    /// Source validation; nil in `init` picks the attachment's default (`.discover` for
    /// veth endpoints, `.unchecked` for cgroup endpoints).
    public var sourceAddresses: SourceAddresses

    public init(name: String, attachment: Attachment, labels: [String: String] = [:], sourceAddresses: SourceAddresses? = nil) {
        self.name = name
        self.attachment = attachment
        self.labels = labels
        if let sourceAddresses {
            self.sourceAddresses = sourceAddresses
        } else if case .veth = attachment {
            self.sourceAddresses = .discover
        } else {
            self.sourceAddresses = .unchecked
        }
    }

    public var description: String {
        let l = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let defaultSources: SourceAddresses = if case .veth = attachment { .discover } else { .unchecked }
        return "\(name):\(attachment)" + (sourceAddresses == defaultSources ? "" : ",\(sourceAddresses)")
            + (l.isEmpty ? "" : ",labels=\(l)")
    }

    /// Parses the CLI form `NAME:iface=IFNAME[,netns=NS][,SOURCES][,labels=k=v,k2=v2]` or
    /// `NAME:cgroup=PATH[,SOURCES][,labels=...]`. SOURCES is `addr=IP` (repeated for each
    /// address), `src=discover` or `src=unchecked` (`sourceAddresses`). Everything after
    /// `labels=` is labels (`k=v` pairs separated by commas).
    public init(parsing text: String) throws(EndpointSpecError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw EndpointSpecError(spec: text, reason: "expected NAME:iface=IFNAME or NAME:cgroup=PATH")
        }
        let name = String(text[..<colon])
        guard !name.isEmpty, name.utf8.count < Int(FQDN_EP_NAME_LEN) else {
            throw EndpointSpecError(spec: text, reason: "the name must be 1 to \(FQDN_EP_NAME_LEN - 1) bytes")
        }
        var rest = String(text[text.index(after: colon)...])
        var labels: [String: String] = [:]
        if let r = rest.range(of: "labels=") {
            let labelText = rest[r.upperBound...]
            rest = String(rest[..<r.lowerBound])
            for pair in labelText.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, !kv[0].isEmpty else {
                    throw EndpointSpecError(spec: text, reason: "label '\(pair)' is not k=v")
                }
                labels[String(kv[0])] = String(kv[1])
            }
        }
        var iface: String?, netns: String?, cgroup: String?
        var addresses: [[UInt8]] = [], src: SourceAddresses?
        for field in rest.split(separator: ",") {
            let kv = field.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { throw EndpointSpecError(spec: text, reason: "'\(field)' is not key=value") }
            switch kv[0] {
            case "iface": iface = String(kv[1])
            case "netns": netns = String(kv[1])
            case "cgroup": cgroup = String(kv[1])
            case "addr":
                guard let a = IPNetwork.parseAddress(String(kv[1])) else {
                    throw EndpointSpecError(spec: text, reason: "addr=\(kv[1]) is not an IPv4 or IPv6 address")
                }
                if !addresses.contains(a) { addresses.append(a) }
            case "src":
                switch kv[1] {
                case "discover": src = .discover
                case "unchecked": src = .unchecked
                default: throw EndpointSpecError(spec: text, reason: "src=\(kv[1]): expected src=discover or src=unchecked (or addr=IP)")
                }
            default: throw EndpointSpecError(spec: text, reason: "unknown key '\(kv[0])' (iface, netns, cgroup, addr, src, labels)")
            }
        }
        if !addresses.isEmpty {
            guard src == nil else { throw EndpointSpecError(spec: text, reason: "give addr= or src=, not both") }
            guard addresses.count <= Int(FQDN_MAX_EP_ADDRS) else {
                throw EndpointSpecError(spec: text, reason: "at most \(FQDN_MAX_EP_ADDRS) addresses (addr=)")
            }
            src = .fixed(addresses)
        }
        switch (iface, cgroup) {
        case let (i?, nil):
            self.init(name: name, attachment: .veth(interface: i, namespace: netns), labels: labels, sourceAddresses: src)
        case let (nil, c?):
            guard netns == nil else { throw EndpointSpecError(spec: text, reason: "netns= applies to iface= endpoints only") }
            guard c.hasPrefix("/") else { throw EndpointSpecError(spec: text, reason: "cgroup= needs an absolute path") }
            guard src != .discover else {
                throw EndpointSpecError(spec: text, reason: "src=discover applies to iface= endpoints only (give addr=IP)")
            }
            self.init(name: name, attachment: .cgroup(path: c), labels: labels, sourceAddresses: src)
        case (_?, _?): throw EndpointSpecError(spec: text, reason: "give iface= or cgroup=, not both")
        case (nil, nil): throw EndpointSpecError(spec: text, reason: "missing iface= or cgroup=")
        }
    }
}

public struct EndpointSpecError: Error, Sendable, CustomStringConvertible {
    public var spec: String
    public var reason: String
    public var description: String { "endpoint '\(spec)': \(reason)" }
}

/// A trusted DNS server: DNS to it always passes, and only its answers teach addresses.
public struct DNSServer: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes.
    public var address: [UInt8]
    public var port: UInt16

    public init(address: [UInt8], port: UInt16 = 53) {
        precondition(address.count == 4 || address.count == 16)
        self.address = address
        self.port = port
    }

    /// `10.0.0.2`, `10.0.0.2:5353`, `fd00::2`, `[fd00::2]:5353`.
    public init?(_ text: String) {
        var host = text
        var port: UInt16 = 53
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = UInt16(after.dropFirst()) else { return nil }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1 {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let p = UInt16(parts[1]) else { return nil }
            host = String(parts[0])
            port = p
        }
        guard let bytes = IPNetwork.parseAddress(host) else { return nil }
        self.init(address: bytes, port: port)
    }

    public var description: String {
        address.count == 16 ? "[\(IPNetwork.format(address))]:\(port)" : "\(IPNetwork.format(address)):\(port)"
    }
}
