import FQDNPolicyTesting
import Foundation
import Testing

/// `fqdnctl match`: its JSON lines (a stable interface), in Swift and through the kernel walk.
@Suite struct MatchCLITests {
    /// The `fqdnctl` binary built next to the test bundle (the test target depends on it).
    static var fqdnctl: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("fqdnctl")
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = fqdnctl
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static let patterns = ["*.example.com", "api.example.com", "**.com", "ap*.example.com", "*"]
    static let arguments = patterns.flatMap { ["--pattern", $0] } + ["API.example.com.", "example.com", "x\\032y.com", ".", "a..b"]
    static let expected = """
        {"name":"API.example.com.","matches":[{"index":0,"pattern":"*.example.com"},{"index":1,"pattern":"api.example.com"},{"index":2,"pattern":"**.com"},{"index":3,"pattern":"ap*.example.com"},{"index":4,"pattern":"*"}]}
        {"name":"example.com","matches":[{"index":2,"pattern":"**.com"},{"index":4,"pattern":"*"}]}
        {"name":"x\\\\032y.com","matches":[]}
        {"name":".","matches":[{"index":4,"pattern":"*"}]}
        {"name":"a..b","error":"position 2: empty label"}

        """

    @Test func swiftWalk() throws {
        let r = try Self.run(["match"] + Self.arguments)
        #expect(r.out == Self.expected)
        #expect(r.status == 1, "an invalid NAME makes the exit status 1: \(r.err)")
    }

    @Test(.kernel) func kernelWalk() throws {
        let r = try Self.run(["match", "--kernel"] + Self.arguments)
        #expect(r.out == Self.expected, "stderr: \(r.err)")
        #expect(r.status == 1)
    }

    @Test func invalidPattern() throws {
        let r = try Self.run(["match", "--pattern", "a.**.com", "x.com"])
        #expect(r.status == 64)
        #expect(r.out.isEmpty)
        #expect(r.err.contains("matchPattern 'a.**.com': position 2: '**' is allowed only as the whole first label"))
    }
}
