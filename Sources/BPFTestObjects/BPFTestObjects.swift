import BPFObjects

/// The harness objects compiled from `BPFPrograms/tests/*.bpf.c` (the DNS parser's and the trie
/// walk's differential harnesses, the bindings' test programs, the datapath benchmark), for
/// tests, benchmarks and developer tools; the library links only ``BPFObjects``.
///
/// ```swift
/// let object = try BPFObject(bytes: BPFTestObjects.named("parser_test")!, name: "parser_test")
/// ```
public enum BPFTestObjects {
    /// The ELF bytes of the object built from `tests/<name>.bpf.c`, or nil when there is none.
    public static func named(_ name: String) -> [UInt8]? {
        base64(name).map(BPFObjects.decode)
    }
}
