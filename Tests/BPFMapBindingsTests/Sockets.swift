import Glibc

/// Minimal IPv4 sockets for the tests (blocking, with receive timeouts).
enum Sockets {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func fail(_ op: String) -> Failure {
        Failure(description: "\(op): \(String(cString: strerror(errno))) (errno \(errno))")
    }

    static func address(_ ip: String, _ port: UInt16) throws -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        guard inet_pton(AF_INET, ip, &a.sin_addr) == 1 else { throw Failure(description: "bad address \(ip)") }
        return a
    }

    static func socket(_ type: Int32) throws -> Int32 {
        let fd = Glibc.socket(AF_INET, type, 0)
        guard fd >= 0 else { throw fail("socket") }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func bind(_ fd: Int32, _ ip: String, _ port: UInt16) throws {
        var a = try address(ip, port)
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { throw fail("bind \(ip):\(port)") }
    }

    static func localPort(_ fd: Int32) throws -> UInt16 {
        var a = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let r = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard r == 0 else { throw fail("getsockname") }
        return UInt16(bigEndian: a.sin_port)
    }

    /// A UDP socket bound to ip:port.
    static func udpBound(_ ip: String, _ port: UInt16) throws -> Int32 {
        let fd = try socket(Int32(SOCK_DGRAM.rawValue))
        try bind(fd, ip, port)
        return fd
    }

    static func sendUDP(_ fd: Int32, to ip: String, _ port: UInt16, _ payload: [UInt8]) throws {
        var a = try address(ip, port)
        let n = withUnsafePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard n == payload.count else { throw fail("sendto \(ip):\(port)") }
    }

    /// One datagram or stream read (nil on timeout).
    static func receive(_ fd: Int32, max: Int = 65536) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? Array(buffer.prefix(n)) : nil
    }

    /// Reads exactly `count` stream bytes (nil on timeout or EOF first).
    static func receiveExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        while out.count < count {
            guard let chunk = receive(fd, max: count - out.count), !chunk.isEmpty else { return nil }
            out += chunk
        }
        return out
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n == bytes.count else { throw fail("send") }
    }

    /// A listening TCP socket on 127.0.0.1 (ephemeral port).
    static func tcpListener() throws -> (fd: Int32, port: UInt16) {
        let fd = try socket(Int32(SOCK_STREAM.rawValue))
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        try bind(fd, "127.0.0.1", 0)
        guard listen(fd, 16) == 0 else { throw fail("listen") }
        return (fd, try localPort(fd))
    }

    static func connectTCP(_ ip: String, _ port: UInt16) throws -> Int32 {
        let fd = try socket(Int32(SOCK_STREAM.rawValue))
        var a = try address(ip, port)
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { throw fail("connect \(ip):\(port)") }
        return fd
    }

    /// An established TCP connection over loopback: (client, server side).
    static func tcpLoopbackPair() throws -> (client: Int32, server: Int32) {
        let listener = try tcpListener()
        defer { close(listener.fd) }
        let client = try connectTCP("127.0.0.1", listener.port)
        let server = accept(listener.fd, nil, nil)
        guard server >= 0 else { close(client); throw fail("accept") }
        return (client, server)
    }
}
