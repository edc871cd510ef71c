import DomainTrie

/// Random pattern sets and names over a tiny alphabet, so that patterns and names collide often
/// (shared suffixes, labels that globs match and miss, invalid bytes).
public enum RandomCases {
    public static let labels = ["a", "b", "ab", "ba", "aab", "x-y", "_s", "a1", "com", "io"]
    public static let globs = ["a*", "*b", "a*b", "*a*", "x-*", "*-y", "a*a*b", "_*"]
    public static let oddLabels: [[UInt8]] = [[0x61, 0x20, 0x62], [0x61, 0x2E], [0xC3, 0xA9], [0x2A], [0x00, 0x61], [0x41, 0x42]]

    public static func label(_ r: inout SeededRandom) -> String {
        labels.randomElement(using: &r)!
    }

    public static func patternText(_ r: inout SeededRandom) -> String {
        if Int.random(in: 0..<60, using: &r) == 0 { return "*" }
        let depth = Int.random(in: 1...4, using: &r)
        var parts: [String] = []
        for _ in 0..<depth {
            switch Int.random(in: 0..<10, using: &r) {
            case 0: parts.append("*")
            case 1, 2: parts.append(globs.randomElement(using: &r)!)
            default: parts.append(label(&r))
            }
        }
        let text = parts.joined(separator: ".")
        return Int.random(in: 0..<6, using: &r) == 0 ? "**." + text : text
    }

    public static func patterns(_ r: inout SeededRandom, count: Int) -> [FQDNPattern] {
        (0..<count).map { _ in try! FQDNPattern(matchPattern: patternText(&r)) }
    }

    /// A name: mostly built from the alphabet, sometimes from a pattern (so it matches), with
    /// glob-friendly labels and occasionally an invalid byte.
    public static func name(_ r: inout SeededRandom, near patterns: [FQDNPattern]) -> DomainName {
        var out: [[UInt8]] = []
        if let p = patterns.randomElement(using: &r), Bool.random(using: &r) {
            for l in p.labels {
                switch l {
                case .exact(let b): out.append(b)
                case .any: out.append(Array(label(&r).utf8))
                case .glob(let g):
                    var b: [UInt8] = []
                    for c in g {
                        if c == UInt8(ascii: "*") {
                            for _ in 0..<Int.random(in: 0...2, using: &r) { b.append(Array("ab-_".utf8).randomElement(using: &r)!) }
                        } else {
                            b.append(c)
                        }
                    }
                    out.append(b.isEmpty ? [UInt8(ascii: "z")] : b)
                }
            }
            if p.shape == .subdomains || Int.random(in: 0..<5, using: &r) == 0 {
                for _ in 0..<Int.random(in: 0...2, using: &r) { out.insert(Array(label(&r).utf8), at: 0) }
            }
            if Int.random(in: 0..<6, using: &r) == 0, !out.isEmpty { out.removeFirst() }
        } else {
            for _ in 0..<Int.random(in: 0...5, using: &r) { out.append(Array(label(&r).utf8)) }
        }
        if Int.random(in: 0..<12, using: &r) == 0 {
            let odd = oddLabels.randomElement(using: &r)!
            out.insert(odd, at: Int.random(in: 0...out.count, using: &r))
        }
        return try! DomainName(labels: out)
    }
}
