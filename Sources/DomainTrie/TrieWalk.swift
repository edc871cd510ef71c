import CFQDNShared

/// Read access to trie map contents: a ``CompiledTrie``, a model of the kernel maps
/// (``TrieMapModel``), or the kernel maps themselves.
public protocol TrieLookup {
    func node(_ key: TrieNodeKey) -> TrieNode?
    func glob(_ key: TrieGlobKey) -> TrieGlob?
}

/// Outcome of a walk (`enum fqdn_trie_status`).
public enum TrieWalkStatus: UInt32, Hashable, Sendable, Codable {
    /// Walked; there may be no hits.
    case ok = 0
    /// The wire-form name is malformed.
    case malformedName = 1
    /// More than `FQDN_TRIE_MAX_ACTIVE` nodes at one depth (maps not made by the compiler).
    case tooManyActive = 2
    /// More than `FQDN_TRIE_MAX_HITS` distinct sets.
    case tooManyHits = 3
    /// A node claims more than `FQDN_TRIE_MAX_GLOBS` glob slots.
    case tooManyGlobs = 4
}

/// What a walk found: the distinct set ids hit, in walk order (`struct fqdn_trie_result`).
/// On an error `hits` is empty.
public struct TrieWalkResult: Hashable, Sendable {
    public var status: TrieWalkStatus
    public var hits: [UInt32]

    public init(status: TrieWalkStatus, hits: [UInt32] = []) {
        self.status = status
        self.hits = hits
    }

    public init(_ c: fqdn_trie_result) {
        var c = c
        let n = min(Int(c.hit_count), TrieLimits.maxHits)
        self.status = TrieWalkStatus(rawValue: c.status) ?? .malformedName
        self.hits = withUnsafeBytes(of: &c.hits) { raw in (0..<n).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
    }
}

extension CompiledTrie: TrieLookup {
    public func node(_ key: TrieNodeKey) -> TrieNode? { nodes[key] }
    public func glob(_ key: TrieGlobKey) -> TrieGlob? { globs[key] }

    /// The compiled matcher: walks this trie the way the kernel does.
    public func walk(_ name: DomainName) -> TrieWalkResult {
        TrieWalker.walk(policy: policy, wire: name.wire, in: self)
    }

    /// The tags (ascending, distinct) of every pattern matching `name`, via the compiled walk.
    /// Nil when the walk fails (it cannot for a trie this compiler made).
    public func matchingTags(_ name: DomainName) -> [UInt32]? {
        let r = walk(name)
        guard r.status == .ok else { return nil }
        return Array(Set(r.hits.flatMap { tags(ofSet: $0) })).sorted()
    }
}

/// The kernel's walk, step for step (`BPFPrograms/include/trie.h`): the reference that the BPF
/// program is differentially tested against.
///
/// Labels are visited from the TLD inward. A set of active nodes starts with the root; for
/// each label, every active node contributes its `**.` set (the name still has this label
/// and maybe more), its exact child for the label, its `*` child, and each glob child whose
/// glob matches the label. After the last label, every active node contributes its exact set.
public enum TrieWalker {
    public static func walk(policy: UInt32, wire: [UInt8], in maps: some TrieLookup) -> TrieWalkResult {
        // 1. Split the wire form into labels (offsets of the length bytes).
        let len = wire.count
        guard len >= 1, len <= TrieLimits.maxNameLength else { return TrieWalkResult(status: .malformedName) }
        var offsets: [Int] = []
        var off = 0
        var ended = false
        for _ in 0...TrieLimits.maxLabels {
            let b = Int(wire[off])
            if b == 0 {
                if off != len - 1 { return TrieWalkResult(status: .malformedName) }
                ended = true
                break
            }
            if b > TrieLimits.maxLabelLength || offsets.count == TrieLimits.maxLabels || off + 1 + b >= len {
                return TrieWalkResult(status: .malformedName)
            }
            offsets.append(off)
            off += 1 + b
        }
        if !ended { return TrieWalkResult(status: .malformedName) }

        // 2. A label byte outside [-a-z0-9_] means no pattern can match.
        for o in offsets {
            for i in (o + 1)..<(o + 1 + Int(wire[o])) where !DomainName.isLabelByte(wire[i]) {
                return TrieWalkResult(status: .ok)
            }
        }

        // 3. Walk.
        guard let root = maps.node(.root(policy)) else { return TrieWalkResult(status: .ok) }
        var active = [root]
        var hits: [UInt32] = []
        func hit(_ set: UInt32) -> Bool {
            if hits.contains(set) { return true }
            if hits.count == TrieLimits.maxHits { return false }
            hits.append(set)
            return true
        }
        for o in offsets.reversed() {
            let label = Array(wire[(o + 1)..<(o + 1 + Int(wire[o]))])
            var next: [TrieNode] = []
            func push(_ n: TrieNode) -> Bool {
                if next.count == TrieLimits.maxActive { return false }
                next.append(n)
                return true
            }
            for n in active {
                if Int(n.globSlots) > TrieLimits.maxGlobs { return TrieWalkResult(status: .tooManyGlobs) }
                if n.flags.contains(.multi), !hit(n.multiSet) { return TrieWalkResult(status: .tooManyHits) }
                if let c = maps.node(TrieNodeKey(policy: policy, parent: n.id, label: label)), !push(c) {
                    return TrieWalkResult(status: .tooManyActive)
                }
                if n.flags.contains(.star), let c = maps.node(TrieNodeKey(policy: policy, parent: n.id, label: [UInt8(ascii: "*")])),
                   !push(c) {
                    return TrieWalkResult(status: .tooManyActive)
                }
                if n.flags.contains(.globs) {
                    for slot in 0..<UInt32(n.globSlots) {
                        guard let g = maps.glob(TrieGlobKey(policy: policy, parent: n.id, slot: slot)),
                              globMatches(g.label, label),
                              let c = maps.node(TrieNodeKey(policy: policy, parent: n.id, label: g.label))
                        else { continue }
                        if !push(c) { return TrieWalkResult(status: .tooManyActive) }
                    }
                }
            }
            active = next
            if active.isEmpty { break }
        }
        for n in active where n.flags.contains(.exact) {
            if !hit(n.exactSet) { return TrieWalkResult(status: .tooManyHits) }
        }
        return TrieWalkResult(status: .ok, hits: hits)
    }

    /// The kernel's bounded glob matcher: `*` is zero or more bytes; on a mismatch, retry from
    /// the last `*` one byte further. One action per step, at most `FQDN_TRIE_GLOB_MAX_STEPS`
    /// steps (enough for any 63-byte glob and label); out of steps means no match.
    public static func globMatches(_ glob: [UInt8], _ label: [UInt8]) -> Bool {
        globMatchSteps(glob, label).matched
    }

    /// ``globMatches(_:_:)`` and the number of steps it took.
    public static func globMatchSteps(_ glob: [UInt8], _ label: [UInt8]) -> (matched: Bool, steps: Int) {
        let star = UInt8(ascii: "*")
        let m = glob.count
        let n = label.count
        var p = 0, s = 0, starP = -1, mark = 0
        for step in 0..<TrieLimits.globMaxSteps {
            if s < n {
                if p < m, glob[p] == star {
                    starP = p
                    mark = s
                    p += 1
                } else if p < m, glob[p] == label[s] {
                    p += 1
                    s += 1
                } else if starP >= 0 {
                    p = starP + 1
                    mark += 1
                    s = mark
                } else {
                    return (false, step + 1)
                }
            } else if p < m, glob[p] == star {
                p += 1
            } else {
                return (p == m, step + 1)
            }
        }
        return (false, TrieLimits.globMaxSteps)
    }
}
