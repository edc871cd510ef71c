import BPFMapBindings
import FQDNPolicyTesting
import Glibc
import Synchronization
import Testing

/// `struct maps_test_event` of BPFPrograms/tests/maps_test.bpf.c.
struct MapsTestEvent: BPFPlainData, Sendable, Equatable {
    var seq: UInt32
    var len: UInt32
    var marker: UInt64
}

/// `struct maps_test_lpm_key`: prefix length in bits, then the IPv4 address.
struct LPMKey: BPFPlainData {
    var prefixLength: UInt32
    var address: (UInt8, UInt8, UInt8, UInt8)
    init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, prefix: UInt32) {
        prefixLength = prefix
        address = (a, b, c, d)
    }
}

func loadMapsObject(marker: UInt64 = 0xfeed) throws -> BPFObject {
    let object = try openObject("maps_test")
    try object.setConstant("marker", to: marker)
    try object.load()
    return object
}

@Suite("Typed maps: every map type, round trips against the kernel", .kernel)
struct MapTests {
    @Test("hash: lookup nil, update policies, delete, iteration, batches")
    func hash() throws {
        let object = try loadMapsObject()
        let hash = try object.map("hash", as: BPFHashMap<UInt32, UInt64>.self)
        #expect(try hash.lookup(1) == nil)
        try hash.update(1, 10)
        #expect(try hash.lookup(1) == 10)
        #expect(throws: BPFError.syscall(op: "bpf_map_update_elem(hash)", errno: .exists)) {
            try hash.update(1, 11, policy: .noExist)
        }
        try hash.update(1, 12, policy: .exist)
        #expect(try hash.lookup(1) == 12)
        #expect(throws: BPFError.syscall(op: "bpf_map_update_elem(hash)", errno: .noEntry)) {
            try hash.update(2, 1, policy: .exist)
        }
        #expect(try hash.delete(1))
        #expect(try hash.delete(1) == false)

        try hash.update(batch: (100..<120).map { (UInt32($0), UInt64($0) * 2) })
        #expect(try hash.keys().sorted() == Array(100..<120))
        #expect(try hash.entries().allSatisfy { $0.value == UInt64($0.key) * 2 })
        let batch = try hash.lookupBatch(chunk: 7)
        #expect(batch.count == 20)
        #expect(batch.allSatisfy { $0.value == UInt64($0.key) * 2 })
        try hash.delete(batch: (100..<110).map { UInt32($0) })
        #expect(try hash.keys().sorted() == Array(110..<120))
    }

    @Test("LRU hash: full map evicts instead of failing")
    func lruHash() throws {
        let object = try loadMapsObject()
        let lru = try object.map("lru", as: BPFHashMap<UInt32, UInt64>.self)
        #expect(lru.map.type == .lruHash)
        for i in 0..<UInt32(200) { try lru.update(i, UInt64(i)) }
        let keys = try lru.keys()
        #expect(keys.count <= lru.map.maxEntries)
        #expect(!keys.isEmpty)
        #expect(try lru.lookup(199) == 199)   // the newest survives
    }

    @Test("array: every slot exists, writes round-trip, delete is refused")
    func array() throws {
        let object = try loadMapsObject()
        let array = try object.map("array", as: BPFArrayMap<UInt64>.self)
        #expect(try array.keys() == Array(0..<8))
        #expect(try array.lookup(3) == 0)
        try array.update(3, 33)
        #expect(array[3] == 33)
        #expect(try array.lookup(8) == nil)
        #expect(throws: BPFError.self) { try array.delete(3) }
        try array.update(batch: [(0, 1), (1, 2)])
        #expect(try array.lookup(1) == 2)
    }

    @Test("per-CPU array: per-CPU view and sum of what the program counted")
    func perCPUArray() throws {
        let object = try loadMapsObject()
        let percpu = try object.map("percpu", as: BPFPerCPUArrayMap<UInt64>.self)
        let program = try object.program("touch_maps")
        for _ in 0..<10 { _ = try program.testRun(data: frame(payload: 1)) }
        #expect(try percpu.sum(at: 0) == 10)
        #expect(try percpu.values(at: 0)?.count == BPFMap.possibleCPUs)

        try percpu.update(0, allCPUs: 0)
        #expect(try percpu.sum(at: 0) == 0)
        let perCPU = (0..<BPFMap.possibleCPUs).map { UInt64($0 + 1) }
        try percpu.update(1, perCPU: perCPU)
        #expect(try percpu.values(at: 1) == perCPU)
        #expect(try percpu.sum(at: 1) == perCPU.reduce(0, +))
        #expect(try percpu.values(at: 2) == nil)
    }

    @Test("per-CPU hash: per-CPU values, sum, delete")
    func perCPUHash() throws {
        let object = try loadMapsObject()
        let map = try object.map("percpu_hash", as: BPFPerCPUHashMap<UInt32, UInt64>.self)
        #expect(try map.values(5) == nil)
        try map.update(5, perCPU: Array(repeating: 3, count: BPFMap.possibleCPUs))
        #expect(try map.sum(5) == UInt64(3 * BPFMap.possibleCPUs))
        #expect(try map.keys() == [5])
        #expect(try map.delete(5))
    }

    @Test("LPM trie: the longest prefix wins")
    func lpmTrie() throws {
        let object = try loadMapsObject()
        let lpm = try object.map("lpm", as: BPFLPMTrie<LPMKey, UInt32>.self)
        try lpm.update(LPMKey(10, 0, 0, 0, prefix: 8), 1)
        try lpm.update(LPMKey(10, 1, 0, 0, prefix: 16), 2)
        #expect(try lpm.lookup(LPMKey(10, 1, 2, 3, prefix: 32)) == 2)
        #expect(try lpm.lookup(LPMKey(10, 2, 0, 1, prefix: 32)) == 1)
        #expect(try lpm.lookup(LPMKey(11, 0, 0, 1, prefix: 32)) == nil)
        #expect(try lpm.keys().count == 2)
        #expect(try lpm.delete(LPMKey(10, 1, 0, 0, prefix: 16)))
        #expect(try lpm.lookup(LPMKey(10, 1, 2, 3, prefix: 32)) == 1)
    }

    @Test("sockmap and sockhash: insert a TCP socket, read its cookie, delete")
    func sockMaps() throws {
        let object = try loadMapsObject()
        let (client, server) = try Sockets.tcpLoopbackPair()
        defer { close(client); close(server) }
        let cookie = try socketCookie(server)

        let sockmap = try object.map("sockmap", as: BPFSockMap<UInt32>.self)
        try sockmap.insert(socket: server, at: 2)
        #expect(try sockmap.cookie(at: 2) == cookie)
        #expect(try sockmap.cookie(at: 1) == nil)
        #expect(try sockmap.delete(2))

        let sockhash = try object.map("sockhash", as: BPFSockMap<UInt32>.self)
        try sockhash.insert(socket: server, at: 77)
        #expect(try sockhash.keys() == [77])
        #expect(try sockhash.cookie(at: 77) == cookie)
        #expect(try sockhash.delete(77))
        #expect(try sockhash.keys().isEmpty)
    }

    @Test("ring buffer: drain and AsyncSequence of typed events")
    func ringBuffer() async throws {
        let object = try loadMapsObject(marker: 0xabcdef)
        let program = try object.program("touch_maps")
        let ring = try object.map("events", as: BPFRingBuffer<MapsTestEvent>.self)

        for payload in [10, 20, 30] { _ = try program.testRun(data: frame(payload: payload)) }
        let drained = try ring.drain()
        #expect(drained.map(\.len) == [52, 62, 72])
        #expect(drained.allSatisfy { $0.marker == 0xabcdef })
        #expect(try ring.drain().isEmpty)

        let events = try ring.events(pollInterval: .milliseconds(20))
        for payload in [1, 2, 3] { _ = try program.testRun(data: frame(payload: payload)) }
        var received: [MapsTestEvent] = []
        for try await event in events {
            received.append(event)
            if received.count == 3 { break }
        }
        #expect(received.map(\.len) == [43, 44, 45])
    }

    /// A consumer that falls behind: the sequence reads ahead by at most `bufferLimit`, the
    /// backlog stays in the kernel's ring (64 KiB: 2,730 records of 24 bytes), and the kernel
    /// refuses what does not fit there. With 2 x 2,000 events and a consumer that reads only
    /// at the end, the reader holds the first 64 and the ring the next 2,730: 2,794 arrive (all
    /// of the first batch, 794 of the second), in order, none dropped in userspace. (An unbounded reader would have taken all of the
    /// first batch, leaving room in the ring for all of the second: 4,000.)
    @Test("a stalled consumer: bounded read-ahead, the backlog waits in the kernel's ring")
    func ringBufferBackpressure() async throws {
        let object = try loadMapsObject(marker: 7)
        let program = try object.program("touch_maps")
        let ring = try object.map("events", as: BPFRingBuffer<MapsTestEvent>.self)
        let events = try ring.events(pollInterval: .milliseconds(10), bufferLimit: 64)
        // Two batches told apart by packet length (each run counts `seq` on its own CPU).
        let first = frame(payload: 1), second = frame(payload: 2)
        _ = try program.testRun(data: first, repeat: 2000)
        try await Task.sleep(for: .milliseconds(500))  // the poll thread reads ahead its 64
        _ = try program.testRun(data: second, repeat: 2000)
        try await Task.sleep(for: .milliseconds(200))

        // Read everything (the reader task may be starved by other suites: wait for the count,
        // then for a second of quiet in which an unbounded reader's surplus would arrive).
        let received = Mutex<[MapsTestEvent]>([])
        let reader = Task {
            for try await e in events { received.withLock { $0.append(e) } }
        }
        var deadline = ContinuousClock.now + .seconds(60)
        while received.withLock({ $0.count }) < 2730, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        var last = -1
        deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let n = received.withLock { $0.count }
            if n == last { break }
            last = n
            try await Task.sleep(for: .seconds(1))
        }
        reader.cancel()
        _ = await reader.result
        let got = received.withLock { $0 }
        let batch1 = got.prefix { $0.len == UInt32(first.count) }
        let batch2 = got.dropFirst(batch1.count)
        // 2,794 when the reader had read ahead its 64 before the second batch (the usual case),
        // down to 2,730 when it had not yet; never more.
        #expect((2730...2794).contains(got.count), "\(got.count) events")
        #expect(batch1.count == 2000, "all of the first batch: read ahead or held by the ring")
        #expect(batch2.allSatisfy { $0.len == UInt32(second.count) } && got.count - batch1.count == batch2.count,
                "then the second batch as far as the ring had room")
        for batch in [Array(batch1), Array(batch2)] where !batch.isEmpty {
            #expect(zip(batch, batch.dropFirst()).allSatisfy { $1.seq == $0.seq &+ 1 }, "in order, no gap")
        }
        #expect(try ring.drain().isEmpty, "the reader took everything the ring held")
    }

    @Test("a ring buffer event type larger than the records ends the sequence with a size mismatch")
    func ringBufferSizeMismatch() throws {
        struct TooBig: BPFPlainData, Sendable { var a: UInt64; var b: UInt64; var c: UInt64 }
        let object = try loadMapsObject()
        _ = try object.program("touch_maps").testRun(data: frame(payload: 1))
        let ring = try object.map("events", as: BPFRingBuffer<TooBig>.self)
        #expect(throws: BPFError.sizeMismatch(map: "events (event)", expected: 24, actual: 16)) {
            try ring.drain()
        }
    }

    @Test("wrong map types are refused when the view is made")
    func wrongTypes() throws {
        let object = try loadMapsObject()
        #expect(throws: BPFError.wrongMapType(map: "hash", expected: "array", actual: "hash")) {
            try object.map("hash", as: BPFArrayMap<UInt64>.self)
        }
        #expect(throws: BPFError.sizeMismatch(map: "lpm (key)", expected: 4, actual: 8)) {
            try object.map("lpm", as: BPFLPMTrie<UInt32, UInt32>.self)
        }
    }
}
