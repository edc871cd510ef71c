import BPFMapBindings
import Foundation
import Synchronization

/// A network namespace a fixture made (`ip netns add`), with loopback up.
public struct TestNamespace: Sendable, Hashable, CustomStringConvertible {
    /// The `ip netns` name.
    public let name: String
    public var namespace: NetworkNamespace { NetworkNamespace(named: name) }
    public var description: String { name }

    /// Runs a command inside the namespace (`ip netns exec NAME ...`).
    @discardableResult
    public func run(_ arguments: [String], check: Bool = true) throws -> CommandResult {
        try runCommand(["ip", "netns", "exec", name] + arguments, check: check)
    }

    /// Runs `body` on a thread inside the namespace (sockets made there live there).
    public func perform<T>(_ body: () throws -> T) throws -> T {
        try namespace.perform(body)
    }
}

/// One end of a veth pair: its interface name, namespace and address (CIDR, e.g. "10.0.0.1/24").
public struct VethEnd: Sendable, Hashable {
    public let interface: String
    public let namespace: TestNamespace
    public let cidr: String
    /// The address without the prefix length.
    public var address: String { String(cidr.split(separator: "/")[0]) }
}

/// Network namespaces and veth pairs for a test, always removed: by `cleanup()`, which
/// `withNetworkFixture` runs also when the test throws, and by `deinit` as a last resort.
/// Names are unique per process and fixture (`fqt-<pid>-<n>`), and a new fixture first
/// removes namespaces left by processes that no longer exist (a crashed test run).
public final class NetworkFixture: @unchecked Sendable {
    /// Prefix of every namespace name fixtures make.
    public static let namespacePrefix = "fqt-"
    private static let counter = Atomic<Int>(0)

    /// `fqt-<pid>-<fixture>`
    public let id: String
    private let shortID: String
    private let state = Mutex<(namespaces: [TestNamespace], interfaces: Int)>(([], 0))

    public init() {
        let n = Self.counter.add(1, ordering: .relaxed).newValue
        let pid = ProcessInfo.processInfo.processIdentifier
        id = "\(Self.namespacePrefix)\(pid)-\(n)"
        // Interface names are at most 15 bytes: "fq" + pid base36 + fixture + "x" + n.
        shortID = "fq\(String(pid, radix: 36))\(String(n, radix: 36))"
        Self.removeLeftovers()
    }

    deinit { cleanup() }

    /// Makes a namespace with loopback up.
    public func makeNamespace() throws -> TestNamespace {
        let index = state.withLock { $0.namespaces.count }
        let ns = TestNamespace(name: "\(id)-\(index)")
        try runCommand(["ip", "netns", "add", ns.name])
        state.withLock { $0.namespaces.append(ns) }
        try ns.run(["ip", "link", "set", "lo", "up"])
        return ns
    }

    /// Makes a veth pair between two namespaces, addresses them and brings both ends up.
    public func makeVethPair(_ a: TestNamespace, _ aCIDR: String, _ b: TestNamespace, _ bCIDR: String) throws -> (VethEnd, VethEnd) {
        let n = state.withLock { s -> Int in s.interfaces += 1; return s.interfaces }
        let aName = "\(shortID)a\(n)", bName = "\(shortID)b\(n)"
        // Created directly inside the namespaces: nothing ever appears in the host namespace.
        try runCommand(["ip", "link", "add", aName, "netns", a.name, "type", "veth", "peer", "name", bName, "netns", b.name])
        for (ns, name, cidr) in [(a, aName, aCIDR), (b, bName, bCIDR)] {
            try ns.run(["ip", "addr", "add", cidr, "dev", name])
            try ns.run(["ip", "link", "set", name, "up"])
        }
        return (VethEnd(interface: aName, namespace: a, cidr: aCIDR), VethEnd(interface: bName, namespace: b, cidr: bCIDR))
    }

    /// Deletes every namespace this fixture made (their interfaces, qdiscs and tc filters go
    /// with them). Idempotent.
    public func cleanup() {
        let namespaces = state.withLock { s -> [TestNamespace] in
            defer { s.namespaces = [] }
            return s.namespaces
        }
        for ns in namespaces.reversed() {
            _ = try? runCommand(["ip", "netns", "del", ns.name], check: false)
        }
    }

    /// Every `ip netns` name currently present.
    public static func liveNamespaces() -> [String] {
        guard let result = try? runCommand(["ip", "netns", "list"], check: false) else { return [] }
        return result.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    /// Removes `fqt-<pid>-...` namespaces whose process is gone.
    public static func removeLeftovers() {
        for name in liveNamespaces() where name.hasPrefix(namespacePrefix) {
            let parts = name.dropFirst(namespacePrefix.count).split(separator: "-")
            guard let pid = parts.first.flatMap({ Int32($0) }) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                _ = try? runCommand(["ip", "netns", "del", name], check: false)
            }
        }
    }
}

/// Runs `body` with a fresh `NetworkFixture`, holding the process-wide netns lock, and
/// removes everything the fixture made afterwards, also when `body` throws.
public func withNetworkFixture<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (NetworkFixture) async throws -> sending T
) async throws -> sending T {
    await netnsLock.lock()
    defer { netnsLock.unlock() }
    let fixture = NetworkFixture()
    defer { fixture.cleanup() }
    return try await body(fixture)
}
