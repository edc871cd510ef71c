import Foundation

/// Paths of the test fixtures, found from this file (no resources bundle needed).
public enum CorpusFixtures {
    /// The package root (this file is Sources/FQDNTestSupport/CorpusFixtures.swift).
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let fixtures = root.appendingPathComponent("Tests/Fixtures")
    /// Real messages captured from a Knot DNS server (captured once from Knot; Tests/Fixtures/dns-corpus/knot).
    public static let corpus = fixtures.appendingPathComponent("dns-corpus/knot")

    /// Every `.bin` file of the knot corpus (UDP, TCP with and without prefix, queries).
    public static let corpusFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []
        return names.filter { $0.hasSuffix(".bin") }.sorted()
    }()

    public static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: corpus.appendingPathComponent(file)))
    }

    /// The DNS message of a corpus file: the `.tcp.bin` files lose their 2-byte prefix.
    public static func message(_ file: String) throws -> [UInt8] {
        let data = try bytes(file)
        return file.hasSuffix(".tcp.bin") ? Array(data.dropFirst(2)) : data
    }

    public static func corpusMessages() throws -> [[UInt8]] { try corpusFiles.map(message) }

    /// The dnspython facts (`corpus_facts.json`, from `make_corpus_facts.py`): the outside
    /// reference the parsers are compared with.
    nonisolated(unsafe) public static let expected: [String: [String: Any]] = {
        guard let data = try? Data(contentsOf: fixtures.appendingPathComponent("corpus_facts.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [String: [String: Any]]
        else { return [:] }
        return cases
    }()
}
