import Foundation
import Glibc

/// A real authoritative DNS server (Debian's Knot DNS, `knotd`) running inside a test
/// namespace, with a generated configuration and zone files. `stop()` (or deinit) kills it
/// and removes its files.
///
/// ```swift
/// let knot = try KnotServer(namespace: dnsNS, listen: ["10.0.0.53"], zones: [
///     .init(origin: "demo.test", records: ["web A 10.0.1.2", "short 2 A 10.0.1.3"]),
/// ])
/// defer { knot.stop() }
/// ```
public final class KnotServer: @unchecked Sendable {
    /// One zone: its origin and the records of its zone file (relative owner names allowed;
    /// SOA and NS are added).
    public struct Zone: Sendable {
        public var origin: String
        public var records: [String]
        /// Default TTL of the zone file.
        public var ttl: UInt32

        public init(origin: String, records: [String], ttl: UInt32 = 300) {
            self.origin = origin
            self.records = records
            self.ttl = ttl
        }
    }

    public let namespace: TestNamespace
    public let addresses: [String]
    public let port: UInt16
    public let directory: String
    private let process: Process
    private let stderrPipe = Pipe()
    private var stopped = false

    /// Whether `knotd` is installed (`apt-get install knot knot-dnsutils`).
    public static var isInstalled: Bool {
        ["/usr/sbin/knotd", "/usr/bin/knotd"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts knotd in `namespace`, listening on every address of `listen` at `port`, and
    /// waits until it answers (SOA of the first zone, with kdig). Throws with knotd's output
    /// when it does not start.
    public init(namespace: TestNamespace, listen: [String], port: UInt16 = 53, zones: [Zone]) throws {
        guard Self.isInstalled else {
            throw CommandFailed(result: CommandResult(arguments: ["knotd"], status: 127, stdout: "",
                                                      stderr: "knotd is not installed (apt-get install knot knot-dnsutils)"))
        }
        self.namespace = namespace
        self.addresses = listen
        self.port = port
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-knot-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        directory = dir

        var conf = "server:\n    rundir: \"\(dir)\"\n    listen: [ \(listen.map { "\"\($0)@\(port)\"" }.joined(separator: ", ")) ]\n"
        conf += "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
        conf += "database:\n    storage: \"\(dir)\"\n"
        conf += "log:\n  - target: stderr\n    any: warning\n"
        conf += "template:\n  - id: default\n    storage: \"\(dir)\"\n    semantic-checks: off\n    journal-content: none\n    zonefile-sync: -1\n"
        conf += "zone:\n"
        for z in zones {
            let origin = z.origin.hasSuffix(".") ? String(z.origin.dropLast()) : z.origin
            var text = "$ORIGIN \(origin).\n$TTL \(z.ttl)\n"
            text += "@ SOA ns.\(origin). admin.\(origin). 1 3600 600 86400 60\n@ NS ns.\(origin).\n"
            text += z.records.joined(separator: "\n") + "\n"
            try text.write(toFile: "\(dir)/\(origin).zone", atomically: true, encoding: .utf8)
            conf += "  - domain: \(origin)\n    file: \"\(dir)/\(origin).zone\"\n"
        }
        try conf.write(toFile: "\(dir)/knot.conf", atomically: true, encoding: .utf8)

        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // `ip netns exec` execs knotd: the process is knotd itself.
        process.arguments = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ip", "netns", "exec", namespace.name, "knotd", "-c", "\(dir)/knot.conf"]
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()

        // Wait until it answers.
        let first = zones.first.map { $0.origin } ?? "."
        let deadline = Date().addingTimeInterval(10)
        while true {
            if !process.isRunning {
                let err = String(decoding: stderrPipe.fileHandleForReading.availableData, as: UTF8.self)
                try? FileManager.default.removeItem(atPath: dir)
                throw CommandFailed(result: CommandResult(arguments: process.arguments ?? [], status: process.terminationStatus, stdout: "", stderr: err))
            }
            let r = try namespace.run(["kdig", "@\(listen[0])", "-p", "\(port)", "+time=1", "+retry=0", "+short", "SOA", first], check: false)
            if r.status == 0 && !r.stdout.isEmpty { break }
            if Date() > deadline {
                stop()
                throw CommandFailed(result: CommandResult(arguments: ["kdig", "SOA", first], status: r.status, stdout: r.stdout, stderr: "knotd did not answer within 10 s: \(r.stderr)"))
            }
            usleep(50_000)
        }
    }

    deinit { stop() }

    /// Kills knotd and removes its files. Idempotent.
    public func stop() {
        if stopped { return }
        stopped = true
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
