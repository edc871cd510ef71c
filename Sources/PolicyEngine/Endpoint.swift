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

    /// Unique per agent; at most 63 bytes (it is stored in the pinned state).
    public var name: String
    public var attachment: Attachment
    /// Matched by policies' `endpointSelector`.
    public var labels: [String: String]

    public init(name: String, attachment: Attachment, labels: [String: String] = [:]) {
        self.name = name
        self.attachment = attachment
        self.labels = labels
    }

    public var description: String {
        let l = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return "\(name):\(attachment)" + (l.isEmpty ? "" : ",labels=\(l)")
    }

    /// Parses the CLI form `NAME:iface=IFNAME[,netns=NS][,labels=k=v,k2=v2]` or
    /// `NAME:cgroup=PATH[,labels=...]`. Everything after `labels=` is labels (`k=v` pairs
    /// separated by commas).
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
        for field in rest.split(separator: ",") {
            let kv = field.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { throw EndpointSpecError(spec: text, reason: "'\(field)' is not key=value") }
            switch kv[0] {
            case "iface": iface = String(kv[1])
            case "netns": netns = String(kv[1])
            case "cgroup": cgroup = String(kv[1])
            default: throw EndpointSpecError(spec: text, reason: "unknown key '\(kv[0])' (iface, netns, cgroup, labels)")
            }
        }
        switch (iface, cgroup) {
        case let (i?, nil): self.init(name: name, attachment: .veth(interface: i, namespace: netns), labels: labels)
        case let (nil, c?):
            guard netns == nil else { throw EndpointSpecError(spec: text, reason: "netns= applies to iface= endpoints only") }
            guard c.hasPrefix("/") else { throw EndpointSpecError(spec: text, reason: "cgroup= needs an absolute path") }
            self.init(name: name, attachment: .cgroup(path: c), labels: labels)
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
