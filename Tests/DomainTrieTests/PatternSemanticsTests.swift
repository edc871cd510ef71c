import Testing

@testable import DomainTrie

/// One documented case: a selector, a name, whether it matches.
struct SemanticsCase: CustomTestStringConvertible, Sendable {
    let kind: FQDNPattern.Kind
    let pattern: String
    let name: String
    let matches: Bool

    var testDescription: String { "\(kind.rawValue) \(pattern) \(matches ? "matches" : "does not match") \(name)" }

    func parsed() throws -> FQDNPattern {
        kind == .matchName ? try FQDNPattern(matchName: pattern) : try FQDNPattern(matchPattern: pattern)
    }
}

private func p(_ pattern: String, _ name: String, _ matches: Bool) -> SemanticsCase {
    SemanticsCase(kind: .matchPattern, pattern: pattern, name: name, matches: matches)
}

private func n(_ pattern: String, _ name: String, _ matches: Bool) -> SemanticsCase {
    SemanticsCase(kind: .matchName, pattern: pattern, name: name, matches: matches)
}

/// Cases taken from Cilium's documented semantics:
/// - Cilium docs, Documentation/security/policy/language.rst, "DNS based" (toFQDNs) and
///   "DNS Policy and IP Discovery": `*` within a label is 0 or more valid DNS characters except
///   the separator; `*.cilium.io` matches `sub.cilium.io` but not `cilium.io` or
///   `sub.sub.cilium.io`; `part*ial.com` matches `partial.com` and `part-extra-ial.com`;
///   `special*service.api.cilium.io` matches `special-region1-service.api.cilium.io` but not
///   `region1-service.api.cilium.io`; `*` alone matches all names; Kubernetes service names need
///   `*.*.svc.cluster.local.`.
/// - Cilium's pkg/fqdn/matchpattern (API reference of matchPattern and its tests): characters
///   `[-a-zA-Z0-9_]`; `**.` as a prefix is one or more labels; `*` alone also matches the root
///   `.`; `*.ci*.io.`, `*.*.cilium.io.` and SRV-style `_foobar._tcp` names.
/// - This project: `api-*.example.com`; matchName case-insensitive with an optional trailing dot.
let documentedCases: [SemanticsCase] = [
    // language.rst, toFQDNs.matchPattern
    p("*.cilium.io", "sub.cilium.io", true),
    p("*.cilium.io", "cilium.io", false),
    p("*.cilium.io", "sub.sub.cilium.io", false),
    p("part*ial.com", "partial.com", true),
    p("part*ial.com", "part-extra-ial.com", true),
    p("part*ial.com", "part.ial.com", false),
    p("special*service.api.cilium.io", "special-region1-service.api.cilium.io", true),
    p("special*service.api.cilium.io", "region1-service.api.cilium.io", false),
    p("*", "cilium.io", true),
    p("*", "sub.sub.cilium.io", true),
    p("*.*.svc.cluster.local.", "service.namespace.svc.cluster.local", true),
    p("*.*.svc.cluster.local.", "namespace.svc.cluster.local", false),
    p("*.*.svc.cluster.local.", "a.service.namespace.svc.cluster.local", false),
    // matchpattern: anchored matching table
    p("cilium.io.", "cilium.io", true),
    p("cilium.io.", "anysub.cilium.io", false),
    p("cilium.io.", "anysub.ci.io", false),
    p("*.ci*.io.", "anysub.cilium.io", true),
    p("*.ci*.io.", "anysub.ci.io", true),
    p("*.ci*.io.", "anysub.ciliumandmore.io", true),
    p("*.ci*.io.", "cilium.io", false),
    p("*", ".", true),
    p("*", "io", true),
    p("*", "svc.cluster.local", true),
    p("*", "service.namesace.svc.cluster.local", true),
    p("*", "_foobar._tcp.cilium.io", true),
    p(".", ".", true),
    p(".", "io", false),
    p("_foobar._tcp.cilium.io.", "_foobar._tcp.cilium.io", true),
    p("_foobar._tcp.cilium.io.", "_tcp.cilium.io", false),
    p("_foobar._tcp.cilium.io.", "cilium.io", false),
    p("*.*.cilium.io.", "_foobar._tcp.cilium.io", true),
    // matchpattern: every all-star pattern is match-all
    p("**", "a.b.c", true),
    p("*.", "a", true),
    p("**.", ".", true),
    // `**.` prefix: one or more labels
    p("**.cilium.io", "a.cilium.io", true),
    p("**.cilium.io", "a.b.cilium.io", true),
    p("**.cilium.io", "a.b.c.d.e.cilium.io", true),
    p("**.cilium.io", "cilium.io", false),
    p("**.cilium.io", "xcilium.io", false),
    p("**.cilium.io", "a.cilium.io.evil.com", false),
    p("**.*.example.com", "a.b.example.com", true),
    p("**.*.example.com", "b.example.com", false),
    p("**.a*.com", "x.ab.com", true),
    p("**.a*.com", "ab.com", false),
    p("api-*.example.com", "api-v1.example.com", true),
    p("api-*.example.com", "api-.example.com", true),
    p("api-*.example.com", "api.example.com", false),
    p("api-*.example.com", "v1.api-x.example.com", false),
    p("*-prod.example.com", "eu-prod.example.com", true),
    p("*-prod.example.com", "prod.example.com", false),
    p("a*b*c.com", "abc.com", true),
    p("a*b*c.com", "a-b-c.com", true),
    p("a*b*c.com", "axxbyyc.com", true),
    p("a*b*c.com", "acb.com", false),
    p("a*b*c.com", "ab.com", false),
    p("*x*.com", "x.com", true),
    p("*x*.com", "axb.com", true),
    p("*x*.com", "abc.com", false),
    // case-insensitive, trailing dot optional
    p("*.Example.COM", "API.example.com", true),
    n("api.example.com", "api.example.com", true),
    n("API.Example.COM.", "api.example.com", true),
    n("api.example.com", "Api.Example.Com.", true),
    n("example.com", "www.example.com", false),
    n("www.example.com", "example.com", false),
    n("exa_mple.com", "exa_mple.com", true),
    n(".", ".", true),
    // a label with a byte outside [-a-zA-Z0-9_] is matched by nothing, not even `*`
    p("*", "a\\032b.com", false),
    p("*.com", "a\\032b.com", false),
    p("**.com", "x.a\\.b.com", false),
    p("*", "caf\\195\\169.com", false),
]

@Suite struct PatternSemanticsTests {
    @Test(arguments: documentedCases)
    func directMatcher(_ c: SemanticsCase) throws {
        let pattern = try c.parsed()
        let name = try DomainName(c.name)
        #expect(pattern.matches(name) == c.matches)
    }

    @Test(arguments: documentedCases)
    func compiledMatcher(_ c: SemanticsCase) throws {
        let pattern = try c.parsed()
        let trie = try CompiledTrie([TrieRule(pattern, tag: 42)], policy: 9)
        let name = try DomainName(c.name)
        #expect(trie.matchingTags(name) == (c.matches ? [42] : []))
    }

    @Test func canonicalForms() throws {
        #expect(try FQDNPattern(matchPattern: "*.Example.COM.").canonical == "*.example.com")
        #expect(try FQDNPattern(matchPattern: "**.a.b").canonical == "**.a.b")
        #expect(try FQDNPattern(matchPattern: "**.").canonical == "*")
        #expect(try FQDNPattern(matchName: ".").canonical == ".")
        #expect(try FQDNPattern(matchName: "A.b.").labels == [.exact(Array("a".utf8)), .exact(Array("b".utf8))])
        #expect(try FQDNPattern(matchPattern: "*.a").labels.first == .any)
        #expect(try FQDNPattern(matchPattern: "x*.a").labels.first == .glob(Array("x*".utf8)))
    }

    /// Several patterns matching one name are all reported (exact + `*.` + `**.` + glob + `*`).
    @Test func overlappingPatternsAllReported() throws {
        let texts = ["api.example.com", "*.example.com", "**.example.com", "ap*.example.com", "*", "**.com", "other.com"]
        let patterns = try texts.map { try FQDNPattern(matchPattern: $0) }
        let trie = try CompiledTrie(patterns: patterns, policy: 1)
        let name = try DomainName("api.example.com")
        #expect(trie.matchingTags(name) == [0, 1, 2, 3, 4, 5])
        #expect(directMatches(patterns, name) == [0, 1, 2, 3, 4, 5])
        #expect(trie.matchingTags(try DomainName("example.com")) == [4, 5])
        #expect(trie.matchingTags(try DomainName(".")) == [4])
    }
}

struct ErrorCase: CustomTestStringConvertible, Sendable {
    let kind: FQDNPattern.Kind
    let pattern: String
    let position: Int
    let reason: PatternError.Reason
    var testDescription: String { "\(kind.rawValue) '\(pattern.prefix(40))'" }
}

let errorCases: [ErrorCase] = [
    ErrorCase(kind: .matchPattern, pattern: "", position: 0, reason: .empty),
    ErrorCase(kind: .matchName, pattern: "", position: 0, reason: .empty),
    ErrorCase(kind: .matchPattern, pattern: "a..com", position: 2, reason: .emptyLabel),
    ErrorCase(kind: .matchPattern, pattern: ".a.com", position: 0, reason: .emptyLabel),
    ErrorCase(kind: .matchName, pattern: "a.com..", position: 6, reason: .emptyLabel),
    ErrorCase(kind: .matchPattern, pattern: "a b.com", position: 1, reason: .invalidCharacter(" ")),
    ErrorCase(kind: .matchPattern, pattern: " a.com", position: 0, reason: .invalidCharacter(" ")),
    ErrorCase(kind: .matchPattern, pattern: "é.com", position: 0, reason: .invalidCharacter("é")),
    ErrorCase(kind: .matchPattern, pattern: "a.com/x", position: 5, reason: .invalidCharacter("/")),
    ErrorCase(kind: .matchPattern, pattern: "[a].com", position: 0, reason: .invalidCharacter("[")),
    ErrorCase(kind: .matchName, pattern: "*.a.com", position: 0, reason: .invalidCharacter("*")),
    ErrorCase(kind: .matchName, pattern: "*", position: 0, reason: .invalidCharacter("*")),
    ErrorCase(kind: .matchPattern, pattern: "a.**.com", position: 2, reason: .misplacedSubdomainWildcard),
    ErrorCase(kind: .matchPattern, pattern: "a.**", position: 2, reason: .misplacedSubdomainWildcard),
    ErrorCase(kind: .matchPattern, pattern: "***.com", position: 0, reason: .misplacedSubdomainWildcard),
    ErrorCase(kind: .matchPattern, pattern: "a**b.com", position: 1, reason: .consecutiveStars),
    ErrorCase(kind: .matchPattern, pattern: "x.**b.com", position: 2, reason: .consecutiveStars),
    ErrorCase(kind: .matchPattern, pattern: "**b.com", position: 0, reason: .consecutiveStars),
    ErrorCase(kind: .matchPattern, pattern: "a." + String(repeating: "x", count: 64) + ".com", position: 2,
              reason: .labelTooLong(length: 64)),
    ErrorCase(kind: .matchPattern, pattern: String(repeating: "a.", count: 128), position: 255, reason: .tooLong(length: 256)),
    // The fixed labels take 254 wire bytes; the `**.` in front needs at least 2 more.
    ErrorCase(kind: .matchPattern, pattern: "**.ab." + Array(repeating: "a", count: 125).joined(separator: "."), position: 0,
              reason: .nameTooLong(minimumWireLength: 256)),
    ErrorCase(kind: .matchName, pattern: Array(repeating: "abc", count: 64).joined(separator: "."), position: 0,
              reason: .nameTooLong(minimumWireLength: 257)),
]

@Suite struct PatternErrorTests {
    @Test(arguments: errorCases)
    func refused(_ c: ErrorCase) {
        do {
            _ = c.kind == .matchName ? try FQDNPattern(matchName: c.pattern) : try FQDNPattern(matchPattern: c.pattern)
            Issue.record("accepted")
        } catch {
            #expect(error.pattern == c.pattern)
            #expect(error.kind == c.kind)
            #expect(error.position == c.position)
            #expect(error.reason == c.reason)
        }
    }

    @Test func messageNamesPatternPositionAndReason() {
        do {
            _ = try FQDNPattern(matchPattern: "a.**.com")
        } catch {
            #expect(error.description == "matchPattern 'a.**.com': position 2: '**' is allowed only as the whole first label followed by a domain ('**.example.com')")
        }
    }

    @Test func limitsAccepted() throws {
        // 127 one-byte labels: exactly 255 wire bytes.
        _ = try FQDNPattern(matchName: Array(repeating: "a", count: 127).joined(separator: "."))
        _ = try FQDNPattern(matchPattern: "**." + Array(repeating: "a", count: 126).joined(separator: "."))
        _ = try FQDNPattern(matchPattern: String(repeating: "x", count: 63) + ".com")
        _ = try FQDNPattern(matchPattern: String(repeating: "x*", count: 31) + "x.com")
    }
}

@Suite struct DomainNameTests {
    @Test func presentation() throws {
        #expect(try DomainName("Api.Example.COM.").labels == [Array("api".utf8), Array("example".utf8), Array("com".utf8)])
        #expect(try DomainName(".").labels.isEmpty)
        #expect(try DomainName("a\\.b.c").labels == [Array("a.b".utf8), Array("c".utf8)])
        #expect(try DomainName("a\\032b").labels == [[0x61, 0x20, 0x62]])
        #expect(try DomainName("a\\032b.c").description == "a\\032b.c")
        #expect(try DomainName("a\\.b.c").description == "a\\.b.c")
        #expect(throws: NameError.self) { try DomainName("a..b") }
        #expect(throws: NameError.self) { try DomainName("") }
        #expect(throws: NameError.self) { try DomainName(String(repeating: "x", count: 64)) }
        #expect(throws: NameError.self) { try DomainName("a\\25") }
    }

    @Test func wire() throws {
        let n = try DomainName("API.example.com")
        #expect(n.wire == [3, 97, 112, 105, 7] + Array("example".utf8) + [3] + Array("com".utf8) + [0])
        #expect(try DomainName(wire: n.wire) == n)
        #expect(try DomainName(wire: [0]).labels.isEmpty)
        #expect(throws: NameError.self) { try DomainName(wire: [3, 97, 0]) }
        #expect(throws: NameError.self) { try DomainName(wire: [1, 97, 0, 0]) }
        #expect(throws: NameError.self) { try DomainName(wire: [64] + Array(repeating: 97, count: 64) + [0]) }
    }
}
