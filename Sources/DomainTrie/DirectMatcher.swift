/// The straightforward matcher: each pattern checked against a name on its own, label by label,
/// with no trie and no regular expressions.
///
/// It states the semantics as plainly as possible and is the second opinion that the compiled
/// matcher (``CompiledTrie/walk(_:)``) and the kernel walk are cross-checked against.
extension FQDNPattern {
    /// Whether this pattern matches `name`.
    public func matches(_ name: DomainName) -> Bool {
        // Cilium's patterns are regexes over [-a-zA-Z0-9_] and dots: a label with any other
        // byte is matched by nothing, not even by `*`.
        guard name.hasOnlyPatternCharacters else { return false }
        switch shape {
        case .everything:
            return true
        case .labels:
            guard name.labels.count == labels.count else { return false }
        case .subdomains:
            guard name.labels.count > labels.count else { return false }
        }
        let tail = name.labels.suffix(labels.count)
        for (p, l) in zip(labels, tail) {
            switch p {
            case .exact(let b): if b != l { return false }
            case .any: break  // any non-empty label of valid bytes
            case .glob(let g): if !Self.globMatchesByTable(g, l) { return false }
            }
        }
        return true
    }

    /// Table-driven glob match (`*` = zero or more bytes of the label). Written differently from
    /// the compiled walk's backtracking matcher on purpose, so the two check each other.
    static func globMatchesByTable(_ glob: [UInt8], _ label: [UInt8]) -> Bool {
        let star = UInt8(ascii: "*")
        // row[j]: glob[0..<i] matches label[0..<j]
        var row = [Bool](repeating: false, count: label.count + 1)
        row[0] = true
        for i in 1...glob.count {
            var next = [Bool](repeating: false, count: label.count + 1)
            if glob[i - 1] == star {
                next[0] = row[0]
                if label.count > 0 {
                    for j in 1...label.count { next[j] = row[j] || next[j - 1] }
                }
            } else if label.count > 0 {
                for j in 1...label.count { next[j] = row[j - 1] && glob[i - 1] == label[j - 1] }
            }
            row = next
        }
        return row[label.count]
    }
}

/// Indices of the patterns in `patterns` that match `name`, ascending (the direct matcher).
public func directMatches(_ patterns: [FQDNPattern], _ name: DomainName) -> [Int] {
    patterns.indices.filter { patterns[$0].matches(name) }
}
