import Foundation
import Synchronization

/// A cgroup v2 directory for one test, removed by `cleanup()` (processes still in it are
/// killed first). `withCgroupFixture` guarantees the cleanup.
public final class CgroupFixture: @unchecked Sendable {
    private static let counter = Atomic<Int>(0)
    public let path: String
    private let removed = Atomic<Bool>(false)

    /// The cgroup v2 mount (`/sys/fs/cgroup/unified` on hybrid hosts, `/sys/fs/cgroup` on
    /// unified ones), or nil.
    public static var root: String? {
        guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return nil }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 2, fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }

    public init() throws {
        guard let root = Self.root else {
            throw CommandFailed(result: CommandResult(arguments: ["cgroup2"], status: 1, stdout: "", stderr: "no cgroup2 mount"))
        }
        let n = Self.counter.add(1, ordering: .relaxed).newValue
        path = "\(root)/fqdn-test-\(ProcessInfo.processInfo.processIdentifier)-\(n)"
        guard mkdir(path, 0o755) == 0 else {
            throw CommandFailed(result: CommandResult(arguments: ["mkdir", path], status: errno, stdout: "", stderr: String(cString: strerror(errno))))
        }
    }

    deinit { cleanup() }

    /// Runs a command inside the cgroup: a shell moves itself in, then execs the command.
    @discardableResult
    public func run(_ arguments: [String], check: Bool = true) throws -> CommandResult {
        try runCommand(["bash", "-c", "echo $$ > \"$0\"/cgroup.procs && exec \"$@\"", path] + arguments, check: check)
    }

    /// Runs a bash script inside the cgroup.
    @discardableResult
    public func runScript(_ script: String, check: Bool = true) throws -> CommandResult {
        try run(["bash", "-c", script], check: check)
    }

    /// Kills what is left inside and removes the directory. Idempotent.
    public func cleanup() {
        guard !removed.exchange(true, ordering: .relaxed) else { return }
        if let procs = try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8) {
            for pid in procs.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        for _ in 0..<50 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            usleep(20_000)
        }
    }
}

/// Runs `body` with a fresh cgroup, removed afterwards also when `body` throws.
public func withCgroupFixture<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (CgroupFixture) async throws -> sending T
) async throws -> sending T {
    let fixture = try CgroupFixture()
    defer { fixture.cleanup() }
    return try await body(fixture)
}
