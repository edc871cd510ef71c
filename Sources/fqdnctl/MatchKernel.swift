import ArgumentParser
import DomainTrie

/// `match --kernel`: the BPF trie walk through BPF_PROG_TEST_RUN.
enum KernelMatch {
    static func walk(_ trie: CompiledTrie, _ names: [DomainName]) throws -> [TrieWalkResult] {
        throw ValidationError("--kernel is not available in this build yet")
    }
}
