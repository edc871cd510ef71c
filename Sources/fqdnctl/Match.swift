import ArgumentParser
import DomainTrie

struct Match: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Match DNS names against toFQDNs matchPattern patterns and print the matches as JSON lines.",
        discussion: """
            Prints one JSON object per NAME, in order: {"name": NAME, "matches": [{"index": I, \
            "pattern": P}, ...]} with the patterns (0-based index in --pattern order, text as \
            given) that match it, ascending. The patterns are compiled to the kernel's trie and \
            the compiled form is walked: in Swift by default, by the BPF trie walk through \
            BPF_PROG_TEST_RUN with --kernel. A pattern without '*' is an exact name. A NAME that \
            is not a valid domain name gives {"name": NAME, "error": REASON} and the exit status \
            is 1 after all names; an invalid pattern is an error before any output.
            """
    )

    @Option(name: .customLong("pattern"), help: "A matchPattern (repeatable), e.g. '*.example.com', '**.example.com', 'api-*.example.com', '*'.")
    var patterns: [String] = []

    @Flag(name: .long, help: "Walk the trie in the kernel (BPF_PROG_TEST_RUN; needs root and BPF).")
    var kernel = false

    @Argument(help: "Names to match (presentation form, trailing dot optional).")
    var names: [String] = []

    func validate() throws {
        if patterns.isEmpty { throw ValidationError("at least one --pattern is needed") }
        if names.isEmpty { throw ValidationError("at least one NAME is needed") }
    }

    func run() throws {
        var parsed: [FQDNPattern] = []
        for p in patterns {
            do {
                parsed.append(try FQDNPattern(matchPattern: p))
            } catch {
                throw ValidationError(error.description)
            }
        }
        let trie: CompiledTrie
        do {
            trie = try CompiledTrie(patterns: parsed, policy: 1)
        } catch {
            throw ValidationError("the patterns cannot be compiled for the kernel walk: \(error)")
        }
        var lines: [String] = []
        var valid: [(index: Int, name: DomainName)] = []
        for (i, text) in names.enumerated() {
            do {
                valid.append((i, try DomainName(text)))
                lines.append("")
            } catch {
                lines.append(Self.object([("name", Self.string(text)), ("error", Self.string(error.description))]))
            }
        }
        let results = try Self.walk(trie, valid.map(\.name), kernel: kernel)
        for (k, v) in valid.enumerated() {
            let result = results[k]
            guard result.status == .ok else {
                lines[v.index] = Self.object([("name", Self.string(names[v.index])), ("error", Self.string("walk failed: \(result.status)"))])
                continue
            }
            let tags = Set(result.hits.flatMap { trie.tags(ofSet: $0) }).sorted()
            let matches = tags.map { Self.object([("index", String($0)), ("pattern", Self.string(patterns[Int($0)]))]) }
            lines[v.index] = Self.object([("name", Self.string(names[v.index])), ("matches", "[" + matches.joined(separator: ",") + "]")])
        }
        for line in lines { print(line) }
        if valid.count != names.count { throw ExitCode(1) }
    }

    static func walk(_ trie: CompiledTrie, _ names: [DomainName], kernel: Bool) throws -> [TrieWalkResult] {
        if kernel { return try KernelMatch.walk(trie, names) }
        return names.map { trie.walk($0) }
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
