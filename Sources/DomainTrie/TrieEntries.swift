import CFQDNShared

/// Key of a trie node: (policy version, parent node, label). The C layout is
/// `struct fqdn_trie_key` (80 bytes): the label's bytes themselves, lowercase and zero-padded.
public struct TrieNodeKey: Hashable, Sendable, CustomStringConvertible {
    public var policy: UInt32
    public var parent: UInt32
    /// Label text (`*` included for wildcard children); empty only for the root.
    public var label: [UInt8]

    public init(policy: UInt32, parent: UInt32, label: [UInt8]) {
        self.policy = policy
        self.parent = parent
        self.label = label
    }

    /// The root node's key in `policy`.
    public static func root(_ policy: UInt32) -> TrieNodeKey {
        TrieNodeKey(policy: policy, parent: UInt32(FQDN_TRIE_ROOT_ID), label: [])
    }

    public var c: fqdn_trie_key {
        var k = fqdn_trie_key()
        k.policy = policy
        k.parent = parent
        k.len = UInt8(label.count)
        withUnsafeMutableBytes(of: &k.label) { $0.copyBytes(from: label.prefix(TrieLimits.labelBytes)) }
        return k
    }

    public init(_ c: fqdn_trie_key) {
        var c = c
        policy = c.policy
        parent = c.parent
        let n = min(Int(c.len), TrieLimits.labelBytes)
        label = withUnsafeBytes(of: &c.label) { Array($0.prefix(n)) }
    }

    public var description: String { "(\(policy), \(parent), \"\(String(decoding: label, as: UTF8.self))\")" }
}

/// Node flags (`FQDN_TRIE_F_*`).
public struct TrieNodeFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// A pattern ends here (``TrieNode/exactSet``).
    public static let exact = TrieNodeFlags(rawValue: UInt16(FQDN_TRIE_F_EXACT))
    /// A child keyed `*` exists (any one label).
    public static let star = TrieNodeFlags(rawValue: UInt16(FQDN_TRIE_F_STAR))
    /// `**.` ends here (``TrieNode/multiSet``).
    public static let multi = TrieNodeFlags(rawValue: UInt16(FQDN_TRIE_F_MULTI))
    /// Glob children in slots `0..<globSlots`.
    public static let globs = TrieNodeFlags(rawValue: UInt16(FQDN_TRIE_F_GLOBS))
}

/// Value of a trie node (`struct fqdn_trie_node`, 16 bytes).
public struct TrieNode: Hashable, Sendable {
    public var id: UInt32
    public var exactSet: UInt32
    public var multiSet: UInt32
    public var flags: TrieNodeFlags
    public var globSlots: UInt8
    public var depth: UInt8

    public init(id: UInt32, exactSet: UInt32 = 0, multiSet: UInt32 = 0, flags: TrieNodeFlags = [], globSlots: UInt8 = 0, depth: UInt8) {
        self.id = id
        self.exactSet = exactSet
        self.multiSet = multiSet
        self.flags = flags
        self.globSlots = globSlots
        self.depth = depth
    }

    public var c: fqdn_trie_node {
        fqdn_trie_node(id: id, exact_set: exactSet, multi_set: multiSet, flags: flags.rawValue, glob_slots: globSlots, depth: depth)
    }

    public init(_ c: fqdn_trie_node) {
        self.init(id: c.id, exactSet: c.exact_set, multiSet: c.multi_set, flags: TrieNodeFlags(rawValue: c.flags),
                  globSlots: c.glob_slots, depth: c.depth)
    }
}

/// Key of a glob slot (`struct fqdn_trie_glob_key`, 12 bytes).
public struct TrieGlobKey: Hashable, Sendable {
    public var policy: UInt32
    public var parent: UInt32
    public var slot: UInt32

    public init(policy: UInt32, parent: UInt32, slot: UInt32) {
        self.policy = policy
        self.parent = parent
        self.slot = slot
    }

    public var c: fqdn_trie_glob_key { fqdn_trie_glob_key(policy: policy, parent: parent, slot: slot) }
    public init(_ c: fqdn_trie_glob_key) { self.init(policy: c.policy, parent: c.parent, slot: c.slot) }
}

/// Value of a glob slot (`struct fqdn_trie_glob`, 72 bytes): the glob label's text.
public struct TrieGlob: Hashable, Sendable {
    public var label: [UInt8]
    public init(label: [UInt8]) { self.label = label }

    public var c: fqdn_trie_glob {
        var g = fqdn_trie_glob()
        g.len = UInt8(label.count)
        withUnsafeMutableBytes(of: &g.label) { $0.copyBytes(from: label.prefix(TrieLimits.labelBytes)) }
        return g
    }

    public init(_ c: fqdn_trie_glob) {
        var c = c
        let n = min(Int(c.len), TrieLimits.labelBytes)
        label = withUnsafeBytes(of: &c.label) { Array($0.prefix(n)) }
    }
}

/// Key of a set (`struct fqdn_trie_set_key`, 8 bytes).
public struct TrieSetKey: Hashable, Sendable {
    public var policy: UInt32
    public var set: UInt32
    public init(policy: UInt32, set: UInt32) {
        self.policy = policy
        self.set = set
    }

    public var c: fqdn_trie_set_key { fqdn_trie_set_key(policy: policy, set: set) }
    public init(_ c: fqdn_trie_set_key) { self.init(policy: c.policy, set: c.set) }
}

/// Value of a set (`struct fqdn_trie_set`, 64 bytes): ascending tags.
public struct TrieSet: Hashable, Sendable {
    public var tags: [UInt32]
    public init(tags: [UInt32]) { self.tags = tags }

    public var c: fqdn_trie_set {
        var s = fqdn_trie_set()
        s.count = UInt32(tags.count)
        withUnsafeMutableBytes(of: &s.tags) { raw in
            for (i, t) in tags.prefix(TrieLimits.maxSetTags).enumerated() { raw.storeBytes(of: t, toByteOffset: i * 4, as: UInt32.self) }
        }
        return s
    }

    public init(_ c: fqdn_trie_set) {
        var c = c
        let n = min(Int(c.count), TrieLimits.maxSetTags)
        tags = withUnsafeBytes(of: &c.tags) { raw in (0..<n).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
    }
}

/// Plain bytes of a C layout value, and back: what goes into and comes out of a BPF map.
public enum TrieBytes {
    public static func of<T>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    /// Nil when `bytes` is not exactly `MemoryLayout<T>.size` long.
    public static func load<T>(_ bytes: [UInt8], as type: T.Type, zero: T) -> T? {
        guard bytes.count == MemoryLayout<T>.size else { return nil }
        var v = zero
        withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: bytes) }
        return v
    }
}
