internal import CLibbpf
import Glibc

/// Per-CPU maps hold one value per possible CPU for each key; user space reads and writes all
/// of them at once. Each CPU's slot is 8-byte aligned.
protocol PerCPUStorage: BPFMapView {
    associatedtype Key: BPFPlainData
    associatedtype Value: BPFPlainData
}

extension PerCPUStorage {
    static var slot: Int { (Value.byteCount + 7) & ~7 }

    func readSlots(_ key: Key) throws(BPFError) -> [Value]? {
        let cpus = BPFMap.possibleCPUs
        var buffer = [UInt8](repeating: 0, count: Self.slot * cpus)
        let fd = map.fd
        let r = withUnsafeBytes(of: key) { k in
            buffer.withUnsafeMutableBytes { v in bpf_map_lookup_elem(fd, k.baseAddress, v.baseAddress) }
        }
        guard try map.found(r, "bpf_map_lookup_elem") else { return nil }
        return buffer.withUnsafeBytes { raw in
            (0..<cpus).map { Value.load(from: raw.baseAddress! + $0 * Self.slot) }
        }
    }

    func writeSlots(_ key: Key, _ values: [Value], _ policy: BPFUpdatePolicy) throws(BPFError) {
        let cpus = BPFMap.possibleCPUs
        guard values.count == cpus else {
            throw .sizeMismatch(map: "\(map.name) (values per CPU)", expected: values.count, actual: cpus)
        }
        var buffer = [UInt8](repeating: 0, count: Self.slot * cpus)
        buffer.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                withUnsafeBytes(of: v) { raw.baseAddress!.advanced(by: i * Self.slot).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        }
        let fd = map.fd
        let r = withUnsafeBytes(of: key) { k in
            buffer.withUnsafeBytes { v in bpf_map_update_elem(fd, k.baseAddress, v.baseAddress, policy.rawValue) }
        }
        try check(r, "bpf_map_update_elem(\(map.name))")
    }
}

/// A per-CPU array (`BPF_MAP_TYPE_PERCPU_ARRAY`): counters without atomics. Read the per-CPU
/// view with `values(at:)` or the total with `sum(at:)`.
public struct BPFPerCPUArrayMap<Value: BPFPlainData>: PerCPUStorage, Sendable {
    public typealias Key = UInt32
    public let map: BPFMap

    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.perCPUArray])
        try Value.requireTrivial("\(map.name) (value)")
        try Self.checkSize(map, "key", swift: 4, kernel: map.keySize)
        try Self.checkSize(map, "value", swift: Value.byteCount, kernel: map.valueSize)
        self.map = map
    }

    /// One value per possible CPU (`BPFMap.possibleCPUs`); nil when `index` is out of range.
    public func values(at index: UInt32) throws(BPFError) -> [Value]? {
        try readSlots(index)
    }

    /// Sets every CPU's slot (`values.count == BPFMap.possibleCPUs`).
    public func update(_ index: UInt32, perCPU values: [Value]) throws(BPFError) {
        try writeSlots(index, values, .any)
    }

    /// Sets every CPU's slot to `value` (e.g. zero to reset a counter).
    public func update(_ index: UInt32, allCPUs value: Value) throws(BPFError) {
        try writeSlots(index, Array(repeating: value, count: BPFMap.possibleCPUs), .any)
    }

    /// Folds the per-CPU values of `index` (nil when out of range).
    public func reduce<R>(at index: UInt32, _ initial: R, _ combine: (R, Value) -> R) throws(BPFError) -> R? {
        try values(at: index).map { $0.reduce(initial, combine) }
    }
}

extension BPFPerCPUArrayMap where Value: FixedWidthInteger {
    /// The total over all CPUs (wrapping), nil when out of range.
    public func sum(at index: UInt32) throws(BPFError) -> Value? {
        try reduce(at: index, 0, &+)
    }
}

/// A per-CPU hash (`BPF_MAP_TYPE_PERCPU_HASH` or `LRU_PERCPU_HASH`).
public struct BPFPerCPUHashMap<Key: BPFPlainData, Value: BPFPlainData>: PerCPUStorage, BPFKeyedEntries, Sendable {
    public let map: BPFMap

    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.perCPUHash, .lruPerCPUHash])
        try Key.requireTrivial("\(map.name) (key)")
        try Value.requireTrivial("\(map.name) (value)")
        try Self.checkSize(map, "key", swift: Key.byteCount, kernel: map.keySize)
        try Self.checkSize(map, "value", swift: Value.byteCount, kernel: map.valueSize)
        self.map = map
    }

    /// One value per possible CPU, nil when `key` is absent.
    public func values(_ key: Key) throws(BPFError) -> [Value]? { try readSlots(key) }

    public func update(_ key: Key, perCPU values: [Value], policy: BPFUpdatePolicy = .any) throws(BPFError) {
        try writeSlots(key, values, policy)
    }
}

extension BPFPerCPUHashMap where Value: FixedWidthInteger {
    public func sum(_ key: Key) throws(BPFError) -> Value? {
        try values(key).map { $0.reduce(0, &+) }
    }
}
