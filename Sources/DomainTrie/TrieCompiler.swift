import CFQDNShared

/// A pattern with the tag reported when it matches (a rule id, a pattern index, a port-profile
/// id: whatever the caller needs to act on a match).
public struct TrieRule: Hashable, Sendable {
    public var pattern: FQDNPattern
    public var tag: UInt32

    public init(_ pattern: FQDNPattern, tag: UInt32) {
        self.pattern = pattern
        self.tag = tag
    }
}

/// Why a set of patterns cannot be compiled for the kernel walk.
public enum TrieCompileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// More in-label glob children under one node than `FQDN_TRIE_MAX_GLOBS`.
    case tooManyGlobs(under: String, count: Int, limit: Int)
    /// More distinct tags end at one pattern than `FQDN_TRIE_MAX_SET_TAGS`.
    case tooManyTags(pattern: String, count: Int, limit: Int)
    /// Some name could make more than `FQDN_TRIE_MAX_ACTIVE` nodes active at once.
    case tooManyActive(depth: Int, worst: Int, limit: Int)
    /// Some name could hit more than `FQDN_TRIE_MAX_HITS` sets.
    case tooManyHits(worst: Int, limit: Int)
    /// Node or set ids exhausted (more than 2^32 - 1).
    case idsExhausted

    public var description: String {
        switch self {
        case .tooManyGlobs(let d, let n, let l): "\(n) in-label wildcard labels under '\(d)' (at most \(l) per domain)"
        case .tooManyTags(let p, let n, let l): "pattern '\(p)' carries \(n) distinct tags (at most \(l))"
        case .tooManyActive(let d, let n, let l):
            "a name could match \(n) wildcard paths at once at label \(d) from the right (the kernel walk follows at most \(l))"
        case .tooManyHits(let n, let l): "a name could match \(n) distinct patterns (the kernel walk reports at most \(l))"
        case .idsExhausted: "node or set ids exhausted"
        }
    }
}

/// One policy version's patterns compiled to the exact entries of the kernel's trie maps.
///
/// Node ids, set ids and glob slots are reused from a previous compilation when given (same
/// path, same tags, same glob text), so that ``TrieMapOperation/operations(from:to:)`` between
/// two versions is as small as the change between them.
public struct CompiledTrie: Hashable, Sendable {
    /// The policy version id every key carries.
    public let policy: UInt32
    public internal(set) var nodes: [TrieNodeKey: TrieNode]
    public internal(set) var globs: [TrieGlobKey: TrieGlob]
    /// Set id -> tags, ascending.
    public internal(set) var sets: [UInt32: TrieSet]

    /// Worst case, over all names, of nodes active at one depth (bounded by `FQDN_TRIE_MAX_ACTIVE`).
    public let worstActive: Int
    /// Worst case, over all names, of sets hit (bounded by `FQDN_TRIE_MAX_HITS`).
    public let worstHits: Int

    /// Map entries in total.
    public var entryCount: Int { nodes.count + globs.count + sets.count }

    /// Compiles `rules` under policy version id `policy`.
    ///
    /// - Parameters:
    ///   - rules: the patterns and the tag each reports when it matches.
    ///   - policy: the policy version id every key carries.
    ///   - previous: a compilation whose node ids, set ids and glob slots are reused for the
    ///     same paths, tags and glob texts. For an in-place update or a double-buffered switch,
    ///     pass what the target policy id currently holds.
    /// - Throws: ``TrieCompileError`` when the kernel walk's bounds would be exceeded.
    public init(_ rules: [TrieRule], policy: UInt32, reusing previous: CompiledTrie? = nil) throws(TrieCompileError) {
        var builder = TrieBuilder(rules: rules, previous: previous)
        self = try builder.compile(policy: policy)
    }

    /// Compiles `patterns` tagging each with its index.
    public init(patterns: [FQDNPattern], policy: UInt32, reusing previous: CompiledTrie? = nil) throws(TrieCompileError) {
        try self.init(patterns.enumerated().map { TrieRule($0.element, tag: UInt32($0.offset)) }, policy: policy, reusing: previous)
    }

    init(policy: UInt32, nodes: [TrieNodeKey: TrieNode], globs: [TrieGlobKey: TrieGlob], sets: [UInt32: TrieSet], worstActive: Int, worstHits: Int) {
        self.policy = policy
        self.nodes = nodes
        self.globs = globs
        self.sets = sets
        self.worstActive = worstActive
        self.worstHits = worstHits
    }

    /// The tags of set `id` (empty if unknown).
    public func tags(ofSet id: UInt32) -> [UInt32] { sets[id]?.tags ?? [] }
}

private struct TrieBuilder {
    struct Node {
        var label: [UInt8]
        var parent: Int
        var depth: Int
        var exact: [[UInt8]: Int] = [:]
        var star: Int?
        var globs: [[UInt8]: Int] = [:]
        var exactTags: [UInt32] = []
        var multiTags: [UInt32] = []
    }

    let rules: [TrieRule]
    let previous: CompiledTrie?
    var nodes: [Node] = [Node(label: [], parent: -1, depth: 0)]

    init(rules: [TrieRule], previous: CompiledTrie?) {
        self.rules = rules
        self.previous = previous
    }

    mutating func child(of parent: Int, _ label: FQDNPattern.Label) -> Int {
        let depth = nodes[parent].depth + 1
        switch label {
        case .exact(let b):
            if let c = nodes[parent].exact[b] { return c }
            nodes.append(Node(label: b, parent: parent, depth: depth))
            nodes[parent].exact[b] = nodes.count - 1
        case .any:
            if let c = nodes[parent].star { return c }
            nodes.append(Node(label: label.text, parent: parent, depth: depth))
            nodes[parent].star = nodes.count - 1
        case .glob(let b):
            if let c = nodes[parent].globs[b] { return c }
            nodes.append(Node(label: b, parent: parent, depth: depth))
            nodes[parent].globs[b] = nodes.count - 1
        }
        return nodes.count - 1
    }

    /// Presentation form of node i's path ("." for the root).
    func domain(_ i: Int) -> String {
        var parts: [String] = []
        var n = i
        while n > 0 {
            parts.append(String(decoding: nodes[n].label, as: UTF8.self))
            n = nodes[n].parent
        }
        return parts.isEmpty ? "." : parts.joined(separator: ".")
    }

    mutating func compile(policy: UInt32) throws(TrieCompileError) -> CompiledTrie {
        for rule in rules {
            let p = rule.pattern
            if p.shape == .everything {
                nodes[0].exactTags.append(rule.tag)
                nodes[0].multiTags.append(rule.tag)
                continue
            }
            var cur = 0
            for label in p.labels.reversed() { cur = child(of: cur, label) }
            if p.shape == .subdomains { nodes[cur].multiTags.append(rule.tag) } else { nodes[cur].exactTags.append(rule.tag) }
        }

        for i in nodes.indices where nodes[i].globs.count > TrieLimits.maxGlobs {
            throw .tooManyGlobs(under: domain(i), count: nodes[i].globs.count, limit: TrieLimits.maxGlobs)
        }

        // Node ids: the previous id of the same path, else the smallest id the previous
        // version did not use (so no key or id ever changes meaning in place).
        var oldIDs = [UInt32?](repeating: nil, count: nodes.count)
        var reserved = Set<UInt32>()
        if let previous {
            oldIDs[0] = UInt32(FQDN_TRIE_ROOT_ID)
            for n in previous.nodes.values { reserved.insert(n.id) }
            for i in 1..<nodes.count {
                guard let op = oldIDs[nodes[i].parent] else { continue }
                oldIDs[i] = previous.nodes[TrieNodeKey(policy: previous.policy, parent: op, label: nodes[i].label)]?.id
            }
        }
        reserved.insert(UInt32(FQDN_TRIE_ROOT_ID))
        var ids = [UInt32](repeating: 0, count: nodes.count)
        var nextID: UInt32 = 1
        for i in nodes.indices.dropFirst() {
            if let old = oldIDs[i] {
                ids[i] = old
                continue
            }
            while reserved.contains(nextID) {
                if nextID == UInt32.max { throw .idsExhausted }
                nextID += 1
            }
            ids[i] = nextID
            reserved.insert(nextID)
        }

        // Sets: one per distinct tag list; the previous id of the same tags, else a fresh one.
        var oldSetIDs: [[UInt32]: UInt32] = [:]
        var reservedSets = Set<UInt32>([UInt32(FQDN_TRIE_NO_SET)])
        if let previous {
            for (id, s) in previous.sets {
                oldSetIDs[s.tags] = id
                reservedSets.insert(id)
            }
        }
        var sets: [UInt32: TrieSet] = [:]
        var setIDs: [[UInt32]: UInt32] = [:]
        var nextSet: UInt32 = 1
        func setID(_ raw: [UInt32], at i: Int, multi: Bool) throws(TrieCompileError) -> UInt32 {
            if raw.isEmpty { return UInt32(FQDN_TRIE_NO_SET) }
            let tags = Array(Set(raw)).sorted()
            if tags.count > TrieLimits.maxSetTags {
                let d = domain(i)
                let text = i == 0 ? (multi ? "*" : ".") : (multi ? "**." + d : d)
                throw .tooManyTags(pattern: text, count: tags.count, limit: TrieLimits.maxSetTags)
            }
            if let id = setIDs[tags] { return id }
            let id: UInt32
            if let old = oldSetIDs[tags] {
                id = old
            } else {
                while reservedSets.contains(nextSet) {
                    if nextSet == UInt32.max { throw .idsExhausted }
                    nextSet += 1
                }
                id = nextSet
                reservedSets.insert(id)
            }
            setIDs[tags] = id
            sets[id] = TrieSet(tags: tags)
            return id
        }

        // Glob slots: the previous slot of the same text under the same node, else the
        // smallest free one.
        var globs: [TrieGlobKey: TrieGlob] = [:]
        var slotsUsed = [UInt8](repeating: 0, count: nodes.count)
        for i in nodes.indices where !nodes[i].globs.isEmpty {
            var oldSlots: [[UInt8]: UInt32] = [:]
            if let previous, let op = oldIDs[i], let oldNode = lookupNode(previous, i, oldIDs) {
                for s in 0..<UInt32(oldNode.globSlots) {
                    if let g = previous.globs[TrieGlobKey(policy: previous.policy, parent: op, slot: s)] { oldSlots[g.label] = s }
                }
            }
            var taken = Set<UInt32>()
            var assigned: [[UInt8]: UInt32] = [:]
            for text in nodes[i].globs.keys {
                if let s = oldSlots[text] {
                    assigned[text] = s
                    taken.insert(s)
                }
            }
            var free: UInt32 = 0
            for text in nodes[i].globs.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) where assigned[text] == nil {
                while taken.contains(free) { free += 1 }
                assigned[text] = free
                taken.insert(free)
            }
            for (text, slot) in assigned {
                globs[TrieGlobKey(policy: policy, parent: ids[i], slot: slot)] = TrieGlob(label: text)
            }
            slotsUsed[i] = UInt8((taken.max() ?? 0) + 1)
        }

        var out: [TrieNodeKey: TrieNode] = [:]
        out.reserveCapacity(nodes.count)
        for i in nodes.indices {
            let n = nodes[i]
            var flags: TrieNodeFlags = []
            let exact = try setID(n.exactTags, at: i, multi: false)
            let multi = try setID(n.multiTags, at: i, multi: true)
            if exact != 0 { flags.insert(.exact) }
            if multi != 0 { flags.insert(.multi) }
            if n.star != nil { flags.insert(.star) }
            if slotsUsed[i] > 0 { flags.insert(.globs) }
            let key = i == 0 ? TrieNodeKey.root(policy) : TrieNodeKey(policy: policy, parent: ids[n.parent], label: n.label)
            out[key] = TrieNode(id: ids[i], exactSet: exact, multiSet: multi, flags: flags, globSlots: slotsUsed[i], depth: UInt8(n.depth))
        }

        let (active, activeDepth) = worstActive()
        if active > TrieLimits.maxActive { throw .tooManyActive(depth: activeDepth, worst: active, limit: TrieLimits.maxActive) }
        let hits = worstHits()
        if hits > TrieLimits.maxHits { throw .tooManyHits(worst: hits, limit: TrieLimits.maxHits) }
        return CompiledTrie(policy: policy, nodes: out, globs: globs, sets: sets, worstActive: active, worstHits: hits)
    }

    func lookupNode(_ previous: CompiledTrie, _ i: Int, _ oldIDs: [UInt32?]) -> TrieNode? {
        if i == 0 { return previous.nodes[.root(previous.policy)] }
        guard let op = oldIDs[nodes[i].parent] else { return nil }
        return previous.nodes[TrieNodeKey(policy: previous.policy, parent: op, label: nodes[i].label)]
    }

    /// Upper bound of nodes active at each depth: at depth k below node n, at most one exact
    /// child's subtree (labels differ) plus the `*` child's plus every glob child's.
    /// Returns the maximum over depths and the depth where it occurs.
    func worstActive() -> (Int, Int) {
        let cap = TrieLimits.maxActive + 1
        var a = [[Int]](repeating: [], count: nodes.count)
        for i in nodes.indices.reversed() {
            let n = nodes[i]
            var below: [Int] = []
            for c in n.exact.values { below = Self.combine(below, a[c], cap, max) }
            if let s = n.star { below = Self.combine(below, a[s], cap, +) }
            for g in n.globs.values { below = Self.combine(below, a[g], cap, +) }
            a[i] = [1] + below
            for c in n.exact.values { a[c] = [] }
            if let s = n.star { a[s] = [] }
            for g in n.globs.values { a[g] = [] }
        }
        var worst = 0
        var depth = 0
        for (k, v) in a[0].enumerated() where v > worst {
            worst = v
            depth = k
        }
        return (worst, depth)
    }

    /// Upper bound of distinct sets one name hits: a name ends at a node (its exact set) or
    /// continues (its `**.` set plus what the children's subtrees give).
    func worstHits() -> Int {
        let cap = TrieLimits.maxHits + 1
        var h = [Int](repeating: 0, count: nodes.count)
        for i in nodes.indices.reversed() {
            let n = nodes[i]
            var cont = n.multiTags.isEmpty ? 0 : 1
            cont += n.exact.values.map { h[$0] }.max() ?? 0
            if let s = n.star { cont += h[s] }
            for g in n.globs.values { cont += h[g] }
            h[i] = min(cap, max(n.exactTags.isEmpty ? 0 : 1, cont))
        }
        return h[0]
    }

    static func combine(_ x: [Int], _ y: [Int], _ cap: Int, _ op: (Int, Int) -> Int) -> [Int] {
        var out = [Int](repeating: 0, count: max(x.count, y.count))
        for k in out.indices { out[k] = min(cap, op(k < x.count ? x[k] : 0, k < y.count ? y[k] : 0)) }
        return out
    }
}
