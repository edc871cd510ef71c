/// A domain name as the matchers see it: lowercase labels, leftmost first.
///
/// Built from presentation text (`api.example.com`, trailing dot optional, `.` is the root,
/// `\.` and `\DDD` escapes) or from uncompressed wire form. ASCII letters are lowercased;
/// other bytes are kept as they are (they never match a pattern, see ``FQDNPattern``).
public struct DomainName: Hashable, Sendable, CustomStringConvertible {
    /// Leftmost label first; empty for the root.
    public let labels: [[UInt8]]

    /// Labels as given (lowercased), checked against the DNS limits.
    public init(labels: [[UInt8]]) throws(NameError) {
        var wire = 1
        for (i, label) in labels.enumerated() {
            if label.isEmpty { throw NameError(position: i, reason: .emptyLabel) }
            if label.count > TrieLimits.maxLabelLength { throw NameError(position: i, reason: .labelTooLong(length: label.count)) }
            wire += 1 + label.count
        }
        if labels.count > TrieLimits.maxLabels { throw NameError(position: 0, reason: .tooManyLabels(count: labels.count)) }
        if wire > TrieLimits.maxNameLength { throw NameError(position: 0, reason: .tooLong(wireLength: wire)) }
        self.labels = labels.map { $0.map(\.lowercasedASCII) }
    }

    /// Presentation form. `position` in errors is a character offset.
    public init(_ text: String) throws(NameError) {
        let chars = Array(text.utf8)
        if chars.isEmpty { throw NameError(position: 0, reason: .empty) }
        if chars == [UInt8(ascii: ".")] {
            try self.init(labels: [])
            return
        }
        var labels: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        var labelStart = 0
        while i < chars.count {
            let c = chars[i]
            if c == UInt8(ascii: "\\") {
                guard i + 1 < chars.count else { throw NameError(position: i, reason: .badEscape) }
                let d = chars[i + 1]
                if Self.isDigit(d) {
                    guard i + 3 < chars.count, Self.isDigit(chars[i + 2]), Self.isDigit(chars[i + 3]) else {
                        throw NameError(position: i, reason: .badEscape)
                    }
                    let v = Int(d - 48) * 100 + Int(chars[i + 2] - 48) * 10 + Int(chars[i + 3] - 48)
                    guard v <= 255 else { throw NameError(position: i, reason: .badEscape) }
                    current.append(UInt8(v))
                    i += 4
                } else {
                    current.append(d)
                    i += 2
                }
                continue
            }
            if c == UInt8(ascii: ".") {
                if current.isEmpty { throw NameError(position: i, reason: .emptyLabel) }
                if current.count > TrieLimits.maxLabelLength {
                    throw NameError(position: labelStart, reason: .labelTooLong(length: current.count))
                }
                labels.append(current)
                current = []
                labelStart = i + 1
                i += 1
                continue
            }
            current.append(c)
            i += 1
        }
        if !current.isEmpty {
            if current.count > TrieLimits.maxLabelLength {
                throw NameError(position: labelStart, reason: .labelTooLong(length: current.count))
            }
            labels.append(current)
        }
        try self.init(labels: labels)
    }

    /// Uncompressed wire form: length-prefixed labels ending with the zero root byte, nothing after.
    public init(wire: [UInt8]) throws(NameError) {
        var labels: [[UInt8]] = []
        var p = 0
        while true {
            guard p < wire.count else { throw NameError(position: p, reason: .truncated) }
            let n = Int(wire[p])
            if n == 0 { break }
            if n > TrieLimits.maxLabelLength { throw NameError(position: p, reason: .labelTooLong(length: n)) }
            guard p + 1 + n < wire.count else { throw NameError(position: p, reason: .truncated) }
            labels.append(Array(wire[(p + 1)...(p + n)]))
            p += 1 + n
        }
        if p != wire.count - 1 { throw NameError(position: p + 1, reason: .trailingBytes) }
        try self.init(labels: labels)
    }

    /// Lowercase wire form, root byte included.
    public var wire: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(wireLength)
        for label in labels {
            out.append(UInt8(label.count))
            out.append(contentsOf: label)
        }
        out.append(0)
        return out
    }

    public var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.count } }

    /// Presentation form without a trailing dot (`.` for the root); bytes outside `!`..`~` and
    /// `.`/`\` inside labels are escaped.
    public var description: String {
        if labels.isEmpty { return "." }
        return labels.map { label in
            var s = ""
            for b in label {
                if b == UInt8(ascii: ".") || b == UInt8(ascii: "\\") {
                    s += "\\" + String(UnicodeScalar(b))
                } else if b < 0x21 || b > 0x7E {
                    let d = String(b)
                    s += "\\" + String(repeating: "0", count: 3 - d.count) + d
                } else {
                    s.append(Character(UnicodeScalar(b)))
                }
            }
            return s
        }.joined(separator: ".")
    }

    /// True when every label consists of `[-a-z0-9_]`: only such names can match a pattern.
    public var hasOnlyPatternCharacters: Bool {
        labels.allSatisfy { $0.allSatisfy(Self.isLabelByte) }
    }

    /// `[-a-z0-9_]` (lowercase): the bytes a pattern's `*` and literal labels can stand for.
    @inlinable public static func isLabelByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
}

/// Why a name was refused, and where (label index, character or byte offset, by initializer).
public struct NameError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        case empty
        case emptyLabel
        case labelTooLong(length: Int)
        case tooLong(wireLength: Int)
        case tooManyLabels(count: Int)
        case badEscape
        case truncated
        case trailingBytes
    }

    public let position: Int
    public let reason: Reason

    public var description: String {
        let why: String
        switch reason {
        case .empty: why = "empty name"
        case .emptyLabel: why = "empty label"
        case .labelTooLong(let n): why = "label is \(n) bytes long (at most 63)"
        case .tooLong(let n): why = "name is \(n) bytes long in wire form (at most 255)"
        case .tooManyLabels(let n): why = "\(n) labels (at most 127)"
        case .badEscape: why = "bad escape (\\X or \\DDD with DDD <= 255)"
        case .truncated: why = "wire form ends inside the name"
        case .trailingBytes: why = "bytes after the root label"
        }
        return "position \(position): \(why)"
    }
}
