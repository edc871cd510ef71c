/// An IPv4 or IPv6 address as raw network-order bytes.
///
/// ``description`` prints addresses the way dnspython does (IPv6: lowercase, leading zeros
/// dropped, the longest run of two or more zero groups as `::`, and the `::a.b.c.d` /
/// `::ffff:a.b.c.d` forms for addresses with 96 or 80 leading zero bits).
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Four bytes.
    case v4([UInt8])
    /// Sixteen bytes.
    case v6([UInt8])

    /// The address bytes.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let b), .v6(let b): b
        }
    }

    public var description: String {
        switch self {
        case .v4(let b): IPAddress.v4Text(b)
        case .v6(let b): IPAddress.v6Text(b)
        }
    }

    static func v4Text(_ b: [UInt8]) -> String {
        b.map { String($0) }.joined(separator: ".")
    }

    static func v6Text(_ b: [UInt8]) -> String {
        guard b.count == 16 else { return b.map { String($0, radix: 16) }.joined(separator: ":") }
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        let chunks = groups.map { String($0, radix: 16) }
        // Longest run of zero groups; the first wins on a tie (dnspython's rule).
        var bestStart = 0, bestLength = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8, groups[j] == 0 { j += 1 }
                if j - i > bestLength {
                    bestStart = i
                    bestLength = j - i
                }
                i = j
            } else {
                i += 1
            }
        }
        guard bestLength > 1 else { return chunks.joined(separator: ":") }
        if bestStart == 0, bestLength == 6 || (bestLength == 5 && groups[5] == 0xFFFF) {
            let prefix = bestLength == 6 ? "::" : "::ffff:"
            return prefix + v4Text(Array(b[12..<16]))
        }
        return chunks[..<bestStart].joined(separator: ":") + "::"
            + chunks[(bestStart + bestLength)...].joined(separator: ":")
    }
}
