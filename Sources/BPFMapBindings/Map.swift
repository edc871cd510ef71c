internal import CLibbpf
import Glibc

/// A kernel map type (`enum bpf_map_type`).
public struct BPFMapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let hash = BPFMapType(rawValue: BPF_MAP_TYPE_HASH.rawValue)
    public static let array = BPFMapType(rawValue: BPF_MAP_TYPE_ARRAY.rawValue)
    public static let perCPUHash = BPFMapType(rawValue: BPF_MAP_TYPE_PERCPU_HASH.rawValue)
    public static let perCPUArray = BPFMapType(rawValue: BPF_MAP_TYPE_PERCPU_ARRAY.rawValue)
    public static let lruHash = BPFMapType(rawValue: BPF_MAP_TYPE_LRU_HASH.rawValue)
    public static let lruPerCPUHash = BPFMapType(rawValue: BPF_MAP_TYPE_LRU_PERCPU_HASH.rawValue)
    public static let lpmTrie = BPFMapType(rawValue: BPF_MAP_TYPE_LPM_TRIE.rawValue)
    public static let sockMap = BPFMapType(rawValue: BPF_MAP_TYPE_SOCKMAP.rawValue)
    public static let sockHash = BPFMapType(rawValue: BPF_MAP_TYPE_SOCKHASH.rawValue)
    public static let ringBuffer = BPFMapType(rawValue: BPF_MAP_TYPE_RINGBUF.rawValue)

    public var description: String {
        if let s = libbpf_bpf_map_type_str(bpf_map_type(rawValue)) { return String(cString: s) }
        return "map type \(rawValue)"
    }

    var isPerCPU: Bool { self == .perCPUHash || self == .perCPUArray || self == .lruPerCPUHash }
}

/// How `update` treats an existing key (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
public enum BPFUpdatePolicy: UInt64, Sendable {
    /// Create or replace.
    case any = 0
    /// Create only; `EEXIST` when the key is there.
    case noExist = 1
    /// Replace only; `ENOENT` when the key is missing.
    case exist = 2
}

/// A live kernel map, untyped: its fd and the kernel's description of it. Typed access goes
/// through views (`BPFHashMap`, `BPFArrayMap`, ...) that check sizes when made.
///
/// A map from an object keeps the object alive; a map opened from a pin owns its fd.
public final class BPFMap: @unchecked Sendable {
    public let name: String
    public let fd: Int32
    public let type: BPFMapType
    public let keySize: Int
    public let valueSize: Int
    public let maxEntries: Int
    public let flags: UInt32
    /// Kernel id of the map (stable across processes while it lives).
    public let id: UInt32
    private let owner: AnyObject?

    /// `owner == nil`: the map owns (and closes) `fd`.
    init(fd: Int32, name: String?, owner: AnyObject?) throws(BPFError) {
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        let r = bpf_obj_get_info_by_fd(fd, &info, &length)
        if r < 0 {
            if owner == nil { close(fd) }
            throw .syscall(op: "bpf_obj_get_info_by_fd(map \(name ?? "?"))", errno: BPFErrno(-r))
        }
        self.fd = fd
        self.owner = owner
        self.type = BPFMapType(rawValue: info.type)
        self.keySize = Int(info.key_size)
        self.valueSize = Int(info.value_size)
        self.maxEntries = Int(info.max_entries)
        self.flags = info.map_flags
        self.id = info.id
        self.name = name ?? withUnsafeBytes(of: info.name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    deinit {
        if owner == nil { close(fd) }
    }

    /// Opens a map pinned at `path` (on bpffs). This is how a restarted agent adopts state.
    public static func openPinned(_ path: String) throws(BPFError) -> BPFMap {
        let fd = try checkFD(bpf_obj_get(path), "bpf_obj_get(\(path))")
        return try BPFMap(fd: fd, name: nil, owner: nil)
    }

    /// Pins the map at `path` (bpffs); the map then outlives every fd. Remove with
    /// `BPFFS.unpin(path)`.
    public func pin(at path: String) throws(BPFError) {
        try check(bpf_obj_pin(fd, path), "bpf_obj_pin(map \(name), \(path))")
    }

    /// Number of possible CPUs: per-CPU values come as this many slots.
    public static var possibleCPUs: Int {
        let n = libbpf_num_possible_cpus()
        return n > 0 ? Int(n) : 1
    }

    /// Bytes a value occupies in user space (per-CPU maps: one 8-byte-aligned slot per CPU).
    var userValueSize: Int {
        type.isPerCPU ? ((valueSize + 7) & ~7) * Self.possibleCPUs : valueSize
    }

    // MARK: Raw operations (sizes already checked by the typed views)
    // The closures around these only call libbpf and return its code; errors are made
    // outside them (typed throws do not pass through withUnsafeBytes).

    /// true: found; false: absent (ENOENT).
    func found(_ r: Int32, _ op: String) throws(BPFError) -> Bool {
        if r == 0 { return true }
        if -r == ENOENT { return false }
        throw .syscall(op: "\(op)(\(name))", errno: BPFErrno(-r))
    }

    /// Every key, as raw bytes (keySize each).
    func allKeysRaw() throws(BPFError) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var current: [UInt8]? = nil
        var next = [UInt8](repeating: 0, count: max(keySize, 1))
        while true {
            let r: Int32
            if let c = current {
                r = c.withUnsafeBytes { k in next.withUnsafeMutableBytes { n in bpf_map_get_next_key(fd, k.baseAddress, n.baseAddress) } }
            } else {
                r = next.withUnsafeMutableBytes { n in bpf_map_get_next_key(fd, nil, n.baseAddress) }
            }
            guard try found(r, "bpf_map_get_next_key") else { return keys }
            keys.append(next)
            current = next
            if keys.count > maxEntries * 2 + 16 { return keys }  // the map is churning; stop
        }
    }

    // libbpf's return codes; the callers make the errors (outside the closures).
    func lookupRaw(_ key: UnsafeRawPointer?, into buffer: UnsafeMutableRawPointer?) -> Int32 {
        bpf_map_lookup_elem(fd, key, buffer)
    }

    func deleteRaw(_ key: UnsafeRawPointer?) -> Int32 { bpf_map_delete_elem(fd, key) }

    func updateRaw(_ key: UnsafeRawPointer?, _ value: UnsafeRawPointer?, _ policy: BPFUpdatePolicy) -> Int32 {
        bpf_map_update_elem(fd, key, value, policy.rawValue)
    }

    /// `given` bytes were passed for `part`; the kernel map's layout wants `kernel`.
    func checkBytes(_ part: String, given: Int, kernel: Int) throws(BPFError) {
        guard given == kernel else { throw .sizeMismatch(map: "\(name) (\(part))", expected: given, actual: kernel) }
    }
}

// MARK: - Untyped access by bytes

/// For maps whose layout belongs to another layer (DomainTrie's trie maps: keys and values
/// arrive as bytes) or is walked generically (every key starting with some id). Sizes are
/// checked on every call.
extension BPFMap {
    /// Every key, as `keySize` bytes each (a snapshot, as ``BPFKeyValueMap/keys()``).
    public func keyBytes() throws(BPFError) -> [[UInt8]] { try allKeysRaw() }

    /// The value bytes at `key`, or nil when there is none.
    public func lookup(keyBytes key: [UInt8]) throws(BPFError) -> [UInt8]? {
        try checkBytes("key", given: key.count, kernel: keySize)
        var value = [UInt8](repeating: 0, count: max(userValueSize, 1))
        let r = key.withUnsafeBytes { k in value.withUnsafeMutableBytes { v in lookupRaw(k.baseAddress, into: v.baseAddress) } }
        return try found(r, "bpf_map_lookup_elem") ? Array(value.prefix(userValueSize)) : nil
    }

    /// Writes `value` at `key` (sizes must be the map's).
    public func update(keyBytes key: [UInt8], valueBytes value: [UInt8], policy: BPFUpdatePolicy = .any) throws(BPFError) {
        try checkBytes("key", given: key.count, kernel: keySize)
        try checkBytes("value", given: value.count, kernel: userValueSize)
        let r = key.withUnsafeBytes { k in value.withUnsafeBytes { v in updateRaw(k.baseAddress, v.baseAddress, policy) } }
        try check(r, "bpf_map_update_elem(\(name))")
    }

    /// Removes `key`; false when it was not there.
    @discardableResult
    public func delete(keyBytes key: [UInt8]) throws(BPFError) -> Bool {
        try checkBytes("key", given: key.count, kernel: keySize)
        return try found(key.withUnsafeBytes { k in deleteRaw(k.baseAddress) }, "bpf_map_delete_elem")
    }

    /// Writes `count` entries in as few `BPF_MAP_UPDATE_BATCH` calls as the kernel allows
    /// (`chunk` entries each): `keys` holds `count` keys back to back, `values` as many values.
    /// Batch updates take no `.noExist`/`.exist` (existing keys are overwritten).
    public func updateBatch(keyBytes keys: [UInt8], valueBytes values: [UInt8], count: Int, chunk: Int = 65_536) throws(BPFError) {
        try checkBytes("keys", given: keys.count, kernel: count * keySize)
        try checkBytes("values", given: values.count, kernel: count * userValueSize)
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            var done = UInt32(n)
            var opts = bpf_map_batch_opts()
            opts.sz = MemoryLayout<bpf_map_batch_opts>.size
            let (ks, vs) = (keySize, userValueSize)
            let r = keys.withUnsafeBytes { k in
                values.withUnsafeBytes { v in
                    bpf_map_update_batch(fd, k.baseAddress! + start * ks, v.baseAddress! + start * vs, &done, &opts)
                }
            }
            try Self.checkBatch(r, "bpf_map_update_batch(\(name)) after \(start + Int(done))")
            start += n
        }
    }

    /// Deletes `count` keys (back to back in `keys`) with `BPF_MAP_DELETE_BATCH`. Every key must
    /// exist (`ENOENT` otherwise, with the ones before it deleted).
    public func deleteBatch(keyBytes keys: [UInt8], count: Int) throws(BPFError) {
        guard count > 0 else { return }
        try checkBytes("keys", given: keys.count, kernel: count * keySize)
        var done = UInt32(count)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        let r = keys.withUnsafeBytes { k in bpf_map_delete_batch(fd, k.baseAddress, &done, &opts) }
        try Self.checkBatch(r, "bpf_map_delete_batch(\(name)) after \(done)")
    }

    static func checkBatch(_ r: Int32, _ op: String) throws(BPFError) {
        guard r < 0 else { return }
        let e = BPFErrno(-r)
        if e == .notSupported || e == .kernelNotSupported {
            throw .notSupported(feature: "\(op) on this map type", minimumKernel: "5.6")
        }
        throw .syscall(op: op, errno: e)
    }
}

// MARK: - Typed views

/// A typed view of a map, made from an untyped `BPFMap` after checking its type and sizes.
public protocol BPFMapView {
    init(_ map: BPFMap) throws(BPFError)
    var map: BPFMap { get }
}

extension BPFMapView {
    static func checkType(_ map: BPFMap, _ allowed: [BPFMapType]) throws(BPFError) {
        guard allowed.contains(map.type) else {
            throw .wrongMapType(map: map.name, expected: allowed.map(\.description).joined(separator: " or "),
                                actual: map.type.description)
        }
    }

    static func checkSize(_ map: BPFMap, _ part: String, swift: Int, kernel: Int) throws(BPFError) {
        guard swift == kernel else {
            throw .sizeMismatch(map: "\(map.name) (\(part))", expected: swift, actual: kernel)
        }
    }
}

/// Maps whose entries are addressed by a plain-data key: deletes and walks (every typed view
/// of a hash-like map, per-CPU and socket maps included).
public protocol BPFKeyedEntries: BPFMapView {
    associatedtype Key: BPFPlainData
}

extension BPFKeyedEntries {
    /// Removes `key`; false when it was not there.
    @discardableResult
    public func delete(_ key: Key) throws(BPFError) -> Bool {
        let map = self.map
        return try map.found(withUnsafeBytes(of: key) { k in map.deleteRaw(k.baseAddress) }, "bpf_map_delete_elem")
    }

    /// Every key (a snapshot; entries changing meanwhile may be missed or seen twice, as
    /// with any bpf_map_get_next_key walk).
    public func keys() throws(BPFError) -> [Key] {
        try map.allKeysRaw().map { $0.withUnsafeBytes { Key.load(from: $0.baseAddress!) } }
    }
}

/// Maps read by a plain-data key holding one value each: lookups, deletes and walks.
public protocol BPFKeyedMap: BPFKeyedEntries {
    associatedtype Value: BPFPlainData
    /// The value at `key`, or nil when there is none.
    func lookup(_ key: Key) throws(BPFError) -> Value?
}

extension BPFKeyedMap {
    /// Every entry (keys, then one lookup each; keys deleted meanwhile are skipped).
    public func entries() throws(BPFError) -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        for key in try keys() {
            if let value = try lookup(key) { out.append((key, value)) }
        }
        return out
    }
}

/// Maps addressed by a plain-data key holding one plain-data value: hash, LRU hash, array,
/// LPM trie. Lookups of absent keys are `nil`.
public protocol BPFKeyValueMap: BPFKeyedMap {}

extension BPFKeyValueMap {
    static func checkKeyValue(_ map: BPFMap) throws(BPFError) {
        try Key.requireTrivial("\(map.name) (key)")
        try Value.requireTrivial("\(map.name) (value)")
        try checkSize(map, "key", swift: Key.byteCount, kernel: map.keySize)
        try checkSize(map, "value", swift: Value.byteCount, kernel: map.valueSize)
    }

    /// The value at `key`, or nil when there is none.
    public func lookup(_ key: Key) throws(BPFError) -> Value? {
        var value = Value.zeroed
        let map = self.map
        let r = withUnsafeBytes(of: key) { k in withUnsafeMutableBytes(of: &value) { v in map.lookupRaw(k.baseAddress, into: v.baseAddress) } }
        return try map.found(r, "bpf_map_lookup_elem") ? value : nil
    }

    /// Writes `value` at `key`. `.noExist` throws `.syscall(errno: .exists)` when present,
    /// `.exist` throws `.syscall(errno: .noEntry)` when absent.
    public func update(_ key: Key, _ value: Value, policy: BPFUpdatePolicy = .any) throws(BPFError) {
        let map = self.map
        let r = withUnsafeBytes(of: key) { k in withUnsafeBytes(of: value) { v in map.updateRaw(k.baseAddress, v.baseAddress, policy) } }
        try check(r, "bpf_map_update_elem(\(map.name))")
    }

    /// Writes many entries in one syscall (`BPF_MAP_UPDATE_BATCH`, Linux 5.6+ for hash and
    /// array maps).
    public func update(batch entries: [(Key, Value)], policy: BPFUpdatePolicy = .any) throws(BPFError) {
        guard !entries.isEmpty else { return }
        let keys = entries.map(\.0), values = entries.map(\.1)
        var count = UInt32(entries.count)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        opts.elem_flags = policy.rawValue
        let r = keys.withUnsafeBytes { k in
            values.withUnsafeBytes { v in bpf_map_update_batch(map.fd, k.baseAddress, v.baseAddress, &count, &opts) }
        }
        try BPFMap.checkBatch(r, "bpf_map_update_batch(\(map.name))")
        if count != UInt32(entries.count) {
            throw .syscall(op: "bpf_map_update_batch(\(map.name)) wrote \(count) of \(entries.count)", errno: .noSpace)
        }
    }

    /// Deletes many keys in one syscall (`BPF_MAP_DELETE_BATCH`, hash maps, Linux 5.6+).
    /// Every key must exist (`ENOENT` otherwise, with the ones before it deleted).
    public func delete(batch keys: [Key]) throws(BPFError) {
        try map.deleteBatch(keyBytes: keys.withUnsafeBytes { Array($0) }, count: keys.count)
    }

    /// Reads every entry with `BPF_MAP_LOOKUP_BATCH` (hash and array maps, Linux 5.6+).
    public func lookupBatch(chunk: Int = 256) throws(BPFError) -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        var inBatch = [UInt8](repeating: 0, count: max(map.keySize, 8))
        var outBatch = inBatch
        var first = true
        var keys = [Key](repeating: .zeroed, count: chunk)
        var values = [Value](repeating: .zeroed, count: chunk)
        while true {
            var count = UInt32(chunk)
            var opts = bpf_map_batch_opts()
            opts.sz = MemoryLayout<bpf_map_batch_opts>.size
            let r = inBatch.withUnsafeMutableBytes { ib in
                outBatch.withUnsafeMutableBytes { ob in
                    keys.withUnsafeMutableBytes { k in
                        values.withUnsafeMutableBytes { v in
                            bpf_map_lookup_batch(map.fd, first ? nil : ib.baseAddress, ob.baseAddress,
                                                 k.baseAddress, v.baseAddress, &count, &opts)
                        }
                    }
                }
            }
            let done = r < 0 && -r == ENOENT
            if r < 0 && !done { try BPFMap.checkBatch(r, "bpf_map_lookup_batch(\(map.name))") }
            for i in 0..<Int(count) { out.append((keys[i], values[i])) }
            if done { return out }
            inBatch = outBatch
            first = false
        }
    }
}

/// A hash map or LRU hash map (`BPF_MAP_TYPE_HASH`, `BPF_MAP_TYPE_LRU_HASH`).
public struct BPFHashMap<Key: BPFPlainData, Value: BPFPlainData>: BPFKeyValueMap, Sendable {
    public let map: BPFMap
    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.hash, .lruHash])
        try Self.checkKeyValue(map)
        self.map = map
    }
}

/// An LPM trie (`BPF_MAP_TYPE_LPM_TRIE`). `Key` starts with a `UInt32` prefix length in bits
/// followed by the address bytes (`struct bpf_lpm_trie_key` layout); `lookup` of a full-length
/// key returns the longest matching prefix's value.
public struct BPFLPMTrie<Key: BPFPlainData, Value: BPFPlainData>: BPFKeyValueMap, Sendable {
    public let map: BPFMap
    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.lpmTrie])
        try Self.checkKeyValue(map)
        self.map = map
    }
}

/// An array map (`BPF_MAP_TYPE_ARRAY`): keys are indices `0..<maxEntries`, every slot exists
/// (zero until written) and cannot be deleted.
public struct BPFArrayMap<Value: BPFPlainData>: BPFKeyValueMap, Sendable {
    public typealias Key = UInt32
    public let map: BPFMap
    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.array])
        try Self.checkKeyValue(map)
        self.map = map
    }

    /// The value at `index` (nil only when out of range).
    public subscript(index: UInt32) -> Value? {
        (try? lookup(index)) ?? nil
    }
}

/// A hash or LRU hash map read through the head of its values: `Head` is a struct the C value
/// starts with (e.g. the header before a large inline buffer). Lookups copy the whole value
/// and return its head; there is no update (the rest of the value would be lost), only
/// lookups, deletes and walks.
public struct BPFHashMapHeads<Key: BPFPlainData, Head: BPFPlainData>: BPFKeyedMap, Sendable {
    public typealias Value = Head
    public let map: BPFMap
    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.hash, .lruHash])
        try Key.requireTrivial("\(map.name) (key)")
        try Head.requireTrivial("\(map.name) (value head)")
        try Self.checkSize(map, "key", swift: Key.byteCount, kernel: map.keySize)
        guard Head.byteCount <= map.valueSize else {
            throw .sizeMismatch(map: "\(map.name) (value head)", expected: Head.byteCount, actual: map.valueSize)
        }
        self.map = map
    }

    /// The head of the value at `key`, or nil when there is none.
    public func lookup(_ key: Key) throws(BPFError) -> Head? {
        let map = self.map
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(map.valueSize, 1), alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: max(map.valueSize, 1))
        let r = withUnsafeBytes(of: key) { k in map.lookupRaw(k.baseAddress, into: buffer) }
        return try map.found(r, "bpf_map_lookup_elem") ? Head.load(from: buffer) : nil
    }
}
