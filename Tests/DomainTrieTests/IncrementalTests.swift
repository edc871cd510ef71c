import FQDNTestSupport
import Testing

@testable import DomainTrie

/// Map-operation lists between versions, and the versioned switch.
@Suite struct IncrementalTests {
    /// A random edit of a rule list: removals, additions, re-tagging.
    static func edit(_ rules: [TrieRule], _ r: inout SeededRandom) -> [TrieRule] {
        var out = rules.filter { _ in Int.random(in: 0..<5, using: &r) != 0 }
        for i in out.indices where Int.random(in: 0..<10, using: &r) == 0 { out[i].tag = UInt32.random(in: 0..<20, using: &r) }
        for _ in 0..<Int.random(in: 0...4, using: &r) {
            out.append(TrieRule(try! FQDNPattern(matchPattern: RandomCases.patternText(&r)), tag: UInt32.random(in: 0..<20, using: &r)))
        }
        return out
    }

    static func rules(_ r: inout SeededRandom) -> [TrieRule] {
        RandomCases.patterns(&r, count: Int.random(in: 0...12, using: &r)).map { TrieRule($0, tag: UInt32.random(in: 0..<20, using: &r)) }
    }

    /// Entries that differ between two byte snapshots, counted independently of the diff code.
    static func differing(_ a: [TrieMap: [[UInt8]: [UInt8]]], _ b: [TrieMap: [[UInt8]: [UInt8]]]) -> Int {
        var n = 0
        for m in TrieMap.allCases {
            let x = a[m] ?? [:], y = b[m] ?? [:]
            for k in Set(x.keys).union(y.keys) where x[k] != y[k] { n += 1 }
        }
        return n
    }

    /// Applying the operations to a model of the maps holding the old version gives exactly the
    /// new version's entries; the list touches each differing entry once and nothing else.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func operationsTurnOldIntoNew(seed: UInt64) throws {
        var r = SeededRandom(seed: seed)
        var applied = 0
        for _ in 0..<300 {
            let oldRules = Self.rules(&r)
            let newRules = Self.edit(oldRules, &r)
            guard let old = try? CompiledTrie(oldRules, policy: 3),
                  let new = try? CompiledTrie(newRules, policy: 3, reusing: old) else { continue }
            let ops = TrieMapOperation.operations(from: old, to: new)
            var model = TrieMapModel([old])
            try model.apply(ops)
            #expect(model.entries == new.mapEntries)
            #expect(ops.count == Self.differing(old.mapEntries, new.mapEntries))
            #expect(Set(ops.map { [$0.map.rawValue.utf8.first!] + $0.key }).count == ops.count)
            // Recompiling without `reusing` may renumber, but matches the same names.
            let fresh = try CompiledTrie(newRules, policy: 3)
            for _ in 0..<5 {
                let name = RandomCases.name(&r, near: newRules.map(\.pattern))
                #expect(fresh.matchingTags(name) == new.matchingTags(name))
                #expect(TrieWalker.walk(policy: 3, wire: name.wire, in: model) == new.walk(name))
            }
            applied += 1
        }
        #expect(applied > 250)
    }

    /// Applied one at a time to a live trie, the in-place operations never make a name that
    /// both versions allow unmatched.
    @Test func inPlaceOrderKeepsCommonNamesMatched() throws {
        var r = SeededRandom(seed: 21)
        var observed = 0
        for _ in 0..<200 {
            let oldRules = Self.rules(&r)
            let newRules = Self.edit(oldRules, &r)
            guard let old = try? CompiledTrie(oldRules, policy: 1),
                  let new = try? CompiledTrie(newRules, policy: 1, reusing: old) else { continue }
            let names = (0..<12).map { _ in RandomCases.name(&r, near: (oldRules + newRules).map(\.pattern)) }
            let common = names.filter { old.matchingTags($0)?.isEmpty == false && new.matchingTags($0)?.isEmpty == false }
            var model = TrieMapModel([old])
            for op in TrieMapOperation.operations(from: old, to: new) {
                try model.apply(op)
                for name in common {
                    let w = TrieWalker.walk(policy: 1, wire: name.wire, in: model)
                    #expect(w.status == .ok && !w.hits.isEmpty, "\(name) unmatched mid-update")
                    observed += 1
                }
            }
        }
        #expect(observed > 1000)
    }

    /// Adding one name to a large policy costs a handful of operations, not a rebuild.
    @Test func smallChangeSmallDiff() throws {
        let base = try (0..<2000).map { TrieRule(try FQDNPattern(matchPattern: "h\($0).svc\($0 % 50).example.com"), tag: UInt32($0 % 7)) }
        let old = try CompiledTrie(base, policy: 1)
        let added = try CompiledTrie(base + [TrieRule(FQDNPattern(matchPattern: "*.new.example.com"), tag: 3)], policy: 1, reusing: old)
        let ops = TrieMapOperation.operations(from: old, to: added)
        // nodes "new" and "*", plus the update of "example" (no new set: tag 3 exists).
        #expect(ops.map(\.kind) == [.insert, .insert])
        let removed = try CompiledTrie(Array(base.dropLast()), policy: 1, reusing: old)
        let ops2 = TrieMapOperation.operations(from: old, to: removed)
        #expect(ops2.map(\.kind) == [.delete])
        #expect(try CompiledTrie(base, policy: 1, reusing: old) == old)
    }

    /// Single buffer: prepare under a fresh id never changes what the active id answers; after
    /// the flip the new id answers like the new version; cleanup leaves only the new entries.
    @Test func replaceTransition() throws {
        var r = SeededRandom(seed: 31)
        for round in 0..<100 {
            let oldRules = Self.rules(&r)
            let newRules = Self.edit(oldRules, &r)
            guard let active = try? CompiledTrie(oldRules, policy: 10),
                  let next = try? CompiledTrie(newRules, policy: 11) else { continue }
            let t = try TrieTransition.replace(active, with: next)
            #expect(t.from == 10 && t.to == 11)
            let names = (0..<10).map { _ in RandomCases.name(&r, near: (oldRules + newRules).map(\.pattern)) }
            var model = TrieMapModel([active])
            for op in t.prepare {
                try model.apply(op)
                if round % 10 == 0 {
                    for n in names { #expect(TrieWalker.walk(policy: 10, wire: n.wire, in: model) == active.walk(n)) }
                }
            }
            for n in names { #expect(TrieWalker.walk(policy: 11, wire: n.wire, in: model) == next.walk(n)) }
            try model.apply(t.cleanup)
            #expect(model.entries == next.mapEntries)
        }
        let a = try CompiledTrie([], policy: 4)
        #expect(throws: TrieTransition.PlanError.sameID(4)) { try TrieTransition.replace(a, with: a) }
    }

    /// Double buffer over a sequence of versions: two ids alternate; each prepare is only the
    /// difference to what the standby id still holds, and the maps always hold exactly the
    /// active and the standby version.
    @Test func swapTransitionsAlternate() throws {
        var r = SeededRandom(seed: 41)
        var rules = Self.rules(&r)
        var active = try CompiledTrie(rules, policy: 100)
        var standby: CompiledTrie? = nil
        var model = TrieMapModel([active])
        var totalPrepare = 0, totalEntries = 0
        for _ in 0..<60 {
            rules = Self.edit(rules, &r)
            let id: UInt32 = active.policy == 100 ? 101 : 100
            guard let next = try? CompiledTrie(rules, policy: id, reusing: standby) else { continue }
            let t = try TrieTransition.swap(active: active, standby: standby, next: next)
            let names = (0..<8).map { _ in RandomCases.name(&r, near: rules.map(\.pattern)) }
            for op in t.prepare {
                try model.apply(op)
            }
            for n in names { #expect(TrieWalker.walk(policy: active.policy, wire: n.wire, in: model) == active.walk(n)) }
            // flip
            for n in names { #expect(TrieWalker.walk(policy: next.policy, wire: n.wire, in: model) == next.walk(n)) }
            #expect(t.cleanup.isEmpty)
            totalPrepare += t.prepare.count
            totalEntries += next.entryCount
            standby = active
            active = next
            #expect(model == TrieMapModel([active, standby!]))
        }
        #expect(totalPrepare < totalEntries)
        #expect(throws: TrieTransition.PlanError.standbyID(standby: 100, next: 101)) {
            try TrieTransition.swap(active: nil, standby: try CompiledTrie([], policy: 100), next: try CompiledTrie([], policy: 101))
        }
    }
}
