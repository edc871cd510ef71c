import DNSWire
import Foundation
import Testing

/// Paths of the fixtures, found from this file (no resources bundle needed).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/Fixtures")
    static let corpus = fixtures.appendingPathComponent("dns-corpus/knot")

    /// Every `.bin` file of the knot corpus (UDP, TCP with and without prefix, queries).
    static let corpusFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []
        return names.filter { $0.hasSuffix(".bin") }.sorted()
    }()

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: corpus.appendingPathComponent(file)))
    }

    /// The DNS message of a corpus file: the `.tcp.bin` files lose their 2-byte prefix.
    static func message(_ file: String) throws -> [UInt8] {
        let data = try bytes(file)
        return file.hasSuffix(".tcp.bin") ? Array(data.dropFirst(2)) : data
    }

    /// The dnspython facts (`corpus_facts.json`, from `make_corpus_facts.py`).
    nonisolated(unsafe) static let expected: [String: [String: Any]] = {
        guard let data = try? Data(contentsOf: fixtures.appendingPathComponent("corpus_facts.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [String: [String: Any]]
        else { return [:] }
        return cases
    }()
}

/// SplitMix64: small, seeded, reproducible on every platform.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Byte-level builders for hand-made messages.
enum Wire {
    static func u16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
    static func u32(_ v: UInt32) -> [UInt8] { u16(Int(v >> 16)) + u16(Int(v & 0xFFFF)) }

    /// A 12-byte header.
    static func header(id: Int = 0x1234, flags: Int = 0x8180, qd: Int = 0, an: Int = 0, ns: Int = 0, ar: Int = 0) -> [UInt8] {
        u16(id) + u16(flags) + u16(qd) + u16(an) + u16(ns) + u16(ar)
    }

    /// Uncompressed wire form of a dotted name ("" or "." is the root).
    static func name(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in text.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += Array(label.utf8)
        }
        return out + [0]
    }

    static func pointer(_ offset: Int) -> [UInt8] { [UInt8(0xC0 | (offset >> 8)), UInt8(offset & 0xFF)] }

    /// Type, class, TTL, rdlength (10 bytes), then the rdata.
    static func rr(type: Int, cls: Int = 1, ttl: UInt32 = 300, rdlength: Int? = nil, _ rdata: [UInt8]) -> [UInt8] {
        u16(type) + u16(cls) + u32(ttl) + u16(rdlength ?? rdata.count) + rdata
    }

    /// Question "a" type A class IN: 12 bytes of header, then bytes 12...18 (name 12-14,
    /// type 15-16, class 17-18). The next record starts at 19.
    static let questionA: [UInt8] = name("a") + u16(1) + u16(1)
}

extension Array where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

/// Decode and facts must agree on the verdict (one shared walk); returns it.
func verdict(
    _ bytes: [UInt8], limits: ParserLimits = .kernel, sourceLocation: SourceLocation = #_sourceLocation
) -> ParseError? {
    let facts = ResponseFacts.extract(from: bytes, limits: limits)
    let decodeError: ParseError?
    do {
        _ = try DNSMessage.decode(bytes, limits: limits)
        decodeError = nil
    } catch {
        decodeError = error
    }
    #expect(facts.error == decodeError, "decode and facts disagree on \(bytes.hex)", sourceLocation: sourceLocation)
    return decodeError
}
