import CFQDNShared
import Testing

@testable import DomainTrie

/// The Swift view of section 3 of fqdn_shared.h has the sizes the C side asserts.
@Suite struct LayoutTests {
    @Test func sizes() {
        #expect(MemoryLayout<fqdn_trie_key>.size == 80)
        #expect(MemoryLayout<fqdn_trie_node>.size == 16)
        #expect(MemoryLayout<fqdn_trie_glob_key>.size == 12)
        #expect(MemoryLayout<fqdn_trie_glob>.size == 72)
        #expect(MemoryLayout<fqdn_trie_set_key>.size == 8)
        #expect(MemoryLayout<fqdn_trie_set>.size == 64)
        #expect(MemoryLayout<fqdn_trie_query>.size == 268)
        #expect(MemoryLayout<fqdn_trie_result>.size == 72)
    }

    @Test func offsets() {
        #expect(MemoryLayout<fqdn_trie_key>.offset(of: \.label) == 16)
        #expect(MemoryLayout<fqdn_trie_glob>.offset(of: \.label) == 8)
        #expect(MemoryLayout<fqdn_trie_node>.offset(of: \.flags) == 12)
        #expect(MemoryLayout<fqdn_trie_query>.offset(of: \.name) == 8)
        #expect(MemoryLayout<fqdn_trie_result>.offset(of: \.hits) == 8)
    }

    @Test func keyBytesAreExact() {
        let k = TrieNodeKey(policy: 7, parent: 3, label: Array("api".utf8))
        let b = TrieBytes.of(k.c)
        #expect(b.count == 80)
        #expect(b[0..<4] == [7, 0, 0, 0])
        #expect(b[4..<8] == [3, 0, 0, 0])
        #expect(b[8] == 3)
        #expect(b[9..<16].allSatisfy { $0 == 0 })
        #expect(Array(b[16..<19]) == Array("api".utf8))
        #expect(b[19...].allSatisfy { $0 == 0 })
        #expect(TrieNodeKey(TrieBytes.load(b, as: fqdn_trie_key.self, zero: fqdn_trie_key())!) == k)
    }
}
