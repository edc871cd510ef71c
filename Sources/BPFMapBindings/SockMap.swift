internal import CLibbpf
import Glibc

/// A sockmap (`BPF_MAP_TYPE_SOCKMAP`, `Key == UInt32` index) or sockhash
/// (`BPF_MAP_TYPE_SOCKHASH`, any plain-data key). User space inserts sockets by fd; a lookup
/// returns the socket's cookie (maps with 8-byte values). sk_skb / sk_msg programs attach to
/// the map with `BPFProgram.attach(toSockMap:)`.
public struct BPFSockMap<Key: BPFPlainData>: BPFKeyedEntries, Sendable {
    public let map: BPFMap

    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.sockMap, .sockHash])
        try Key.requireTrivial("\(map.name) (key)")
        try Self.checkSize(map, "key", swift: Key.byteCount, kernel: map.keySize)
        guard map.valueSize == 4 || map.valueSize == 8 else {
            throw .sizeMismatch(map: "\(map.name) (value)", expected: 8, actual: map.valueSize)
        }
        self.map = map
    }

    /// Adds a socket (an established TCP socket, a UDP socket, ...) under `key`.
    public func insert(socket fd: Int32, at key: Key, policy: BPFUpdatePolicy = .any) throws(BPFError) {
        let mapFD = map.fd
        let r: Int32
        if map.valueSize == 8 {
            let value = UInt64(UInt32(bitPattern: fd))
            r = withUnsafeBytes(of: key) { k in withUnsafeBytes(of: value) { v in bpf_map_update_elem(mapFD, k.baseAddress, v.baseAddress, policy.rawValue) } }
        } else {
            let value = UInt32(bitPattern: fd)
            r = withUnsafeBytes(of: key) { k in withUnsafeBytes(of: value) { v in bpf_map_update_elem(mapFD, k.baseAddress, v.baseAddress, policy.rawValue) } }
        }
        try check(r, "bpf_map_update_elem(\(map.name), socket fd \(fd))")
    }

    /// The cookie (`SO_COOKIE`) of the socket at `key`, nil when there is none.
    public func cookie(at key: Key) throws(BPFError) -> UInt64? {
        guard map.valueSize == 8 else {
            throw .notSupported(feature: "socket cookie lookup on a sockmap with 4-byte values", minimumKernel: "5.8 with 8-byte values")
        }
        var cookie: UInt64 = 0
        let fd = map.fd
        let r = withUnsafeBytes(of: key) { k in withUnsafeMutableBytes(of: &cookie) { v in bpf_map_lookup_elem(fd, k.baseAddress, v.baseAddress) } }
        return try map.found(r, "bpf_map_lookup_elem") ? cookie : nil
    }
}

/// The cookie the kernel gives a socket (`getsockopt(SO_COOKIE)`), as sockmaps report it.
public func socketCookie(_ fd: Int32) throws(BPFError) -> UInt64 {
    var cookie: UInt64 = 0
    var length = socklen_t(8)
    guard getsockopt(fd, SOL_SOCKET, 57 /* SO_COOKIE */, &cookie, &length) == 0 else {
        throw .syscall(op: "getsockopt(SO_COOKIE)", errno: .current)
    }
    return cookie
}
