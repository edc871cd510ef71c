import BPFMapBindings
import BPFTestObjects
import Foundation
import FQDNPolicyTesting
import Testing

/// Opens an embedded test object.
func openObject(_ name: String) throws -> BPFObject {
    let bytes = try #require(BPFTestObjects.named(name), "no embedded object \(name); known: \(BPFTestObjects.names)")
    return try BPFObject(bytes: bytes, name: name)
}

/// An Ethernet + IPv4 + UDP frame of `payload` bytes (contents irrelevant to the programs here).
func frame(payload: Int) -> [UInt8] {
    var f = [UInt8](repeating: 0, count: 14 + 20 + 8 + payload)
    f[12] = 0x08; f[13] = 0x00          // IPv4
    f[14] = 0x45                         // version 4, IHL 5
    let total = UInt16(20 + 8 + payload)
    f[16] = UInt8(total >> 8); f[17] = UInt8(total & 0xff)
    f[22] = 64; f[23] = 17               // TTL, UDP
    return f
}

@Suite("BPF objects: embed, open, load")
struct ObjectTests {
    @Test("the build plugin embedded the test objects")
    func embedded() throws {
        #expect(BPFTestObjects.names.contains("bindings_test"))
        #expect(BPFTestObjects.names.contains("verifier_reject_test"))
        let bytes = try #require(BPFTestObjects.named("bindings_test"))
        #expect(bytes.starts(with: [0x7f, 0x45, 0x4c, 0x46]))  // ELF magic
        #expect(BPFTestObjects.named("no_such_program") == nil)
    }

    @Test("open lists programs and maps without a kernel")
    func inventory() throws {
        let object = try openObject("bindings_test")
        #expect(object.programNames == ["count_packets"])
        #expect(object.mapNames.contains("counts"))
    }

    @Test("garbage bytes are an invalid object, not a crash")
    func garbage() {
        #expect(throws: BPFError.self) { try BPFObject(bytes: [1, 2, 3, 4], name: "garbage") }
    }

    @Test("testRun returns the configured verdict and the map records the run", .kernel)
    func testRunAndMapSideEffect() throws {
        let object = try openObject("bindings_test")
        try object.setConstant("verdict", to: UInt32(2))   // TC_ACT_SHOT
        try object.setConstant("len_bias", to: UInt64(1000))
        try object.load()
        let program = try object.program("count_packets")
        #expect(program.type == .schedCls)

        let packet = frame(payload: 20)
        let result = try program.testRun(data: packet, repeat: 5)
        #expect(result.returnValue == 2)
        #expect(result.data == packet)
        #expect(result.duration > .zero)

        let counts = try object.map("counts", as: BPFArrayMap<UInt64>.self)
        #expect(try counts.lookup(0) == 5)
        #expect(try counts.lookup(1) == UInt64(packet.count) + 1000)
        #expect(try counts.lookup(4) == nil)   // out of range: nil, not an error

        // Swift writes, the program reads and adds: the kernel sees Swift's value.
        try counts.update(0, 100)
        _ = try program.testRun(data: packet)
        #expect(try counts.lookup(0) == 101)
    }

    @Test("setting a constant of the wrong size is a size mismatch", .kernel)
    func constantSizeMismatch() throws {
        let object = try openObject("bindings_test")
        #expect(throws: BPFError.sizeMismatch(map: ".rodata:verdict", expected: 8, actual: 4)) {
            try object.setConstant("verdict", to: UInt64(1))
        }
        #expect(throws: BPFError.notFound(kind: "global variable", name: "nope in bindings_test")) {
            try object.setConstant("nope", to: UInt32(1))
        }
    }

    @Test("a typed view with the wrong value size fails at open", .kernel)
    func viewSizeMismatch() throws {
        let object = try openObject("bindings_test")
        try object.load()
        #expect(throws: BPFError.sizeMismatch(map: "counts (value)", expected: 4, actual: 8)) {
            try object.map("counts", as: BPFArrayMap<UInt32>.self)
        }
        #expect(throws: BPFError.self) {
            try object.map("counts", as: BPFHashMap<UInt32, UInt64>.self)
        }
    }

    /// libbpf renames a map adopted with bpf_map__reuse_fd to the kernel map's name; the
    /// object must keep calling it by its own name (an upgrade that renamed a map adopts the
    /// old kernel map under the new name, and pins it there, never under the old one).
    @Test("a map adopted from a map of another name keeps the object's name", .kernel)
    func adoptedMapKeepsItsName() async throws {
        let maker = try openObject("maps_test")
        try maker.load()
        let kernelMap = try maker.map("array")
        let adopter = try openObject("bindings_test")
        try adopter.setMaxEntries("counts", 8)  // the shape of maps_test's `array`
        try adopter.reuseMap("counts", kernelMap)
        try adopter.load()
        #expect(adopter.userMapNames == ["counts"])
        let adopted = try adopter.map("counts")
        #expect(adopted.id == kernelMap.id, "the same kernel map")
        #expect(adopted.name == "counts")
        #expect(throws: BPFError.self) { try adopter.map("array") }
        let pinned = try await withBPFFSDirectory { dir throws -> ([String], [String]) in
            (try adopter.pinMaps(in: dir), BPFFS.contents(of: dir))
        }
        #expect(pinned.0 == ["counts"] && pinned.1 == ["counts"], "pinned under the object's name: \(pinned)")
    }

    @Test("a verifier rejection carries the program name and the verifier log", .kernel)
    func verifierRejection() throws {
        let object = try openObject("verifier_reject_test")
        let error = #expect(throws: BPFError.self) { try object.load() }
        guard case let .verifier(program, log)? = error else {
            Issue.record("expected a verifier rejection, got \(String(describing: error))")
            return
        }
        #expect(program == "missing_null_check")
        #expect(log.contains("map_value_or_null"), "log was:\n\(log)")
        #expect(log.contains("processed") || log.contains("R0"), "log was:\n\(log)")
        // What an operator reads: the program, this kernel, the verifier's reason, a few lines.
        let text = "\(error!)"
        let release = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        #expect(text.hasPrefix("verifier rejected program missing_null_check on Linux \(release):"), "\(text)")
        #expect(text.contains("invalid mem access 'map_value_or_null'"), "\(text)")
        #expect(text.split(separator: "\n").count <= 7, "\(text)")
    }

    /// The summary keeps the lines before the statistics (instruction and reason, as the 6.12
    /// kernel printed them in the kernel matrix, Documentation/KernelMatrix.md "D") and the
    /// `processed` line; a long log's head is replaced by a count.
    @Test func verifierSummaryKeepsTheReason() {
        let head = (0..<200).map { "\($0): (bf) r\($0 % 10) = r1 ; R1_w=ctx() sz=\($0)" }
        let log = (head + [
            "213: (85) call bpf_skb_load_bytes#26",
            "R4 invalid zero-sized read: u64=[0,65527]",
            "processed 12345 insns (limit 1000000) max_states_per_insn 4 total_states 800 peak_states 700 mark_read 30",
            "",
        ]).joined(separator: "\n")
        let summary = BPFError.verifierSummary(log, lines: 2)
        #expect(summary == """
              (200 earlier lines of the log omitted)
              213: (85) call bpf_skb_load_bytes#26
              R4 invalid zero-sized read: u64=[0,65527]
              processed 12345 insns (limit 1000000) max_states_per_insn 4 total_states 800 peak_states 700 mark_read 30
            """)
        #expect(BPFError.verifierSummary("only line") == "  only line")
    }
}
