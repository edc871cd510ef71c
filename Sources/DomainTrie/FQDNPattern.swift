/// One `toFQDNs` selector, parsed: a `matchName` or a `matchPattern` in Cilium's syntax.
///
/// - `matchName`: one exact name, case-insensitive, trailing dot optional; characters
///   `[-a-zA-Z0-9_.]`. `.` alone is the root name.
/// - `matchPattern`: characters `[-a-zA-Z0-9_.*]`. A `*` inside a label matches zero or more of
///   `[-a-zA-Z0-9_]` within that label (`*.example.com`, `api-*.example.com`, `*.ci*.io`).
///   `**.` as the whole first label matches one or more labels (`**.example.com` matches
///   `a.example.com` and `a.b.example.com`, not `example.com`). A pattern made only of `*`
///   (optionally with a trailing dot: `*`, `**`, `*.`) matches every name, the root included.
///   A pattern without `*` is the same as the `matchName` of the same text.
///
/// Names only ever match when each of their labels consists of `[-a-zA-Z0-9_]`: Cilium's
/// patterns are regular expressions over those characters, so a label with any other byte is
/// matched by no pattern (not even by `*`).
///
/// Deliberate strictness over Cilium's regex translation, so that a policy never means
/// something other than it reads: `**` anywhere but as the whole first label, or `***`, is an
/// error (Cilium silently reads it as `*`); empty labels, labels over 63 characters and
/// patterns no name of at most 255 wire bytes can match are errors.
public struct FQDNPattern: Hashable, Sendable, CustomStringConvertible {
    /// Which `toFQDNs` field the text came from.
    public enum Kind: String, Hashable, Sendable, Codable {
        case matchName
        case matchPattern
    }

    /// One label of a pattern.
    public enum Label: Hashable, Sendable, CustomStringConvertible {
        /// Exactly these (lowercase) bytes.
        case exact([UInt8])
        /// `*` alone: any one label.
        case any
        /// A label with `*` inside (`api-*`, `*-prod`, `a*b*c`): lowercase text, `*` included.
        case glob([UInt8])

        /// The label as it is keyed in the kernel trie: the text, `*` included.
        public var text: [UInt8] {
            switch self {
            case .exact(let b), .glob(let b): b
            case .any: [UInt8(ascii: "*")]
            }
        }

        public var description: String { String(decoding: text, as: UTF8.self) }
    }

    /// What the pattern matches, given its ``labels``.
    public enum Shape: Hashable, Sendable {
        /// Names of exactly `labels.count` labels, each matching its label.
        case labels
        /// `**.` + labels: names with one or more further labels in front of `labels`.
        case subdomains
        /// `*` alone: every name (of valid labels), the root included. `labels` is empty.
        case everything
    }

    public let kind: Kind
    /// The text as given.
    public let text: String
    public let shape: Shape
    /// Leftmost label first (presentation order), without the `**` of ``Shape/subdomains``.
    public let labels: [Label]

    /// Lowercase text without a trailing dot; the root is `.` and every match-all pattern is `*`.
    public var canonical: String {
        switch shape {
        case .everything: return "*"
        case .labels where labels.isEmpty: return "."
        case .labels: return labels.map(\.description).joined(separator: ".")
        case .subdomains: return (["**"] + labels.map(\.description)).joined(separator: ".")
        }
    }

    public var description: String { "\(kind.rawValue): \(text)" }

    /// Parses a `matchName`.
    public init(matchName text: String) throws(PatternError) {
        self = try PatternParser(text: text, kind: .matchName).parse()
    }

    /// Parses a `matchPattern`.
    public init(matchPattern text: String) throws(PatternError) {
        self = try PatternParser(text: text, kind: .matchPattern).parse()
    }

    init(kind: Kind, text: String, shape: Shape, labels: [Label]) {
        self.kind = kind
        self.text = text
        self.shape = shape
        self.labels = labels
    }
}

/// Why a pattern was refused, and where.
public struct PatternError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        case empty
        /// More than 255 characters (Cilium's limit on the field).
        case tooLong(length: Int)
        case invalidCharacter(Character)
        /// A leading dot or two dots in a row.
        case emptyLabel
        /// A label (with its `*`) longer than 63 characters.
        case labelTooLong(length: Int)
        /// The shortest name the pattern can match is longer than 255 bytes in wire form.
        case nameTooLong(minimumWireLength: Int)
        /// `**` that is not the whole first label followed by more labels.
        case misplacedSubdomainWildcard
        /// `**` inside a label, such as `a**b`.
        case consecutiveStars
    }

    /// The pattern as given.
    public let pattern: String
    public let kind: FQDNPattern.Kind
    /// 0-based character offset in `pattern` where the problem is.
    public let position: Int
    public let reason: Reason

    public var why: String {
        switch reason {
        case .empty: "is empty"
        case .tooLong(let n): "is \(n) characters long (at most 255)"
        case .invalidCharacter(let c):
            kind == .matchName
                ? "character '\(c)' is not allowed in a matchName ([-a-zA-Z0-9_.])"
                : "character '\(c)' is not allowed in a matchPattern ([-a-zA-Z0-9_.*])"
        case .emptyLabel: "empty label (a leading dot or two dots in a row)"
        case .labelTooLong(let n): "label is \(n) characters long (at most 63)"
        case .nameTooLong(let n): "the shortest name it matches is \(n) bytes in wire form (at most 255)"
        case .misplacedSubdomainWildcard:
            "'**' is allowed only as the whole first label followed by a domain ('**.example.com')"
        case .consecutiveStars: "'**' inside a label: use a single '*' (zero or more characters)"
        }
    }

    public var description: String { "\(kind.rawValue) '\(pattern)': position \(position): \(why)" }
}

private struct PatternParser {
    let text: String
    let kind: FQDNPattern.Kind
    let chars: [Character]

    init(text: String, kind: FQDNPattern.Kind) {
        self.text = text
        self.kind = kind
        self.chars = Array(text)
    }

    func fail(_ at: Int, _ reason: PatternError.Reason) -> PatternError {
        PatternError(pattern: text, kind: kind, position: at, reason: reason)
    }

    func parse() throws(PatternError) -> FQDNPattern {
        if chars.isEmpty { throw fail(0, .empty) }
        if chars.count > 255 { throw fail(255, .tooLong(length: chars.count)) }
        for (i, c) in chars.enumerated() where !Self.allowed(c, kind) {
            throw fail(i, .invalidCharacter(c))
        }
        let body = chars.last == "." ? Array(chars.dropLast()) : chars
        if kind == .matchPattern, !body.isEmpty, body.allSatisfy({ $0 == "*" }) {
            return FQDNPattern(kind: kind, text: text, shape: .everything, labels: [])
        }
        if body.isEmpty {  // "." : the root name
            return FQDNPattern(kind: kind, text: text, shape: .labels, labels: [])
        }

        // Split into labels, remembering where each starts.
        var pieces: [(start: Int, chars: ArraySlice<Character>)] = []
        var start = 0
        for i in 0...body.count where i == body.count || body[i] == "." {
            if i == start { throw fail(i, .emptyLabel) }
            pieces.append((start, body[start..<i]))
            start = i + 1
        }

        var shape = FQDNPattern.Shape.labels
        var labels: [FQDNPattern.Label] = []
        for (index, piece) in pieces.enumerated() {
            let bytes = piece.chars.map { UInt8(ascii: $0.unicodeScalars.first!).lowercasedASCII }
            if bytes.count > TrieLimits.maxLabelLength { throw fail(piece.start, .labelTooLong(length: bytes.count)) }
            let stars = bytes.filter { $0 == UInt8(ascii: "*") }.count
            if stars == 0 {
                labels.append(.exact(bytes))
                continue
            }
            if let dd = Self.doubleStar(bytes) {
                if bytes.allSatisfy({ $0 == UInt8(ascii: "*") }) {
                    if index == 0, bytes.count == 2, pieces.count > 1 {
                        shape = .subdomains
                        continue
                    }
                    throw fail(piece.start, .misplacedSubdomainWildcard)
                }
                throw fail(piece.start + dd, .consecutiveStars)
            }
            labels.append(bytes.count == 1 ? .any : .glob(bytes))
        }

        // The shortest matching name must fit in 255 wire bytes.
        var minimum = 1  // root byte
        for label in labels {
            switch label {
            case .exact(let b): minimum += 1 + b.count
            case .any: minimum += 2
            case .glob(let b): minimum += 1 + max(1, b.filter { $0 != UInt8(ascii: "*") }.count)
            }
        }
        if shape == .subdomains { minimum += 2 }
        if minimum > TrieLimits.maxNameLength { throw fail(0, .nameTooLong(minimumWireLength: minimum)) }
        return FQDNPattern(kind: kind, text: text, shape: shape, labels: labels)
    }

    /// Offset of the first `**` in a label, if any.
    static func doubleStar(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for i in 0..<(bytes.count - 1) where bytes[i] == UInt8(ascii: "*") && bytes[i + 1] == UInt8(ascii: "*") {
            return i
        }
        return nil
    }

    static func allowed(_ c: Character, _ kind: FQDNPattern.Kind) -> Bool {
        guard c.unicodeScalars.count == 1, let s = c.unicodeScalars.first, s.isASCII else { return false }
        let b = UInt8(s.value)
        if DomainName.isLabelByte(b.lowercasedASCII) || b == UInt8(ascii: ".") { return true }
        return kind == .matchPattern && b == UInt8(ascii: "*")
    }
}

extension UInt8 {
    /// ASCII A-Z to a-z; every other byte unchanged (DNS compares names this way).
    @inlinable var lowercasedASCII: UInt8 {
        self >= 0x41 && self <= 0x5A ? self | 0x20 : self
    }
}
