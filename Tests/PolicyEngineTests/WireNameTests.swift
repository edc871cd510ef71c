import Testing

@testable import PolicyEngine

/// Names as the kernel keeps them: its hash and their presentation form.
struct WireNameTests {
    @Test func nameHashMatchesKernelDefinition() {
        // FNV-1a 64 of "\u{1}a\0": the kernel hashes the same bytes the same way.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b: UInt8 in [1, 0x61, 0] { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
        #expect(WireName.hash([1, 0x61, 0]) == h)
        #expect(WireName.text([3, 0x61, 0x70, 0x69, 4, 0x74, 0x65, 0x73, 0x74, 0]) == "api.test")
        #expect(WireName.text([0]) == ".")
    }
}
