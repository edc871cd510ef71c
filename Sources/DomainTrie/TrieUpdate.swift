import CFQDNShared

/// The three trie maps.
public enum TrieMap: String, Hashable, Sendable, CaseIterable, Codable {
    /// `struct fqdn_trie_key` -> `struct fqdn_trie_node`
    case nodes
    /// `struct fqdn_trie_glob_key` -> `struct fqdn_trie_glob`
    case globs
    /// `struct fqdn_trie_set_key` -> `struct fqdn_trie_set`
    case sets
}

/// One map operation, with the exact key and value bytes.
public struct TrieMapOperation: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// The key must not exist yet (`BPF_NOEXIST`).
        case insert
        /// The key exists; replace its value (`BPF_EXIST`).
        case update
        /// The key exists; remove it.
        case delete
    }

    public let kind: Kind
    public let map: TrieMap
    public let key: [UInt8]
    /// Nil for `delete`.
    public let value: [UInt8]?

    public init(kind: Kind, map: TrieMap, key: [UInt8], value: [UInt8]?) {
        self.kind = kind
        self.map = map
        self.key = key
        self.value = value
    }

    public var description: String { "\(kind.rawValue) \(map.rawValue) key \(key.count)B" }

    /// The smallest list of operations that turns the maps holding `old` into maps holding
    /// `new` (nil = nothing). Only entries that differ are touched.
    ///
    /// The order keeps a live trie consistent while the list is applied one operation at a
    /// time: new sets, then new nodes deepest first (a subtree is complete before its parent
    /// can lead to it), new or changed glob slots, changed nodes, then removals: glob slots,
    /// nodes shallowest first, sets. For a switch with no intermediate state at all, use
    /// ``TrieTransition``.
    public static func operations(from old: CompiledTrie?, to new: CompiledTrie?) -> [TrieMapOperation] {
        let oldNodes = old?.nodes ?? [:], newNodes = new?.nodes ?? [:]
        let oldGlobs = old?.globs ?? [:], newGlobs = new?.globs ?? [:]
        let oldSets = old.map { o in Dictionary(uniqueKeysWithValues: o.sets.map { (TrieSetKey(policy: o.policy, set: $0.key), $0.value) }) } ?? [:]
        let newSets = new.map { n in Dictionary(uniqueKeysWithValues: n.sets.map { (TrieSetKey(policy: n.policy, set: $0.key), $0.value) }) } ?? [:]

        var ops: [TrieMapOperation] = []
        func put<K, V>(_ kind: Kind, _ map: TrieMap, _ k: K, _ v: V?) {
            ops.append(TrieMapOperation(kind: kind, map: map, key: TrieBytes.of(k), value: v.map { TrieBytes.of($0) }))
        }
        let keyOrder: (TrieNodeKey, TrieNodeKey) -> Bool = { a, b in
            (a.policy, a.parent) != (b.policy, b.parent) ? (a.policy, a.parent) < (b.policy, b.parent) : a.label.lexicographicallyPrecedes(b.label)
        }

        for (k, v) in newSets.sorted(by: { ($0.key.policy, $0.key.set) < ($1.key.policy, $1.key.set) }) {
            if let o = oldSets[k] {
                if o != v { put(.update, .sets, k.c, v.c) }
            } else {
                put(.insert, .sets, k.c, v.c)
            }
        }
        let inserted = newNodes.filter { oldNodes[$0.key] == nil }
            .sorted { $0.value.depth != $1.value.depth ? $0.value.depth > $1.value.depth : keyOrder($0.key, $1.key) }
        for (k, v) in inserted { put(.insert, .nodes, k.c, v.c) }
        for (k, v) in newGlobs.sorted(by: { ($0.key.policy, $0.key.parent, $0.key.slot) < ($1.key.policy, $1.key.parent, $1.key.slot) }) {
            if let o = oldGlobs[k] {
                if o != v { put(.update, .globs, k.c, v.c) }
            } else {
                put(.insert, .globs, k.c, v.c)
            }
        }
        let changed = newNodes.filter { oldNodes[$0.key] != nil && oldNodes[$0.key] != $0.value }
            .sorted { $0.value.depth != $1.value.depth ? $0.value.depth > $1.value.depth : keyOrder($0.key, $1.key) }
        for (k, v) in changed { put(.update, .nodes, k.c, v.c) }
        for k in oldGlobs.keys.filter({ newGlobs[$0] == nil }).sorted(by: { ($0.policy, $0.parent, $0.slot) < ($1.policy, $1.parent, $1.slot) }) {
            put(.delete, .globs, k.c, Optional<fqdn_trie_glob>.none)
        }
        let removed = oldNodes.filter { newNodes[$0.key] == nil }
            .sorted { $0.value.depth != $1.value.depth ? $0.value.depth < $1.value.depth : keyOrder($0.key, $1.key) }
        for (k, _) in removed { put(.delete, .nodes, k.c, Optional<fqdn_trie_node>.none) }
        for k in oldSets.keys.filter({ newSets[$0] == nil }).sorted(by: { ($0.policy, $0.set) < ($1.policy, $1.set) }) {
            put(.delete, .sets, k.c, Optional<fqdn_trie_set>.none)
        }
        return ops
    }
}

extension CompiledTrie {
    /// Every map entry as key bytes -> value bytes, per map: what the kernel maps hold for
    /// this policy version after loading it.
    public var mapEntries: [TrieMap: [[UInt8]: [UInt8]]] {
        var out: [TrieMap: [[UInt8]: [UInt8]]] = [.nodes: [:], .globs: [:], .sets: [:]]
        for (k, v) in nodes { out[.nodes]![TrieBytes.of(k.c)] = TrieBytes.of(v.c) }
        for (k, v) in globs { out[.globs]![TrieBytes.of(k.c)] = TrieBytes.of(v.c) }
        for (id, s) in sets { out[.sets]![TrieBytes.of(TrieSetKey(policy: policy, set: id).c)] = TrieBytes.of(s.c) }
        return out
    }
}

/// How an endpoint moves from one policy version to the next with no moment in which the
/// kernel sees a mix of the two.
///
/// Every key carries the policy version id, so the next version is written under an id no
/// endpoint uses (`prepare`); then one map update points the endpoint from `from` to `to`
/// (the flip, owned by whoever keeps the endpoint -> policy id map); then `cleanup` runs.
/// A walk that started before the flip sees only the old version, one after sees only the new.
public struct TrieTransition: Hashable, Sendable {
    public var prepare: [TrieMapOperation]
    /// The policy version id the endpoint uses before the flip (nil: none).
    public var from: UInt32?
    /// The policy version id after the flip.
    public var to: UInt32
    public var cleanup: [TrieMapOperation]

    /// Why a transition cannot be planned.
    public enum PlanError: Error, Hashable, Sendable {
        /// The next version must live under a different policy id than the active one.
        case sameID(UInt32)
        /// The standby version must live under the next version's id.
        case standbyID(standby: UInt32, next: UInt32)
    }

    /// Single buffer: write all of `next` under its fresh id, flip, delete all of `active`.
    public static func replace(_ active: CompiledTrie?, with next: CompiledTrie) throws(PlanError) -> TrieTransition {
        if let active, active.policy == next.policy { throw .sameID(next.policy) }
        return TrieTransition(prepare: TrieMapOperation.operations(from: nil, to: next), from: active?.policy,
                              to: next.policy, cleanup: TrieMapOperation.operations(from: active, to: nil))
    }

    /// Double buffer: two policy ids per policy alternate. `standby` is what the inactive id
    /// still holds (an older version, or nil), and `next` was compiled under that id reusing
    /// it (`CompiledTrie(rules, policy: standby.policy, reusing: standby)`), so `prepare` is
    /// only the difference. After the flip `active` is kept as the next standby: no cleanup.
    public static func swap(active: CompiledTrie?, standby: CompiledTrie?, next: CompiledTrie) throws(PlanError) -> TrieTransition {
        if let active, active.policy == next.policy { throw .sameID(next.policy) }
        if let standby, standby.policy != next.policy { throw .standbyID(standby: standby.policy, next: next.policy) }
        return TrieTransition(prepare: TrieMapOperation.operations(from: standby, to: next), from: active?.policy,
                              to: next.policy, cleanup: [])
    }
}

/// A model of the three kernel maps: applies operations with the kernel's flag rules and
/// answers lookups from the bytes, so tests can check operation lists and walk the result.
public struct TrieMapModel: Hashable, Sendable, TrieLookup {
    public var entries: [TrieMap: [[UInt8]: [UInt8]]] = [.nodes: [:], .globs: [:], .sets: [:]]

    public init() {}

    public struct ApplyError: Error, Hashable, Sendable {
        public let operation: TrieMapOperation
        public let reason: String
    }

    public mutating func apply(_ op: TrieMapOperation) throws(ApplyError) {
        let exists = entries[op.map]![op.key] != nil
        switch op.kind {
        case .insert:
            if exists { throw ApplyError(operation: op, reason: "insert of an existing key (EEXIST)") }
            entries[op.map]![op.key] = op.value
        case .update:
            if !exists { throw ApplyError(operation: op, reason: "update of a missing key (ENOENT)") }
            entries[op.map]![op.key] = op.value
        case .delete:
            if !exists { throw ApplyError(operation: op, reason: "delete of a missing key (ENOENT)") }
            entries[op.map]![op.key] = nil
        }
    }

    public mutating func apply(_ ops: [TrieMapOperation]) throws(ApplyError) {
        for op in ops { try apply(op) }
    }

    public func node(_ key: TrieNodeKey) -> TrieNode? {
        entries[.nodes]![TrieBytes.of(key.c)].flatMap { TrieBytes.load($0, as: fqdn_trie_node.self, zero: fqdn_trie_node()) }.map(TrieNode.init)
    }

    public func glob(_ key: TrieGlobKey) -> TrieGlob? {
        entries[.globs]![TrieBytes.of(key.c)].flatMap { TrieBytes.load($0, as: fqdn_trie_glob.self, zero: fqdn_trie_glob()) }.map(TrieGlob.init)
    }

    public func set(_ key: TrieSetKey) -> TrieSet? {
        entries[.sets]![TrieBytes.of(key.c)].flatMap { TrieBytes.load($0, as: fqdn_trie_set.self, zero: fqdn_trie_set()) }.map(TrieSet.init)
    }

    /// The model holding exactly these compiled versions.
    public init(_ tries: [CompiledTrie]) {
        for t in tries {
            for (m, kv) in t.mapEntries { entries[m]!.merge(kv) { _, b in b } }
        }
    }
}
