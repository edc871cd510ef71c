internal import CSysShims
import Glibc

/// A network namespace, named (`ip netns add NAME`, file under `/var/run/netns`) or by path
/// (`/proc/PID/ns/net`).
///
/// `perform` runs a synchronous closure on a fresh OS thread that has entered the namespace:
/// `setns` changes only the calling thread, so the work happens there with no `await` in
/// between, and the thread ends with it (no way to leave a pool thread in the wrong
/// namespace). Interface names and indexes, netlink (tc) and `bpf_link_create` with an
/// ifindex all resolve in the namespace of the thread that calls them.
public struct NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    public let path: String

    public init(path: String) { self.path = path }

    /// A namespace made by `ip netns add name`.
    public init(named name: String) { self.path = "/var/run/netns/" + name }

    public var description: String { path }

    /// Runs `body` on a new thread inside this namespace and returns its result.
    public func perform<T>(_ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError.syscall(op: "open(\(path))", errno: .current) }
        defer { close(fd) }
        var result: Result<T, any Error>!
        try runOnFreshThread {
            guard fqdn_setns(fd, fqdn_clone_newnet()) == 0 else {
                result = .failure(BPFError.syscall(op: "setns(\(path))", errno: .current))
                return
            }
            result = Result { try body() }
        }
        return try result.get()
    }
}

/// `if_nametoindex` in the calling thread's namespace.
func interfaceIndex(_ name: String) throws(BPFError) -> UInt32 {
    let index = if_nametoindex(name)
    guard index != 0 else { throw .syscall(op: "if_nametoindex(\(name))", errno: .current) }
    return index
}

/// Runs `body` in `namespace` (on a fresh thread) or, when nil, right here.
func inNamespace<T>(_ namespace: NetworkNamespace?, _ body: () throws(BPFError) -> T) throws(BPFError) -> T {
    guard let namespace else { return try body() }
    do {
        return try namespace.perform { () throws(BPFError) -> T in try body() }
    } catch let error as BPFError {
        throw error
    } catch {
        throw .invalidState("\(error)")
    }
}
