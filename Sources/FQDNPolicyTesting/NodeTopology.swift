import Foundation
import Glibc

/// A Kubernetes-node-like topology made of test namespaces: a *node* namespace that routes,
/// *pods* (each a namespace with a veth to the node; the node-side end is the endpoint the
/// tc programs attach to) and *hosts* (namespaces for DNS and web servers, also behind
/// veths to the node). IPv4 and IPv6 (no DAD delay), default routes via the node.
///
/// Pod i has 10.210.i.2/24 and fd10:210:i::2/64 (node side .1 / ::1); host j has 10.220.j.2/24
/// and fd10:220:j::2/64. Everything goes away with the `NetworkFixture`.
public final class NodeTopology: @unchecked Sendable {
    public struct Member: Sendable, Hashable {
        public let namespace: TestNamespace
        /// The interface inside the member's namespace.
        public let interface: String
        /// The node-side interface (for pods: where the endpoint's programs attach).
        public let nodeInterface: String
        public let ipv4: String
        public let ipv6: String
        public let gateway4: String
        public let gateway6: String
    }

    public let fixture: NetworkFixture
    public let node: TestNamespace
    public private(set) var pods: [Member] = []
    public private(set) var hosts: [Member] = []
    private var links = 0

    public init(fixture: NetworkFixture) throws {
        self.fixture = fixture
        node = try fixture.makeNamespace()
        try node.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        try node.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
    }

    /// Adds a pod namespace behind a veth to the node.
    @discardableResult
    public func addPod() throws -> Member {
        let m = try attach(subnet4: "10.210.\(pods.count)", subnet6: "fd10:210:\(pods.count)")
        pods.append(m)
        return m
    }

    /// Adds a host namespace (for servers) behind a veth to the node.
    @discardableResult
    public func addHost() throws -> Member {
        let m = try attach(subnet4: "10.220.\(hosts.count)", subnet6: "fd10:220:\(hosts.count)")
        hosts.append(m)
        return m
    }

    /// Gives a member another IPv4 address (a /32 on loopback, routed by the node).
    public func addAddress(_ address: String, to member: Member) throws {
        try member.namespace.run(["ip", "addr", "add", "\(address)/32", "dev", "lo"])
        try node.run(["ip", "route", "add", "\(address)/32", "via", member.ipv4])
    }

    private func attach(subnet4: String, subnet6: String) throws -> Member {
        links += 1
        let ns = try fixture.makeNamespace()
        let short = String(fixture.id.split(separator: "-").dropFirst().joined().suffix(7))
        let nodeSide = "n\(short)x\(links)"
        let inner = "eth0"
        try runCommand(["ip", "link", "add", nodeSide, "netns", node.name, "type", "veth", "peer", "name", inner, "netns", ns.name])
        try node.run(["ip", "addr", "add", "\(subnet4).1/24", "dev", nodeSide])
        try node.run(["ip", "-6", "addr", "add", "\(subnet6)::1/64", "dev", nodeSide, "nodad"])
        try node.run(["ip", "link", "set", nodeSide, "up"])
        try ns.run(["ip", "addr", "add", "\(subnet4).2/24", "dev", inner])
        try ns.run(["ip", "-6", "addr", "add", "\(subnet6)::2/64", "dev", inner, "nodad"])
        try ns.run(["ip", "link", "set", inner, "up"])
        try ns.run(["ip", "route", "add", "default", "via", "\(subnet4).1"])
        try ns.run(["ip", "-6", "route", "add", "default", "via", "\(subnet6)::1"])
        return Member(namespace: ns, interface: inner, nodeInterface: nodeSide, ipv4: "\(subnet4).2", ipv6: "\(subnet6)::2",
                      gateway4: "\(subnet4).1", gateway6: "\(subnet6)::1")
    }
}

/// Plain BSD-socket clients and servers for tests, meant to run inside a namespace
/// (`TestNamespace.perform { ... }`): a socket belongs to the namespace of the thread that
/// made it, for its whole life.
public enum SocketClient {
    /// Sends `count` small UDP datagrams to `address:port` as fast as the socket takes them
    /// (a flood of packets for the datapath to judge); returns how many were sent.
    @discardableResult
    public static func udpFlood(to address: String, port: UInt16, count: Int) throws -> Int {
        let (family, addr) = try socketAddress(address, port)
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError.call("socket", errno) }
        defer { close(fd) }
        let payload: [UInt8] = Array("flood".utf8)
        var sent = 0
        for _ in 0..<count {
            let r = payload.withUnsafeBytes { m in
                addr.withUnsafeBytes { a in sendto(fd, m.baseAddress, m.count, 0, a.baseAddress!.assumingMemoryBound(to: Glibc.sockaddr.self), socklen_t(a.count)) }
            }
            if r == payload.count { sent += 1 } else if errno != ENOBUFS && errno != EAGAIN { throw SocketError.call("sendto", errno) }
        }
        return sent
    }

    /// Sends one DNS message over UDP from `sourcePort` (0: any) and returns the answer, or
    /// nil on timeout. `server` is an IPv4 or IPv6 address.
    public static func dnsQuery(_ message: [UInt8], server: String, port: UInt16 = 53, sourcePort: UInt16 = 0,
                                timeout: Double = 2) throws -> [UInt8]? {
        let (family, addr) = try socketAddress(server, port)
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError.call("socket", errno) }
        defer { close(fd) }
        if sourcePort != 0 {
            let (_, local) = try socketAddress(family == AF_INET6 ? "::" : "0.0.0.0", sourcePort)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard local.withUnsafeBytes({ bind(fd, $0.baseAddress!.assumingMemoryBound(to: Glibc.sockaddr.self), socklen_t($0.count)) }) == 0 else {
                throw SocketError.call("bind", errno)
            }
        }
        let sent = message.withUnsafeBytes { m in
            addr.withUnsafeBytes { a in sendto(fd, m.baseAddress, m.count, 0, a.baseAddress!.assumingMemoryBound(to: Glibc.sockaddr.self), socklen_t(a.count)) }
        }
        guard sent == message.count else { throw SocketError.call("sendto", errno) }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            let r = poll(&pfd, 1, left)
            if r == 0 { return nil }
            if r < 0 { if errno == EINTR { continue }; throw SocketError.call("poll", errno) }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 {
                // ECONNREFUSED (an ICMP error) or EPERM (a cgroup program dropped it).
                if errno == EINTR { continue }
                throw SocketError.call("recv", errno)
            }
            // An answer to another query (same socket, other id) is skipped.
            if n >= 2 && message.count >= 2 && buffer[0] == message[0] && buffer[1] == message[1] {
                return Array(buffer.prefix(n))
            }
        }
    }

    /// Connects over TCP; true when the connection is established within `timeout`, false on
    /// timeout (a dropped SYN) or refusal. The connection is closed at once.
    public static func canConnect(to address: String, port: UInt16, timeout: Double = 1) throws -> Bool {
        try connectResult(to: address, port: port, timeout: timeout) == 0
    }

    /// 0 when connected, else the errno (ETIMEDOUT when nothing came back). The socket is
    /// closed with a reset (SO_LINGER 0): no closing handshake trails behind the call.
    public static func connectResult(to address: String, port: UInt16, timeout: Double = 1) throws -> Int32 {
        let (family, addr) = try socketAddress(address, port)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SocketError.call("socket", errno) }
        var lingerOff = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lingerOff, socklen_t(MemoryLayout<linger>.size))
        defer { close(fd) }
        let r = addr.withUnsafeBytes { a in Glibc.connect(fd, a.baseAddress!.assumingMemoryBound(to: Glibc.sockaddr.self), socklen_t(a.count)) }
        if r == 0 { return 0 }
        if errno != EINPROGRESS { return errno }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let p = poll(&pfd, 1, Int32(timeout * 1000))
        if p == 0 { return ETIMEDOUT }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err
    }

    /// A TCP listener on every address of the calling thread's namespace (`::`, dual stack)
    /// at `port`, accepting and closing connections on a background thread until `stop()`.
    public final class Listener: @unchecked Sendable {
        public let port: UInt16
        let fd: Int32
        private var thread: Thread?

        /// Call inside the namespace (`ns.perform { try SocketClient.Listener(port: 80) }`).
        public init(port: UInt16) throws {
            self.port = port
            let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw SocketError.call("socket", errno) }
            var one: Int32 = 1, zero: Int32 = 0
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            let (_, addr) = try SocketClient.socketAddress("::", port)
            guard addr.withUnsafeBytes({ bind(fd, $0.baseAddress!.assumingMemoryBound(to: Glibc.sockaddr.self), socklen_t($0.count)) }) == 0,
                  listen(fd, 512) == 0
            else {
                let e = errno
                close(fd)
                throw SocketError.call("bind/listen :\(port)", e)
            }
            self.fd = fd
            let t = Thread { [fd] in
                while true {
                    let c = accept(fd, nil, nil)
                    if c < 0 {
                        if errno == EINTR || errno == ECONNABORTED { continue }
                        return
                    }
                    close(c)
                }
            }
            t.start()
            thread = t
        }

        deinit { stop() }

        /// Stops accepting (shutdown wakes the accept loop) and closes the socket.
        public func stop() {
            guard thread != nil else { return }
            thread = nil
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    public enum SocketError: Error, CustomStringConvertible {
        case call(String, Int32)
        case address(String)
        public var description: String {
            switch self {
            case let .call(op, e): "\(op): \(String(cString: strerror(e))) (errno \(e))"
            case let .address(a): "not an IP address: \(a)"
            }
        }
    }

    static func socketAddress(_ address: String, _ port: UInt16) throws -> (Int32, [UInt8]) {
        guard let bytes = PacketBuilder.parseAddress(address) else { throw SocketError.address(address) }
        if bytes.count == 4 {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: bytes) }
            return (AF_INET, withUnsafeBytes(of: sa) { Array($0) })
        }
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &sa.sin6_addr) { $0.copyBytes(from: bytes) }
        return (AF_INET6, withUnsafeBytes(of: sa) { Array($0) })
    }
}
