import CFQDNShared
import DomainTrie
import FQDNKernel
import FQDNPolicyTesting
import FQDNTestSupport
import Testing

/// The BPF trie walk against DomainTrie's compiled walk (its step-for-step reference) and the
/// direct matcher, on seeded random pattern sets and names, through BPF_PROG_TEST_RUN.
@Suite(.serialized) struct KernelTrieTests {
    /// >= 10,000 (pattern set, name) cases per run; zero disagreements in status or hits.
    @Test(.kernel) func differential() throws {
        let kernel = try KernelTrie()
        var r = SeededRandom(seed: 0x5EED_7713)
        var cases = 0, matched = 0, sets = 0
        var disagreements: [String] = []
        var policy: UInt32 = 1
        while cases < 12_000 {
            let patterns = RandomCases.patterns(&r, count: Int.random(in: 1...16, using: &r))
            guard let trie = try? CompiledTrie(patterns: patterns, policy: policy) else { continue }
            try kernel.load(trie)
            for _ in 0..<24 {
                let name = RandomCases.name(&r, near: patterns)
                let expected = trie.walk(name)
                let got = try kernel.walk(trie, name)
                let direct = directMatches(patterns, name).map(UInt32.init)
                let tags = Array(Set(got.hits.flatMap { trie.tags(ofSet: $0) })).sorted()
                if got != expected || tags != direct {
                    disagreements.append("\(patterns.map(\.text)) \(name): kernel \(got) swift \(expected) direct \(direct)")
                }
                cases += 1
                if !direct.isEmpty { matched += 1 }
            }
            // Names that miss the policy entirely and walks of a policy id with no trie.
            let other = try kernel.walk(policy: policy + 1_000_000, wire: RandomCases.name(&r, near: patterns).wire)
            if other != TrieWalkResult(status: .ok) { disagreements.append("unknown policy: \(other)") }
            try kernel.unload(trie)
            policy += 1
            sets += 1
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, first: \(disagreements.prefix(5))")
        #expect(cases >= 10_000)
        #expect(matched >= cases / 5)
        #expect(try kernel.entryCounts().values.reduce(0, +) == 0, "every set was unloaded")
        print("trie differential: \(cases) cases, \(sets) pattern sets, \(matched) with matches, \(disagreements.count) disagreements")
    }

    /// Malformed names, limits and bounds, the same way as the Swift walk.
    @Test(.kernel) func edgeNames() throws {
        let kernel = try KernelTrie()
        let patterns = try ["*", "**.a", "a*b.a", "*.*.a", String(repeating: "x*", count: 31) + "y.com"].map { try FQDNPattern(matchPattern: $0) }
        let trie = try CompiledTrie(patterns: patterns, policy: 7)
        try kernel.load(trie)
        var wires: [[UInt8]] = [
            [0], [1, 97, 0], [3, 97, 120, 98, 1, 97, 0], [1, 97, 0, 0], [3, 97, 0], [64] + Array(repeating: 97, count: 64) + [0],
            [0xC0, 12], [1, 65, 0], [1, 32, 1, 97, 0], [1, 42, 1, 97, 0], [2, 0, 97, 1, 97, 0],
            Array(repeating: [1, 97] as [UInt8], count: 127).flatMap { $0 } + [0],
            Array(repeating: [1, 97] as [UInt8], count: 128).flatMap { $0 } + [0],
            [63] + Array(repeating: UInt8(ascii: "x"), count: 62) + [UInt8(ascii: "y")] + [3, 99, 111, 109, 0],
            [63] + Array(repeating: UInt8(ascii: "x"), count: 63) + [3, 99, 111, 109, 0],
        ]
        wires.append(Array(repeating: 0, count: 255))
        // Every byte class at every position of a 63-byte label (the kernel checks 8 bytes at a
        // time): the bytes around each allowed range, the allowed edges, and high bytes.
        let probes: [UInt8] = [0x00, 0x20, 0x2A, 0x2C, 0x2D, 0x2E, 0x2F, 0x30, 0x39, 0x3A, 0x40, 0x41, 0x5A, 0x5B, 0x5E, 0x5F,
                               0x60, 0x61, 0x7A, 0x7B, 0x7F, 0x80, 0xAD, 0xDF, 0xE1, 0xFF]
        for length in [9, 63] {
            for pos in 0..<length {
                for b in probes {
                    var label = [UInt8](repeating: UInt8(ascii: "x"), count: length)
                    label[pos] = b
                    wires.append([UInt8(length)] + label + [3, 99, 111, 109, 0])
                }
            }
        }
        for w in wires {
            let got = try kernel.walk(policy: 7, wire: w)
            let expected = TrieWalker.walk(policy: 7, wire: w, in: trie)
            #expect(got == expected, "\(w.prefix(12)): kernel \(got) swift \(expected)")
        }
        try kernel.unload(trie)
    }

    /// Hand-made maps over the walk bounds: the kernel reports the same errors as the Swift walk.
    @Test(.kernel) func boundErrors() throws {
        let kernel = try KernelTrie()
        // 17 `**.` levels (the compiler refuses this; written by hand).
        var model = TrieMapModel()
        var parent: UInt32 = 0
        var ops: [TrieMapOperation] = []
        func node(_ key: TrieNodeKey, _ n: TrieNode) -> TrieMapOperation {
            TrieMapOperation(kind: .insert, map: .nodes, key: TrieBytes.of(key.c), value: TrieBytes.of(n.c))
        }
        ops.append(node(.root(3), TrieNode(id: 0, depth: 0)))
        for d in 1...17 {
            ops.append(node(TrieNodeKey(policy: 3, parent: parent, label: [UInt8(ascii: "a")]),
                            TrieNode(id: UInt32(d), multiSet: UInt32(d), flags: .multi, depth: UInt8(d))))
            parent = UInt32(d)
        }
        // 17 glob slots claimed on one node.
        ops.append(node(TrieNodeKey(policy: 4, parent: 0, label: []), TrieNode(id: 0, flags: .globs, globSlots: 17, depth: 0)))
        // 17 children active at once: `*` plus 16 globs that all match "b".
        ops.append(node(.root(5), TrieNode(id: 0, flags: [.star, .globs], globSlots: 16, depth: 0)))
        ops.append(node(TrieNodeKey(policy: 5, parent: 0, label: [UInt8(ascii: "*")]), TrieNode(id: 100, depth: 1)))
        for s in 0..<16 {
            // 16 distinct globs that all match "b": "*b", "b*", "b**", ...
            let text: [UInt8] = s == 0 ? Array("*b".utf8) : Array(("b" + String(repeating: "*", count: s)).utf8)
            ops.append(TrieMapOperation(kind: .insert, map: .globs, key: TrieBytes.of(TrieGlobKey(policy: 5, parent: 0, slot: UInt32(s)).c),
                                        value: TrieBytes.of(TrieGlob(label: text).c)))
            ops.append(node(TrieNodeKey(policy: 5, parent: 0, label: text), TrieNode(id: UInt32(200 + s), depth: 1)))
        }
        try model.apply(ops)
        try kernel.apply(ops)
        let cases: [(UInt32, [UInt8])] = [
            (3, Array(repeating: [1, 97] as [UInt8], count: 19).flatMap { $0 } + [0]),
            (3, Array(repeating: [1, 97] as [UInt8], count: 16).flatMap { $0 } + [0]),
            (4, [1, 97, 0]),
            (5, [1, 98, 0]),
        ]
        let statuses: [TrieWalkStatus] = [.tooManyHits, .ok, .tooManyGlobs, .tooManyActive]
        for ((policy, wire), status) in zip(cases, statuses) {
            let got = try kernel.walk(policy: policy, wire: wire)
            #expect(got == TrieWalker.walk(policy: policy, wire: wire, in: model))
            #expect(got.status == status)
        }
    }

    /// A versioned switch applied to the kernel maps: the active id keeps answering the same
    /// while the next version is written, and the kernel holds exactly the model's entries.
    @Test(.kernel) func transitionInKernel() throws {
        let kernel = try KernelTrie()
        var r = SeededRandom(seed: 77)
        var active: CompiledTrie? = nil
        var standby: CompiledTrie? = nil
        for step in 0..<30 {
            let patterns = RandomCases.patterns(&r, count: Int.random(in: 0...12, using: &r))
            let id: UInt32 = active?.policy == 1 ? 2 : 1
            guard let next = try? CompiledTrie(patterns: patterns, policy: id, reusing: standby) else { continue }
            let t = try TrieTransition.swap(active: active, standby: standby, next: next)
            let names = (0..<6).map { _ in RandomCases.name(&r, near: patterns) }
            try kernel.apply(t.prepare)
            if let active {
                for n in names { #expect(try kernel.walk(active, n) == active.walk(n), "step \(step)") }
            }
            for n in names { #expect(try kernel.walk(next, n) == next.walk(n), "step \(step)") }
            standby = active
            active = next
        }
        var expected = 0
        for t in [active, standby].compactMap({ $0 }) { expected += t.entryCount }
        #expect(try kernel.entryCounts().values.reduce(0, +) == expected)
    }
}
