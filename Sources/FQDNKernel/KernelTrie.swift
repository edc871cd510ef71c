import BPFMapBindings
import BPFTestObjects
import CFQDNShared
import DomainTrie
import Glibc

/// The BPF trie walk (`BPFPrograms/include/trie.h`), driven through its test program
/// `trie_test.bpf.c` with `BPF_PROG_TEST_RUN`.
///
/// Fill the trie maps with ``load(_:)`` or ``apply(_:)`` (DomainTrie's exact entries), then
/// ``walk(policy:wire:)`` asks the kernel which sets a name hits. The maps live as long as
/// this value (nothing is pinned or attached).
public final class KernelTrie: @unchecked Sendable {
    public let object: BPFObject
    let walkProgram: BPFProgram
    let loadProgram: BPFProgram
    let trivialProgram: BPFProgram
    /// The trie maps by DomainTrie's name for them.
    public let maps: [TrieMap: BPFMap]
    let out: BPFMap

    /// Opens and loads `trie_test` (the verifier checks the walk here).
    public init() throws(BPFError) {
        object = try BPFObject.loadedHarness("trie_test")
        walkProgram = try object.program("trie_walk")
        loadProgram = try object.program("trie_load")
        trivialProgram = try object.program("trivial")
        maps = [
            .nodes: try object.map("fq_trie_nodes"),
            .globs: try object.map("fq_trie_globs"),
            .sets: try object.map("fq_trie_sets"),
        ]
        out = try object.map("trie_out")
        try Self.checkSizes(maps[.nodes]!, MemoryLayout<fqdn_trie_key>.size, MemoryLayout<fqdn_trie_node>.size)
        try Self.checkSizes(maps[.globs]!, MemoryLayout<fqdn_trie_glob_key>.size, MemoryLayout<fqdn_trie_glob>.size)
        try Self.checkSizes(maps[.sets]!, MemoryLayout<fqdn_trie_set_key>.size, MemoryLayout<fqdn_trie_set>.size)
        try Self.checkSizes(out, 4, MemoryLayout<fqdn_trie_result>.size)
    }

    static func checkSizes(_ map: BPFMap, _ key: Int, _ value: Int) throws(BPFError) {
        if map.keySize != key { throw .sizeMismatch(map: "\(map.name) (key)", expected: key, actual: map.keySize) }
        if map.valueSize != value { throw .sizeMismatch(map: "\(map.name) (value)", expected: value, actual: map.valueSize) }
    }

    // MARK: Filling the maps

    /// Applies operations one at a time, in order, with the kernel's flags (`BPF_NOEXIST` for
    /// inserts, `BPF_EXIST` for updates): a list that does not fit the maps' contents fails.
    public func apply(_ ops: [TrieMapOperation]) throws(BPFError) {
        for op in ops {
            let map = maps[op.map]!
            switch op.kind {
            case .delete:
                if try !map.delete(keyBytes: op.key) { throw .syscall(op: "delete in \(map.name)", errno: .noEntry) }
            case .insert: try map.update(keyBytes: op.key, valueBytes: op.value ?? [], policy: .noExist)
            case .update: try map.update(keyBytes: op.key, valueBytes: op.value ?? [], policy: .exist)
            }
        }
    }

    /// Writes every entry of `trie` with one batch update per map (`BPF_MAP_UPDATE_BATCH`),
    /// sets first, then globs, then nodes (a node is reachable only once its entries exist).
    /// Existing keys are overwritten (batch updates have no `BPF_NOEXIST`).
    public func load(_ trie: CompiledTrie) throws(BPFError) {
        let entries = trie.mapEntries
        for m in [TrieMap.sets, .globs, .nodes] {
            try updateBatch(maps[m]!, entries[m]!.map { ($0.key, $0.value) })
        }
    }

    /// Deletes every entry of `trie` with one batch delete per map (nodes first).
    public func unload(_ trie: CompiledTrie) throws(BPFError) {
        let entries = trie.mapEntries
        for m in [TrieMap.nodes, .globs, .sets] {
            try deleteBatch(maps[m]!, Array(entries[m]!.keys))
        }
    }

    func updateBatch(_ map: BPFMap, _ entries: [([UInt8], [UInt8])]) throws(BPFError) {
        guard !entries.isEmpty else { return }
        var keys: [UInt8] = [], values: [UInt8] = []
        keys.reserveCapacity(entries.count * map.keySize)
        values.reserveCapacity(entries.count * map.valueSize)
        for (k, v) in entries {
            keys += k
            values += v
        }
        try map.updateBatch(keyBytes: keys, valueBytes: values, count: entries.count)
    }

    func deleteBatch(_ map: BPFMap, _ keys: [[UInt8]]) throws(BPFError) {
        try map.deleteBatch(keyBytes: keys.flatMap { $0 }, count: keys.count)
    }

    /// Entries currently in each trie map (by iterating keys).
    public func entryCounts() throws(BPFError) -> [TrieMap: Int] {
        var out: [TrieMap: Int] = [:]
        for (m, map) in maps {
            out[m] = try map.keyBytes().count
        }
        return out
    }

    /// Kernel memory of each trie map: the `memlock` line of its fdinfo (what the kernel
    /// accounts for the map, from its own usage figure on Linux 6.4+).
    public func memoryBytes() -> [TrieMap: Int] {
        var out: [TrieMap: Int] = [:]
        for (m, map) in maps {
            guard let f = fopen("/proc/self/fdinfo/\(map.fd)", "r") else { continue }
            defer { fclose(f) }
            var line = [CChar](repeating: 0, count: 256)
            while fgets(&line, Int32(line.count), f) != nil {
                let s = String(decoding: line.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if s.hasPrefix("memlock:") {
                    out[m] = Int(String(s.dropFirst(8)).trimmingCharacters(in: " \t\n")) ?? 0
                }
            }
        }
        return out
    }

    // MARK: Walking

    /// The test-run packet: 14 zero bytes of Ethernet header, then a `struct fqdn_trie_query`.
    public static func packet(policy: UInt32, wire: [UInt8]) -> [UInt8] {
        var q = fqdn_trie_query()
        q.policy = policy
        q.name.len = UInt16(min(wire.count, 256))
        q.name.labels = 0
        withUnsafeMutableBytes(of: &q.name.wire) { $0.copyBytes(from: wire.prefix(256)) }
        return [UInt8](repeating: 0, count: 14) + withUnsafeBytes(of: q) { Array($0) }
    }

    /// Walks policy version `policy` in the kernel for a lowercase wire-form name.
    public func walk(policy: UInt32, wire: [UInt8]) throws(BPFError) -> TrieWalkResult {
        let r = try walkProgram.testRun(data: Self.packet(policy: policy, wire: wire), dataOutCapacity: 512)
        if r.returnValue != 0 { throw .invalidState("trie_walk returned \(r.returnValue) (short packet?)") }
        return try result()
    }

    /// The kernel's answer for `name` in `trie` (which must be loaded).
    public func walk(_ trie: CompiledTrie, _ name: DomainName) throws(BPFError) -> TrieWalkResult {
        try walk(policy: trie.policy, wire: name.wire)
    }

    func result() throws(BPFError) -> TrieWalkResult {
        guard let res = try BPFArrayMap<fqdn_trie_result>(out).lookup(0) else { throw .notFound(kind: "entry 0 of", name: out.name) }
        return TrieWalkResult(res)
    }

    /// Mean nanoseconds per run of the walk, of only reading the query, and of a program that
    /// returns at once, each over `repeat` runs of the same name (BPF_PROG_TEST_RUN's timer).
    public func timing(policy: UInt32, wire: [UInt8], repeat count: Int) throws(BPFError) -> (walk: Double, load: Double, floor: Double) {
        let data = Self.packet(policy: policy, wire: wire)
        let w = try walkProgram.testRun(data: data, repeat: count, dataOutCapacity: 512)
        let l = try loadProgram.testRun(data: data, repeat: count, dataOutCapacity: 512)
        let f = try trivialProgram.testRun(data: data, repeat: count, dataOutCapacity: 512)
        func ns(_ d: Duration) -> Double { Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9 }
        return (ns(w.duration), ns(l.duration), ns(f.duration))
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

extension fqdn_trie_result: BPFPlainData {}

extension BPFObject {
    /// An embedded harness of BPFPrograms/tests/, opened and loaded (the verifier checks it).
    static func loadedHarness(_ name: String) throws(BPFError) -> BPFObject {
        guard let bytes = BPFTestObjects.named(name) else { throw .notFound(kind: "BPF object", name: name) }
        let object = try BPFObject(bytes: bytes, name: name)
        try object.load()
        return object
    }
}
