import BPFMapBindings
import FQDNPolicyTesting
import Testing

@Suite("Pinning: maps and programs outlive their object; a second object adopts them", .kernel)
struct PinTests {
    @Test("pin maps, reopen by path, a second object adopts them and shares state")
    func pinAndAdopt() async throws {
        var pinDirectory = ""
        try await withBPFFSDirectory { dir in
            pinDirectory = dir
            // First "agent": load, pin, learn something.
            do {
                let first = try loadMapsObject(marker: 1)
                let pinned = try first.pinMaps(in: dir)
                #expect(pinned.sorted() == first.userMapNames.sorted())
                #expect(BPFFS.contents(of: dir).contains("hash"))
                try first.map("hash", as: BPFHashMap<UInt32, UInt64>.self).update(7, 42)
                try first.program("touch_maps").pin(at: dir + "/touch_maps")
            }  // the first object is gone; its pinned maps are not

            // Reopen by path, without any object.
            let reopened = try BPFHashMap<UInt32, UInt64>(BPFMap.openPinned(dir + "/hash"))
            #expect(try reopened.lookup(7) == 42)
            #expect(reopened.map.type == .hash && reopened.map.keySize == 4 && reopened.map.valueSize == 8)

            // Second "agent": adopt the pinned maps before load; its program writes into them.
            let second = try openObject("maps_test")
            try second.setConstant("marker", to: UInt64(2))
            let adopted = try second.adoptPinnedMaps(in: dir)
            #expect(adopted.contains("hash") && adopted.contains("percpu"))
            try second.load()
            let hash = try second.map("hash", as: BPFHashMap<UInt32, UInt64>.self)
            #expect(hash.map.id == reopened.map.id)
            #expect(try hash.lookup(7) == 42)
            _ = try second.program("touch_maps").testRun(data: frame(payload: 8))
            #expect(try reopened.lookup(50) == 2)   // written by the second object's program

            // Pinning again skips what is already pinned (same kernel map).
            #expect(try second.pinMaps(in: dir).isEmpty)

            // A typed view of the pinned map with the wrong layout fails at open.
            #expect(throws: BPFError.sizeMismatch(map: "hash (value)", expected: 4, actual: 8)) {
                try BPFHashMap<UInt32, UInt32>(BPFMap.openPinned(dir + "/hash"))
            }
        }
        #expect(!BPFFS.exists(pinDirectory), "pins left behind in \(pinDirectory)")
    }

    @Test("opening a missing pin is ENOENT")
    func missingPin() {
        #expect(throws: BPFError.syscall(op: "bpf_obj_get(/sys/fs/bpf/fqdn-no-such-pin)", errno: .noEntry)) {
            try BPFMap.openPinned("/sys/fs/bpf/fqdn-no-such-pin")
        }
    }

    @Test("bpffs is mounted (Scripts/setup.sh or BPFFS.ensureMounted)")
    func bpffsMounted() throws {
        try BPFFS.ensureMounted()
        #expect(BPFFS.isMounted())
    }
}
