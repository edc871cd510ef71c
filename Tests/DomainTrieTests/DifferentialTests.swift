import CFQDNShared
import FQDNTestSupport
import Testing

@testable import DomainTrie

/// The compiled walk against the direct matcher on seeded random pattern sets and names.
@Suite struct DifferentialTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func compiledAgreesWithDirect(seed: UInt64) throws {
        var r = SeededRandom(seed: seed)
        var checked = 0, matched = 0, refused = 0
        for _ in 0..<600 {
            let patterns = RandomCases.patterns(&r, count: Int.random(in: 1...14, using: &r))
            let trie: CompiledTrie
            do {
                trie = try CompiledTrie(patterns: patterns, policy: UInt32.random(in: 1...9, using: &r))
            } catch {
                refused += 1  // over the walk bounds: nothing to compare
                continue
            }
            #expect(trie.worstActive <= TrieLimits.maxActive && trie.worstHits <= TrieLimits.maxHits)
            // The same entries as bytes, decoded again: what the kernel maps would hold.
            let model = TrieMapModel([trie])
            for _ in 0..<20 {
                let name = RandomCases.name(&r, near: patterns)
                let direct = directMatches(patterns, name).map(UInt32.init)
                let walk = trie.walk(name)
                #expect(walk.status == .ok)
                let tags = Array(Set(walk.hits.flatMap { trie.tags(ofSet: $0) })).sorted()
                #expect(tags == direct, "\(patterns.map(\.text)) vs \(name)")
                #expect(TrieWalker.walk(policy: trie.policy, wire: name.wire, in: model) == walk)
                #expect(walk.hits.count == Set(walk.hits).count)
                checked += 1
                if !direct.isEmpty { matched += 1 }
            }
        }
        #expect(checked >= 10_000)
        #expect(matched >= checked / 5, "the generator should produce plenty of matches")
        #expect(refused < 60)
    }

    /// The kernel's backtracking glob matcher against the table-driven one, and its step bound.
    @Test func globMatchersAgreeWithinStepBound() {
        var r = SeededRandom(seed: 99)
        let alphabet = Array("ab".utf8)
        var maxSteps = 0
        for _ in 0..<20_000 {
            var glob: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &r) {
                if Int.random(in: 0..<3, using: &r) == 0, glob.last != UInt8(ascii: "*") { glob.append(UInt8(ascii: "*")) } else {
                    glob.append(alphabet.randomElement(using: &r)!)
                }
            }
            let label = (0..<Int.random(in: 1...14, using: &r)).map { _ in alphabet.randomElement(using: &r)! }
            let (m, steps) = TrieWalker.globMatchSteps(glob, label)
            #expect(m == FQDNPattern.globMatchesByTable(glob, label), "\(glob) \(label)")
            maxSteps = max(maxSteps, steps)
        }
        #expect(maxSteps < TrieLimits.globMaxSteps)
        // Worst cases at the limits: 63-byte globs and labels that force backtracking.
        let a = UInt8(ascii: "a"), b = UInt8(ascii: "b"), s = UInt8(ascii: "*")
        let worst: [([UInt8], [UInt8])] = [
            ([s] + Array(repeating: a, count: 61) + [b], Array(repeating: a, count: 63)),
            (Array([[s, a]].joined()) + Array(repeating: a, count: 60) + [b], Array(repeating: a, count: 63)),
            (Array(repeating: [s, a], count: 31).flatMap { $0 } + [b], Array(repeating: a, count: 63)),
            ([s, s], Array(repeating: a, count: 63)),
            (Array(repeating: s, count: 63), Array(repeating: a, count: 63)),
            ([a, s] + Array(repeating: b, count: 61), Array(repeating: a, count: 2) + Array(repeating: b, count: 61)),
        ]
        for (g, l) in worst {
            let (m, steps) = TrieWalker.globMatchSteps(g, l)
            #expect(steps < TrieLimits.globMaxSteps, "\(steps) steps")
            #expect(m == FQDNPattern.globMatchesByTable(g, l))
        }
    }

    /// Malformed wire names are refused by the walk the way the kernel refuses them.
    @Test func malformedWire() throws {
        let trie = try CompiledTrie(patterns: [FQDNPattern(matchPattern: "*")], policy: 1)
        let bad: [[UInt8]] = [
            [], [1, 97], [3, 97, 0], [1, 97, 0, 0], [0, 0], [64] + Array(repeating: 97, count: 64) + [0],
            [0xC0, 12], Array(repeating: 0, count: 256),
            Array(repeating: [1, 97], count: 128).flatMap { $0 } + [0],  // 128 labels
        ]
        for w in bad {
            #expect(TrieWalker.walk(policy: 1, wire: w, in: trie).status == .malformedName, "\(w.prefix(8))")
        }
        let ok: [UInt8] = Array(repeating: [1, 97] as [UInt8], count: 127).flatMap { $0 } + [0]
        #expect(TrieWalker.walk(policy: 1, wire: ok, in: trie) == TrieWalkResult(status: .ok, hits: [1]))
        // An uppercase byte in the wire form is not a pattern character (input must be lowercase).
        #expect(TrieWalker.walk(policy: 1, wire: [1, 65, 0], in: trie) == TrieWalkResult(status: .ok))
        // Unknown policy: no root, no hits.
        #expect(TrieWalker.walk(policy: 2, wire: [1, 97, 0], in: trie) == TrieWalkResult(status: .ok))
    }

    /// Policies the bounded walk could not follow are refused at compile time, with the reason.
    @Test func boundsRefusedAtCompileTime() throws {
        let globs = try (0..<17).map { try FQDNPattern(matchPattern: "a\($0)*.example.com") }
        #expect(throws: TrieCompileError.tooManyGlobs(under: "example.com", count: 17, limit: 16)) {
            try CompiledTrie(patterns: globs, policy: 1)
        }
        // 16 globs under one node plus a `*`: 17 nodes could be active at one depth.
        let active = try (0..<16).map { try FQDNPattern(matchPattern: "a\($0)*.example.com") } + [FQDNPattern(matchPattern: "*.example.com")]
        #expect(throws: TrieCompileError.tooManyActive(depth: 3, worst: 17, limit: 16)) {
            try CompiledTrie(patterns: active, policy: 1)
        }
        // `**.` at 17 depths of one name.
        var chain: [FQDNPattern] = []
        var suffix = "com"
        for _ in 0..<17 {
            chain.append(try FQDNPattern(matchPattern: "**." + suffix))
            suffix = "a." + suffix
        }
        #expect(throws: TrieCompileError.tooManyHits(worst: 17, limit: 16)) { try CompiledTrie(patterns: chain, policy: 1) }
        #expect(throws: Never.self) { try CompiledTrie(patterns: Array(chain.prefix(16)), policy: 1) }
        let rules = try (0..<16).map { TrieRule(try FQDNPattern(matchName: "a.com"), tag: UInt32($0)) }
        #expect(throws: TrieCompileError.tooManyTags(pattern: "a.com", count: 16, limit: 15)) { try CompiledTrie(rules, policy: 1) }
    }

    /// The compiled form of a small policy, entry by entry.
    @Test func compiledShape() throws {
        let texts = ["api.example.com", "*.example.com", "**.example.com", "ap*.example.com", "*"]
        let trie = try CompiledTrie(patterns: texts.map { try FQDNPattern(matchPattern: $0) }, policy: 5)
        let root = try #require(trie.nodes[.root(5)])
        #expect(root.id == 0 && root.flags == [.exact, .multi] && root.depth == 0)
        let com = try #require(trie.nodes[TrieNodeKey(policy: 5, parent: 0, label: Array("com".utf8))])
        let example = try #require(trie.nodes[TrieNodeKey(policy: 5, parent: com.id, label: Array("example".utf8))])
        #expect(example.flags == [.star, .multi, .globs] && example.globSlots == 1 && example.depth == 2)
        #expect(trie.tags(ofSet: example.multiSet) == [2])
        let star = try #require(trie.nodes[TrieNodeKey(policy: 5, parent: example.id, label: Array("*".utf8))])
        #expect(star.flags == [.exact] && trie.tags(ofSet: star.exactSet) == [1])
        #expect(trie.globs[TrieGlobKey(policy: 5, parent: example.id, slot: 0)] == TrieGlob(label: Array("ap*".utf8)))
        #expect(trie.nodes[TrieNodeKey(policy: 5, parent: example.id, label: Array("ap*".utf8))] != nil)
        #expect(trie.nodes.count == 6 && trie.globs.count == 1 && trie.sets.count == 5)
        #expect(trie.entryCount == 12)
    }
}
