import DNSWire
import Foundation
import FQDNTestSupport
import Testing

/// Real server output (Knot DNS) against facts computed by dnspython (corpus_facts.json).
@Suite struct CorpusTests {
    @Test func corpusIsComplete() {
        // 12 cases x (UDP, query, TCP with prefix, TCP without prefix).
        #expect(CorpusFixtures.corpusFiles.count == 48)
        #expect(Set(CorpusFixtures.expected.keys) == Set(CorpusFixtures.corpusFiles))
    }

    @Test(arguments: CorpusFixtures.corpusFiles)
    func factsMatchDnspython(file: String) throws {
        let expected = try #require(CorpusFixtures.expected[file], "no dnspython facts for \(file)")
        let message = try CorpusFixtures.message(file)
        if file.hasSuffix(".tcp.bin") {
            let raw = try CorpusFixtures.bytes(file)
            #expect(Int(raw[0]) << 8 | Int(raw[1]) == message.count, "TCP prefix of \(file)")
        }
        #expect(message.count == expected["length"] as? Int)
        #expect(expected["verdict"] as? String == "ok")

        let facts = ResponseFacts.extract(from: message)
        #expect(facts.error == nil)
        #expect(Int(facts.id) == expected["id"] as? Int)
        #expect(Int(facts.flags) == expected["flags"] as? Int)
        #expect(facts.qr == expected["qr"] as? Bool)
        #expect(facts.tc == expected["tc"] as? Bool)
        #expect(Int(facts.rcode) == expected["rcode"] as? Int)
        #expect(Int(facts.qdcount) == expected["qdcount"] as? Int)
        #expect(Int(facts.ancount) == expected["ancount"] as? Int)
        #expect(Int(facts.nscount) == expected["nscount"] as? Int)
        #expect(Int(facts.arcount) == expected["arcount"] as? Int)
        #expect(facts.qname?.description == expected["qname"] as? String)
        #expect(Int(facts.qtype) == expected["qtype"] as? Int)
        #expect(Int(facts.qclass) == expected["qclass"] as? Int)
        #expect(facts.credits == expected["credits"] as? Bool)
        #expect(facts.chain.map(\.description) == expected["chain"] as? [String])
        let credited = (expected["credited"] as? [[String: Any]] ?? []).map {
            "\($0["address"] ?? "?")/\($0["ttl"] ?? "?")"
        }
        #expect(facts.credited.map { "\($0.address)/\($0.ttl)" } == credited)

        // The answers as `fqdnctl decode` shows them, against dnspython's reading.
        let decoded = try DNSMessage.decode(message)
        let answers = (expected["answers"] as? [[String: Any]] ?? []).map {
            "\($0["name"] ?? "?") \($0["type"] ?? "?") \($0["ttl"] ?? "?") \($0["data"] ?? "?")"
        }
        #expect(decoded.answers.map { "\($0.name) \($0.type.rawValue) \($0.ttl) \($0.rdata.presentation)" } == answers)
    }

    @Test(arguments: CorpusFixtures.corpusFiles)
    func corpusRoundTrips(file: String) throws {
        let message = try DNSMessage.decode(try CorpusFixtures.message(file))
        for compress in [true, false] {
            let again = try DNSMessage.decode(message.encode(compress: compress))
            #expect(again == message)
            #expect(again.encode(compress: compress) == message.encode(compress: compress))
        }
    }

    /// The facts' names are lowercase in wire form as well as in text.
    @Test func qnameWireFormIsLowercase() throws {
        var bytes = try CorpusFixtures.message("simple_a.bin")
        // Question name starts at 12: "\x05h0007..." -> uppercase the 'H'.
        #expect(bytes[13] == UInt8(ascii: "h"))
        bytes[13] = UInt8(ascii: "H")
        let facts = ResponseFacts.extract(from: bytes)
        #expect(facts.qname?.wireLowercased == Wire.name("h0007.example.test"))
        #expect(facts.qname?.wire == Wire.name("h0007.example.test"))
        #expect(facts.credited.count == 1, "owner h0007 still matches qname H0007 case-insensitively")
    }
}

/// Runs the built `fqdnctl decode` and checks its JSON against the dnspython facts.
@Suite struct CLITests {
    /// The `fqdnctl` binary built next to the test bundle (the test target depends on it).
    static var fqdnctl: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("fqdnctl")
    }

    static func run(_ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, out: Data, err: String) {
        let process = Process()
        process.executableURL = fqdnctl
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
    }

    @Test(arguments: ["cname_chain.bin", "aaaa_via_cname.tcp.bin", "nxdomain.tcp.msg.bin", "bigtxt_noedns.bin"])
    func decodeMatchesDnspython(file: String) throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.fqdnctl.path), "fqdnctl not built at \(Self.fqdnctl.path)")
        let path = CorpusFixtures.corpus.appendingPathComponent(file).path
        let arguments = file.hasSuffix(".tcp.bin") ? ["decode", "--tcp", path] : ["decode", path]
        let result = try Self.run(arguments)
        #expect(result.status == 0, "stderr: \(result.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: result.out) as? [String: Any])
        let expected = try #require(CorpusFixtures.expected[file])
        #expect(Array(json.keys).count == 12)
        #expect(json["verdict"] as? String == "ok")
        #expect(json["error"] is NSNull)
        #expect(json["offset"] is NSNull)
        for key in ["id", "rcode", "qtype"] {
            #expect(json[key] as? Int == expected[key] as? Int, "\(key)")
        }
        for key in ["qr", "tc"] {
            #expect(json[key] as? Bool == expected[key] as? Bool, "\(key)")
        }
        #expect(json["qname"] as? String == expected["qname"] as? String)
        #expect(json["chain"] as? [String] == expected["chain"] as? [String])
        #expect(try canonical(json["credited"]) == canonical(expected["credited"]))
        #expect(try canonical(json["answers"]) == canonical(expected["answers"]))

        // Deterministic key order.
        let text = String(decoding: result.out, as: UTF8.self)
        let order = ["verdict", "error", "offset", "id", "qr", "rcode", "tc", "qname", "qtype", "chain", "credited", "answers"]
        let positions = order.compactMap { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.count == order.count && positions == positions.sorted())
    }

    /// Both sides re-serialized the same way, so values compare independent of bridging.
    func canonical(_ value: Any?) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: value ?? NSNull(), options: [.sortedKeys, .fragmentsAllowed])
        return String(decoding: data, as: UTF8.self)
    }

    @Test func decodeHexFromStdinReportsErrors() throws {
        // A header that announces one question and ends: count_mismatch at offset 12.
        let hex = Wire.header(qd: 1).hex
        let result = try Self.run(["decode", "--hex", "-"], stdin: Data(hex.utf8))
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: result.out) as? [String: Any])
        #expect(json["verdict"] as? String == "error")
        #expect(json["error"] as? String == "count_mismatch")
        #expect(json["offset"] as? Int == 12)
        #expect(json["qname"] is NSNull)
    }

    @Test func unreadableInputExitsNonZeroNamingTheFile() throws {
        let missing = try Self.run(["decode", "/nonexistent/msg.bin"])
        #expect(missing.status != 0)
        #expect(missing.err.contains("/nonexistent/msg.bin"))
        // A UDP file is not a TCP stream: its first two bytes (the ID) are not its length.
        let path = CorpusFixtures.corpus.appendingPathComponent("simple_a.bin").path
        let wrongPrefix = try Self.run(["decode", "--tcp", path])
        #expect(wrongPrefix.status != 0)
        #expect(wrongPrefix.err.contains(path) && wrongPrefix.err.contains("length prefix"))
    }
}
