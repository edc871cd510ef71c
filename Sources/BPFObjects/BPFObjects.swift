/// The production BPF objects, compiled from `BPFPrograms/*.bpf.c` by the build plugin and
/// embedded in the binary (base64 in a `StaticString`, decoded on use). The harnesses of
/// `BPFPrograms/tests/` are in `BPFTestObjects`, which the library does not link.
///
/// ```swift
/// let object = try BPFObject(bytes: BPFObjects.named("veth_ingress")!, name: "veth_ingress")
/// ```
public enum BPFObjects {
    /// The ELF bytes of the object built from `<name>.bpf.c`, or nil when there is none.
    public static func named(_ name: String) -> [UInt8]? {
        base64(name).map(decode)
    }

    /// The bytes of an embedded object (shared with BPFTestObjects).
    package static func decode(_ encoded: StaticString) -> [UInt8] {
        encoded.withUTF8Buffer { decodeBase64($0) }
    }

    /// Standard base64 (with `=` padding), as BPFEmbed writes it. Foundation-free on purpose.
    static func decodeBase64(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            default: continue  // '=' padding
            }
            accumulator = accumulator << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
