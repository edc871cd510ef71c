import ArgumentParser
import DomainTrie
import FQDNKernel

/// `match --kernel`: the BPF trie walk (BPFPrograms/include/trie.h) through BPF_PROG_TEST_RUN
/// on its test program, with the compiled trie loaded into that program's own maps (nothing
/// pinned or attached; the maps go away with the process).
enum KernelMatch {
    static func walk(_ trie: CompiledTrie, _ names: [DomainName]) throws -> [TrieWalkResult] {
        let kernel = try KernelTrie()
        try kernel.load(trie)
        return try names.map { try kernel.walk(trie, $0) }
    }
}
