/// A domain name, kept in uncompressed wire form: length-prefixed labels ending with the zero
/// root byte.
///
/// Equality and hashing ignore ASCII case (RFC 4343); the original case is kept for
/// presentation. ``description`` is the presentation form the facts use: no trailing dot, the
/// root is `"."`, and bytes are escaped the way dnspython does (`\.`, `\\`, `\"`, `\(`, `\)`,
/// `\;`, `\@`, `\$`, and `\DDD` for bytes outside `!`...`~`).
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    /// The name in wire form, original case, root byte included.
    public let wire: [UInt8]

    /// The root name `"."`.
    public static let root = DNSName(uncheckedWire: [0])

    /// A name from wire bytes (uncompressed, lowercase or mixed case, ending with the root byte).
    ///
    /// The bytes are trusted, not validated (the kernel facts and the decoder hand over names they
    /// already checked); a missing root byte is added. Use ``init(validatingWire:)`` for
    /// untrusted bytes.
    public init(wire: [UInt8]) {
        if wire.last == 0 {
            self.wire = wire
        } else {
            self.wire = wire + [0]
        }
    }

    @usableFromInline
    init(uncheckedWire: [UInt8]) {
        self.wire = uncheckedWire
    }

    /// A name from wire bytes, or `nil` unless they are exactly one well-formed, uncompressed
    /// name: labels of 1...63 bytes, the root byte last, at most 255 bytes.
    public init?(validatingWire wire: [UInt8]) {
        guard !wire.isEmpty, wire.count <= 255 else { return nil }
        var p = 0
        while true {
            guard p < wire.count else { return nil }
            let length = Int(wire[p])
            if length == 0 { break }
            guard length <= 63 else { return nil }
            p += 1 + length
        }
        guard p == wire.count - 1 else { return nil }
        self.wire = wire
    }

    /// A name from labels (without the root label). `nil` if a label is empty or longer than 63
    /// bytes, or the name is longer than 255 bytes in wire form.
    public init?(labels: [[UInt8]]) {
        var wire: [UInt8] = []
        for label in labels {
            guard !label.isEmpty, label.count <= 63 else { return nil }
            wire.append(UInt8(label.count))
            wire += label
        }
        wire.append(0)
        guard wire.count <= 255 else { return nil }
        self.wire = wire
    }

    /// Parses the presentation form: labels separated by dots, an optional trailing dot, `"."`
    /// for the root, `\X` for a literal byte and `\DDD` for a decimal byte value.
    /// `nil` for malformed escapes, empty labels, or names that are too long.
    public init?(_ text: String) {
        if text == "." {
            self = .root
            return
        }
        var labels: [[UInt8]] = []
        var label: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        guard !bytes.isEmpty else { return nil }
        var endedWithDot = false
        while let c = bytes.popFirst() {
            endedWithDot = false
            switch c {
            case UInt8(ascii: "."):
                guard !label.isEmpty else { return nil }
                labels.append(label)
                label = []
                endedWithDot = true
            case UInt8(ascii: "\\"):
                guard let next = bytes.popFirst() else { return nil }
                if next >= UInt8(ascii: "0"), next <= UInt8(ascii: "9") {
                    guard bytes.count >= 2 else { return nil }
                    let d2 = bytes.removeFirst(), d3 = bytes.removeFirst()
                    let digits = [next, d2, d3]
                    guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                        return nil
                    }
                    let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                    guard value <= 255 else { return nil }
                    label.append(UInt8(value))
                } else {
                    label.append(next)
                }
            default:
                label.append(c)
            }
        }
        if !endedWithDot {
            labels.append(label)
        }
        self.init(labels: labels)
    }

    /// The name in wire form with ASCII `A`-`Z` lowercased: the form the facts and the kernel use.
    @inlinable
    public var wireLowercased: [UInt8] {
        wire.map(DNSName.lower)
    }

    /// The same name with ASCII letters lowercased.
    public var lowercased: DNSName {
        DNSName(uncheckedWire: wireLowercased)
    }

    /// Whether this is the root name.
    @inlinable
    public var isRoot: Bool { wire.count == 1 }

    /// The labels, root excluded.
    public var labels: [[UInt8]] {
        var result: [[UInt8]] = []
        var p = 0
        while p < wire.count {
            let length = Int(wire[p])
            if length == 0 { break }
            let end = min(p + 1 + length, wire.count)
            result.append(Array(wire[(p + 1)..<end]))
            p = end
        }
        return result
    }

    /// Number of labels, root excluded.
    public var labelCount: Int { labels.count }

    /// Presentation form: no trailing dot, root is `"."`, dnspython's escapes.
    public var description: String {
        let labels = self.labels
        if labels.isEmpty { return "." }
        var out: [UInt8] = []
        out.reserveCapacity(wire.count + 8)
        for (i, label) in labels.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ".")) }
            for c in label {
                DNSName.escape(c, into: &out)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// dnspython's `_escapify` for one byte of a label.
    static func escape(_ c: UInt8, into out: inout [UInt8]) {
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "."),
             UInt8(ascii: ";"), UInt8(ascii: "\\"), UInt8(ascii: "@"), UInt8(ascii: "$"):
            out.append(UInt8(ascii: "\\"))
            out.append(c)
        case 0x21..<0x7F:
            out.append(c)
        default:
            decimalEscape(c, into: &out)
        }
    }

    /// `\DDD`: a byte as three decimal digits (RFC 1035 presentation form).
    static func decimalEscape(_ c: UInt8, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "0") + c / 100)
        out.append(UInt8(ascii: "0") + (c / 10) % 10)
        out.append(UInt8(ascii: "0") + c % 10)
    }

    @inlinable
    static func lower(_ c: UInt8) -> UInt8 {
        c &- 0x41 < 26 ? c | 0x20 : c
    }

    /// Equal when the wire forms match with ASCII letters folded (RFC 4343).
    @inlinable
    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        guard lhs.wire.count == rhs.wire.count else { return false }
        for i in lhs.wire.indices where lower(lhs.wire[i]) != lower(rhs.wire[i]) {
            return false
        }
        return true
    }

    /// Hashes the lowercased wire form, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(wire.count)
        for c in wire {
            hasher.combine(DNSName.lower(c))
        }
    }
}
