import BPFMapBindings
import BPFObjects
import CFQDNShared
import Glibc

/// DNS over TCP in the kernel (Documentation/TCP.md): three programs on top of the pinned
/// datapath, sharing its maps, so a TCP answer teaches, counts and reports what the same
/// answer over UDP would.
///
/// - `dns_sockops` (sock_ops, on a cgroup v2 directory): a client socket that connects to a
///   trusted DNS server and belongs to an endpoint goes into the sockhash `fq_tcp_socks`.
/// - `dns_sk_skb` (sk_skb stream verdict on that sockhash, no stream parser): frames the
///   server's byte stream per connection and learns from each whole response.
/// - `dns_sk_msg` (sk_msg on that sockhash): frames the client's writes, records each query in
///   flight, refuses queries the DNS rules do not allow (REFUSED/NXDOMAIN answered into the
///   client's stream, or the write fails).
///
/// Load it after the agent (`PolicyAgent` loads the shared maps), then enable endpoints:
///
/// ```swift
/// let tcp = try TCPDatapath.load(pinDirectory: agent.configuration.pinDirectory)
/// try await agent.enableTCP(tcp, endpoint: "web")                          // cgroup endpoint
/// try await agent.enableTCP(tcp, endpoint: "pod", podNamespace: "/var/run/netns/pod",
///                           sockopsCgroup: "/sys/fs/cgroup/kubepods/pod123")  // veth endpoint
/// ```
///
/// Everything is pinned under the agent's pin directory (maps in `maps/`, the sockops links in
/// `links/tcp-sockops-*`); the sk_skb and sk_msg programs stay attached to the pinned
/// sockhash. `PolicyAgent.shutdown(removeDatapath: true)` removes it all with the rest.
public final class TCPDatapath: @unchecked Sendable {
    public enum Program: String, CaseIterable, Sendable {
        case sockops = "dns_sockops"
        case skSKB = "dns_sk_skb"
        case skMsg = "dns_sk_msg"

        public var functionName: String { "fqdn_" + rawValue }
    }

    /// The maps of DNS over TCP that are pinned (fqdn_shared.h section 4, "DNS over TCP").
    public static let mapNames = ["fq_tcp_socks", "fq_tcp_sock", "fq_tcp_sk", "fq_tcp_buf", "fq_tcp_netns", "fq_tcp_counters"]

    public let pinDirectory: String
    let programs: [Program: BPFProgram]
    let socks: BPFSockMap<UInt64>
    let sockState: BPFHashMap<UInt64, fqdn_tcp_sock>
    let buffers: BPFMap
    let written: BPFHashMapHeads<fqdn_tcp_tx_key, fqdn_tcp_tx_head>
    let netns: BPFHashMap<UInt64, UInt32>
    let counters: BPFPerCPUArrayMap<UInt64>

    /// Loads the three programs into the datapath pinned at `pinDirectory` (which a
    /// `PolicyAgent` or `Datapath.load` made), creating or adopting the TCP maps, and attaches
    /// the sk_skb and sk_msg programs to the sockhash (they stay attached to the pinned map).
    public static func load(pinDirectory: String = FQDN_PIN_DIR_DEFAULT) throws(DatapathError) -> TCPDatapath {
        let mapsDir = Datapath.mapsDirectory(pinDirectory)
        guard BPFFS.exists(mapsDir + "/fq_meta") else { throw .notPinned(directory: pinDirectory) }
        do { try KernelFeatures.current.requireTCP() } catch { throw .kernel(error) }
        try Datapath.checkLayout(pinDirectory)
        let pinned = Set(DatapathMaps.sharedNames + mapNames)
        var programs: [Program: BPFProgram] = [:]
        for p in Program.allCases {
            guard let bytes = BPFObjects.named(p.rawValue) else { throw .missingObject(p.rawValue) }
            programs[p] = try bpf { () throws(BPFError) -> BPFProgram in
                let o = try BPFObject(bytes: bytes, name: p.rawValue)
                try o.adoptPinnedMaps(in: mapsDir)
                try o.load()
                try o.pinMaps(in: mapsDir, only: o.userMapNames.filter { pinned.contains($0) })
                return try o.program(p.functionName)
            }
        }
        let tcp = try bpf { () throws(BPFError) -> TCPDatapath in
            func open(_ name: String) throws(BPFError) -> BPFMap { try BPFMap.openPinned(mapsDir + "/" + name) }
            return TCPDatapath(pinDirectory: pinDirectory, programs: programs,
                               socks: try BPFSockMap(open("fq_tcp_socks")),
                               sockState: try .init(open("fq_tcp_sock")),
                               buffers: try open("fq_tcp_buf"),
                               written: try .init(open("fq_tcp_tx")),
                               netns: try .init(open("fq_tcp_netns")),
                               counters: try BPFPerCPUArrayMap(open("fq_tcp_counters")))
        }
        // Attached to the map, they live as long as the (pinned) sockhash; attaching again
        // (a restarted agent) replaces the previous programs.
        try bpf { () throws(BPFError) in
            for p in [Program.skSKB, .skMsg] {
                try programs[p]!.attach(toSockMap: tcp.socks.map).keepAttached()
            }
        }
        return tcp
    }

    init(pinDirectory: String, programs: [Program: BPFProgram], socks: BPFSockMap<UInt64>,
         sockState: BPFHashMap<UInt64, fqdn_tcp_sock>, buffers: BPFMap,
         written: BPFHashMapHeads<fqdn_tcp_tx_key, fqdn_tcp_tx_head>, netns: BPFHashMap<UInt64, UInt32>,
         counters: BPFPerCPUArrayMap<UInt64>) {
        self.pinDirectory = pinDirectory
        self.programs = programs
        self.socks = socks
        self.sockState = sockState
        self.buffers = buffers
        self.written = written
        self.netns = netns
        self.counters = counters
    }

    public func program(_ p: Program) -> BPFProgram { programs[p]! }

    // MARK: - Where sockets are looked at

    func sockopsLinkPath(_ cgroupPath: String) throws(DatapathError) -> String {
        Datapath.linksDirectory(pinDirectory) + "/tcp-sockops-\(try Datapath.cgroupID(cgroupPath))"
    }

    /// Attaches the sockops program to a cgroup v2 directory (a pinned link; idempotent).
    /// Sockets of processes in it and its descendants are looked at when they connect. For a
    /// cgroup endpoint that is its own directory; for a veth endpoint, a directory holding the
    /// pod's processes (in Kubernetes the pod's cgroup, or the cgroup root for every pod).
    public func attachSockops(cgroup path: String) throws(DatapathError) {
        let link = try sockopsLinkPath(path)
        if BPFFS.exists(link) {
            let updated = try bpf { () throws(BPFError) -> Bool in try BPFAttachment.openPinnedLink(link).update(program: program(.sockops)) }
            if !updated { throw .bpf(.syscall(op: "bpf_link_update(\(link))", errno: BPFErrno(ENOLINK))) }
            return
        }
        let attachment = try bpf { () throws(BPFError) in try program(.sockops).attachCgroup(path) }
        try bpf { () throws(BPFError) in try attachment.pin(at: link) }
    }

    /// Detaches the sockops program from a cgroup (connections already tracked stay tracked).
    public func detachSockops(cgroup path: String) throws(DatapathError) {
        let link = try sockopsLinkPath(path)
        guard BPFFS.exists(link) else { return }
        try bpf { () throws(BPFError) in try BPFAttachment.openPinnedLink(link).detach() }
    }

    /// Maps the network namespace of a veth endpoint's pod to the endpoint's host-side
    /// interface index: the sockets made in that namespace belong to the endpoint.
    /// `namespace`: an `ip netns` name or a path (`/proc/PID/ns/net`, `/var/run/netns/x`).
    public func addPodNamespace(_ namespace: String, ifindex: UInt32) throws(DatapathError) {
        let cookie = try Self.netnsCookie(namespace)
        try bpf { () throws(BPFError) in try netns.update(cookie, ifindex) }
    }

    /// The veth endpoint's interface index a pod namespace is mapped to (nil: none).
    public func interfaceIndex(ofPodNamespace namespace: String) throws(DatapathError) -> UInt32? {
        let cookie = try Self.netnsCookie(namespace)
        return try bpf { () throws(BPFError) in try netns.lookup(cookie) }
    }

    public func removePodNamespace(_ namespace: String) throws(DatapathError) {
        let cookie = try Self.netnsCookie(namespace)
        _ = try bpf { () throws(BPFError) in try netns.delete(cookie) }
    }

    /// Forgets every pod namespace mapped to the veth endpoint on `ifindex` (the endpoint is
    /// being removed; its pod's namespace may already be gone, so the entries are found by
    /// their value). Nothing to do when the TCP programs were never loaded.
    static func forgetPodNamespaces(pinDirectory: String, ifindex: UInt32) throws(DatapathError) {
        let path = Datapath.mapsDirectory(pinDirectory) + "/fq_tcp_netns"
        guard BPFFS.exists(path) else { return }
        try bpf { () throws(BPFError) in
            let map = try BPFHashMap<UInt64, UInt32>(BPFMap.openPinned(path))
            for (cookie, index) in try map.entries() where index == ifindex { try map.delete(cookie) }
        }
    }

    /// The kernel's cookie of a network namespace (`SO_NETNS_COOKIE` of a socket made in it).
    public static func netnsCookie(_ namespace: String) throws(DatapathError) -> UInt64 {
        let ns = namespace.contains("/") ? NetworkNamespace(path: namespace) : NetworkNamespace(named: namespace)
        do {
            return try ns.perform { () throws -> UInt64 in
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                guard fd >= 0 else { throw BPFError.syscall(op: "socket", errno: .current) }
                defer { close(fd) }
                var cookie: UInt64 = 0
                var length = socklen_t(8)
                guard getsockopt(fd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &cookie, &length) == 0 else {
                    throw BPFError.syscall(op: "getsockopt(SO_NETNS_COOKIE)", errno: .current)
                }
                return cookie
            }
        } catch let e as BPFError {
            throw .bpf(e)
        } catch {
            throw .endpoint(name: namespace, reason: "cannot read the network namespace's cookie: \(error)")
        }
    }

    // MARK: - State

    /// One tracked connection (`struct fqdn_tcp_sock`).
    public struct Connection: Sendable, Hashable {
        public var cookie: UInt64
        /// The endpoint's key: a cgroup id (cgroup endpoint) or an ifindex (veth endpoint).
        public var cgroupID: UInt64
        public var ifindex: UInt32
        public var server: String
        public var serverPort: UInt16
        public var clientPort: UInt16
        /// Whole responses and queries framed so far.
        public var responses: UInt64
        public var queries: UInt64
        /// Inside a response (its prefix or body partly received).
        public var midMessage: Bool
        /// Framing given up (bytes still pass).
        public var framingLost: Bool
    }

    /// The connections being tracked now.
    public func connections() throws(DatapathError) -> [Connection] {
        try bpf { () throws(BPFError) in
            try sockState.entries().map { cookie, s in
                let addr = CBytes.get(s.server)
                return Connection(
                    cookie: cookie, cgroupID: s.cgroup_id, ifindex: s.ifindex,
                    server: IPNetwork.format(s.family == UInt8(FQDN_AF_INET) ? Array(addr.prefix(4)) : addr),
                    serverPort: s.server_port, clientPort: s.client_port, responses: s.responses, queries: s.queries,
                    midMessage: s.flags & UInt8(FQDN_TCP_F_BODY) != 0 || s.pfx_have != 0,
                    framingLost: s.flags & UInt8(FQDN_TCP_F_LOST) != 0)
            }
        }
    }

    /// Socket cookies with a partial response kept in `fq_tcp_buf`.
    public func partialResponses() throws(DatapathError) -> [UInt64] {
        try bpf { () throws(BPFError) in
            try buffers.keyBytes().map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        }
    }

    /// A connection's record of what its client socket wrote (`fq_tcp_tx`): the only bytes
    /// the egress programs let leave toward the server on it.
    public struct WrittenStream: Sendable, Hashable {
        public var endpointID: UInt32
        public var clientPort: UInt16
        public var serverPort: UInt16
        /// Bytes written so far (modulo 2^32).
        public var bytes: UInt32
    }

    /// The connections whose written bytes are recorded now.
    public func writtenStreams() throws(DatapathError) -> [WrittenStream] {
        try bpf { () throws(BPFError) in
            try written.entries().map { k, h in
                WrittenStream(endpointID: k.endpoint_id, clientPort: k.client_port, serverPort: k.server_port, bytes: h.written)
            }
        }
    }

    /// Sockets in the sockhash (socket cookies).
    public func sockets() throws(DatapathError) -> [UInt64] {
        try bpf { () throws(BPFError) in try socks.keys() }
    }

    /// The TCP framing counters summed over CPUs (DNS counters are the datapath's).
    public func counterValues() throws(DatapathError) -> [TCPCounter: UInt64] {
        try bpf { () throws(BPFError) in
            var out: [TCPCounter: UInt64] = [:]
            for c in TCPCounter.allCases { out[c] = try counters.sum(at: c.rawValue) ?? 0 }
            return out
        }
    }

    /// Deletes the state of connections no longer in the sockhash (closed while the sockops
    /// program was not attached) and partial responses without a connection.
    @discardableResult
    public func collectGarbage() throws(DatapathError) -> Int {
        try bpf { () throws(BPFError) -> Int in
            var removed = 0
            var live = Set<UInt64>()
            for cookie in try sockState.keys() {
                if try socks.cookie(at: cookie) != nil { live.insert(cookie); continue }
                if try sockState.delete(cookie) { removed += 1 }
            }
            for key in try buffers.keyBytes() {
                let cookie = key.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                if !live.contains(cookie) {
                    try buffers.delete(keyBytes: key)
                    removed += 1
                }
            }
            return removed
        }
    }
}

/// The counters of the TCP framing (`enum fqdn_tcp_counter`).
public enum TCPCounter: UInt32, CaseIterable, Sendable, Codable {
    case connections = 0
    case trackFailed = 1
    case closed = 2
    case rxSegments = 3
    case rxBytes = 4
    case rxMessages = 5
    case rxReassembled = 6
    case rxSplitPrefix = 7
    case rxNoBuffer = 8
    case rxTooLong = 9
    case rxPartialClosed = 10
    case rxLost = 11
    case txMessages = 12
    case txCorked = 13
    case txAnswered = 14
    case txWriteDenied = 15

    /// `fqdnpolicy_tcp_<name>_total`
    public var prometheusName: String { "fqdnpolicy_tcp_\(MetricsSnapshot.snakeCase(String(describing: self)))_total" }

    /// One line for `# HELP` (the header's comment of `enum fqdn_tcp_counter`).
    public var help: String {
        switch self {
        case .connections: "DNS-over-TCP connections to trusted servers tracked."
        case .trackFailed: "Connections not tracked because a map was full."
        case .closed: "Tracked connections closed."
        case .rxSegments: "Server segments the verdict program framed."
        case .rxBytes: "Server bytes framed."
        case .rxMessages: "Whole responses framed."
        case .rxReassembled: "Responses that spanned several segments."
        case .rxSplitPrefix: "Length prefixes split across segments."
        case .rxNoBuffer: "Responses not parsed: reassembly buffers full."
        case .rxTooLong: "Responses not parsed: longer than the parser's limit."
        case .rxPartialClosed: "Connections closed inside a response."
        case .rxLost: "Connections whose framing was given up."
        case .txMessages: "Whole queries framed."
        case .txCorked: "Writes ending inside a query, held until it was complete."
        case .txAnswered: "Refused queries answered into the client's stream."
        case .txWriteDenied: "Query writes failed with EACCES (refused, drop action)."
        }
    }
}

extension TCPDatapath {
    /// The TCP counters of the datapath pinned at `pinDirectory` in Prometheus text, or ""
    /// when DNS over TCP was never loaded there (no agent needed).
    public static func prometheusText(pinDirectory: String) throws(DatapathError) -> String {
        let path = Datapath.mapsDirectory(pinDirectory) + "/fq_tcp_counters"
        guard BPFFS.exists(path) else { return "" }
        return try bpf { () throws(BPFError) -> String in
            let counters = try BPFPerCPUArrayMap<UInt64>(BPFMap.openPinned(path))
            var m = MetricsSnapshot()
            for c in TCPCounter.allCases { m.counters.append((c.prometheusName, c.help, try counters.sum(at: c.rawValue) ?? 0)) }
            return m.text
        }
    }
}

extension PolicyAgent {
    /// Turns on DNS over TCP for one of this agent's endpoints.
    ///
    /// - cgroup endpoint: the sockops program goes on its directory (or `sockopsCgroup`).
    /// - veth endpoint: the pod's sockets live in the pod's network namespace, not where the
    ///   veth endpoint's interface is: `podNamespace` (an `ip netns` name or a path) names it,
    ///   and `sockopsCgroup` a cgroup holding the pod's processes (default: the cgroup v2
    ///   root, i.e. every process of the node).
    public func enableTCP(_ tcp: TCPDatapath, endpoint name: String, podNamespace: String? = nil,
                          sockopsCgroup: String? = nil) throws {
        guard let endpoint = endpointList().first(where: { $0.name == name }) else {
            throw DatapathError.endpoint(name: name, reason: "no such endpoint")
        }
        switch endpoint.attachment {
        case .cgroup(let path):
            try tcp.attachSockops(cgroup: sockopsCgroup ?? path)
        case .veth:
            guard let podNamespace, let index = interfaceIndex(of: name) else {
                throw DatapathError.endpoint(name: name, reason: "DNS over TCP on a veth endpoint needs the pod's network namespace (Documentation/TCP.md)")
            }
            guard let root = sockopsCgroup ?? CgroupPaths.root else {
                throw DatapathError.endpoint(name: name, reason: "no cgroup v2 mount for the sockops program")
            }
            try tcp.addPodNamespace(podNamespace, ifindex: index)
            try tcp.attachSockops(cgroup: root)
        }
        try setEndpointFlag(named: name, UInt32(FQDN_EP_F_TCP_DNS))
    }
}

/// The mounts this process sees (`/proc/self/mounts`), in mount order.
enum Mounts {
    struct Entry {
        var source: String
        var target: String
        var type: String
    }

    static func list() -> [Entry] {
        guard let text = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 2 ? Entry(source: String(f[0]), target: String(f[1]), type: String(f[2])) : nil
        }
    }
}

enum CgroupPaths {
    /// The cgroup v2 mount (`/sys/fs/cgroup/unified` on hybrid hosts, `/sys/fs/cgroup` on
    /// unified ones), or nil.
    static var root: String? {
        Mounts.list().first { $0.type == "cgroup2" }?.target
    }
}
