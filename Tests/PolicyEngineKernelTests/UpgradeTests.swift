import BPFMapBindings
import CFQDNShared
import FQDNPolicyTesting
import Foundation
@testable import PolicyEngine
import Synchronization
import Testing

/// Upgrades of a pinned datapath (Documentation/Operations.md, "Upgrades"): an agent of this build finds the state
/// of an older agent. The older agent is played by objects built at test time from the same
/// sources for layout 1 (`-DFQDN_LAYOUT_VERSION=1`: 26 counters, no build id), loaded through
/// the same Swift code: real programs, real maps, real traffic.
@Suite(.serialized) struct UpgradeTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The attach-point objects compiled for layout 1 with the flags of the build plugin.
    static func layout1Objects() throws -> DatapathObjects {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-layout1-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var objects: [String: [UInt8]] = [:]
        for p in Datapath.Program.allCases {
            let out = dir.appendingPathComponent(p.rawValue + ".o").path
            let clang = Process()
            clang.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            clang.arguments = [
                "clang", "-target", "bpf", "-O2", "-g", "-Wall", "-DFQDN_LAYOUT_VERSION=1",
                "-I", root.appendingPathComponent("BPFPrograms/include").path, "-I", "/usr/include/x86_64-linux-gnu",
                "-c", root.appendingPathComponent("BPFPrograms/\(p.rawValue).bpf.c").path, "-o", out,
            ]
            try clang.run()
            clang.waitUntilExit()
            try #require(clang.terminationStatus == 0, "clang failed for the layout 1 \(p.rawValue)")
            objects[p.rawValue] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        let frozen = objects
        return DatapathObjects(layoutVersion: 1) { frozen[$0] }
    }

    /// web1.demo.test on TCP 80 (new connections) and 7000 (the held echo connection).
    static let web1Rule = EgressRule(toFQDNs: .names("web1.demo.test"), toPorts: [.tcp(80), .tcp(7000)])

    static let policy = FQDNPolicy.forApp("pod0", egress: [web1Rule], dns: DatapathTests.dnsNames)

    /// "endpoint name address" of every learned entry.
    static func learnedEntries(_ maps: DatapathMaps) throws -> Set<String> {
        var out = Set<String>()
        for n in try maps.learned() {
            for a in n.addresses { out.insert("\(n.endpoint) \(n.name) \(a.address)") }
        }
        return out
    }

    @Test(.kernel, .timeLimit(.minutes(5)))
    func layout1DatapathIsMigratedUnderTrafficWithNothingLost() async throws {
        let v1 = try Self.layout1Objects()
        try await Environment.with(policies: [Self.policy], objects: v1) { env in
            let pin = env.pinDirectory
            let counters = try BPFMap.openPinned(pin + "/maps/fq_counters")
            #expect(counters.maxEntries == 26, "the layout 1 agent pinned 26 counters")
            #expect(try env.agent.maps.metaRecord().layoutVersion == 1)

            // Learned by the layout 1 programs, and a connection held across the upgrade.
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
            #expect(try env.resolve("web1.demo.test", type: 28)?.rcode == 0)
            #expect(try env.connects("10.220.1.2"))
            #expect(try !env.connects("10.220.2.2"), "web2 was never answered: denied")
            let echo = try env.web1.namespace.perform { try EchoServer(port: 7000) }
            defer { echo.stop() }
            let held = try env.pods[0].namespace.perform { try EchoConnection(to: "10.220.1.2", port: 7000) }
            defer { held.close() }
            #expect(try held.roundTrip("before"))
            let learnedBefore = try Self.learnedEntries(env.agent.maps)
            let countersBefore = try await env.counters()
            // Layout 6 renamed the trie maps' pins: the same kernel maps must carry on.
            let trieIDs = try ["nodes", "globs", "sets"].map { try BPFMap.openPinned(pin + "/maps/fqdn_trie_\($0)").id }
            #expect(learnedBefore.count >= 2)

            // Traffic from the pod during the whole upgrade: allowed lookups and connections,
            // and the denied address, every 20 ms, counted on a thread of its own.
            let stop = Atomic<Bool>(false)
            let failures = Mutex<[String]>([])
            let rounds = Atomic<Int>(0)
            let traffic = Thread {
                while !stop.load(ordering: .relaxed) {
                    do {
                        if try env.resolve("web1.demo.test", timeout: 1)?.rcode != 0 { failures.withLock { $0.append("lookup") } }
                        if try !env.connects("10.220.1.2", timeout: 1) { failures.withLock { $0.append("allowed connect") } }
                        if try env.connects("10.220.2.2", timeout: 0.2) { failures.withLock { $0.append("denied connect succeeded") } }
                        if try !held.roundTrip("during") { failures.withLock { $0.append("held connection") } }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                    rounds.add(1, ordering: .relaxed)
                    usleep(20_000)
                }
            }
            traffic.start()
            // Until the traffic has done `n` rounds (10 s at most).
            func awaitRounds(_ n: Int) async throws {
                let deadline = ContinuousClock.now + .seconds(10)
                while rounds.load(ordering: .relaxed) < n, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            try await awaitRounds(2)
            let roundsBefore = rounds.load(ordering: .relaxed)
            let upgradeStart = ContinuousClock.now
            try await env.agent.shutdown()

            // This build's agent on the same pin directory: migrates, adopts, re-attaches.
            let agent = try PolicyAgent(configuration: .init(
                pinDirectory: pin, dnsServers: [DNSServer(env.dns.ipv4)!, DNSServer(env.dns.ipv6)!], flowGrace: 300))
            for (i, pod) in env.pods.enumerated() {
                try await agent.addEndpoint(Endpoint(
                    name: "pod\(i)", attachment: .veth(interface: pod.nodeInterface, namespace: env.topology.node.name),
                    labels: ["app": "pod\(i)"]))
            }
            try await agent.apply([Self.policy])
            let upgradeTime = ContinuousClock.now - upgradeStart
            let roundsAtUpgrade = rounds.load(ordering: .relaxed)
            try await awaitRounds(roundsAtUpgrade + 2)
            stop.store(true, ordering: .relaxed)
            while !traffic.isFinished { try await Task.sleep(for: .milliseconds(20)) }
            defer { try? Datapath.remove(pinDirectory: pin) }

            let upgrade = try #require(agent.datapath.upgrade, "the load reports the migration")
            #expect(upgrade.fromLayout == 1 && upgrade.toLayout == UInt32(FQDN_LAYOUT_VERSION))
            // fq_counters grew (values carried over); fq_inflight's value grew in layout 4 (it
            // starts empty: in-flight queries are not carried over).
            #expect(upgrade.migratedMaps.sorted() == ["fq_counters", "fq_inflight"])
            #expect(try BPFMap.openPinned(pin + "/maps/fq_inflight").valueSize == MemoryLayout<fqdn_inflight>.size)
            #expect(upgrade.linksSwitched == 4, "2 pods x 2 veth programs switched in place")
            #expect(try ["nodes", "globs", "sets"].map { try BPFMap.openPinned(pin + "/maps/fq_trie_\($0)").id } == trieIDs,
                    "the trie maps are the same maps under their new names")
            let oldNames = BPFFS.contents(of: pin + "/maps").filter { $0.hasPrefix("fqdn_") }
            #expect(oldNames.isEmpty, "no pin keeps an old name: \(oldNames)")
            #expect(try BPFMap.openPinned(pin + "/maps/fq_counters").maxEntries == Int(FQDN_CTR_COUNT.rawValue))
            let meta = try DatapathMaps.pinned(at: pin).metaRecord()
            #expect(meta.layoutVersion == UInt32(FQDN_LAYOUT_VERSION))
            #expect(meta.buildID == DatapathObjects.embedded.buildID)
            // What an operator sees after the upgrade: the layout and the programs' build id.
            let status = try runCommand([ResilienceTests.fqdnctl, "status", "--pin", pin]).stdout
            #expect(status.contains("(layout \(FQDN_LAYOUT_VERSION), programs \(String(format: "%08x", DatapathObjects.embedded.buildID)))"), "\(status)")

            let f = failures.withLock { $0 }
            // Rounds before and after the switch (the upgrade itself now takes about one round:
            // the programs load in well under a second).
            #expect(roundsBefore >= 2 && rounds.load(ordering: .relaxed) >= roundsAtUpgrade + 2,
                    "the traffic ran across the upgrade: \(roundsBefore) rounds before, \(roundsAtUpgrade) when it was done, \(rounds.load(ordering: .relaxed)) at the end")
            #expect(f.isEmpty, "failures during the upgrade: \(f.prefix(10))")
            let learnedAfter = try Self.learnedEntries(agent.maps)
            #expect(learnedBefore.isSubset(of: learnedAfter), "lost: \(learnedBefore.subtracting(learnedAfter))")
            let countersAfter = try await agent.counters()
            for c in [Counter.dnsQueries, .dnsResponses, .egressAllowedLearned, .egressDenied] {
                #expect((countersAfter[c] ?? 0) >= (countersBefore[c] ?? 0) && (countersAfter[c] ?? 0) > 0,
                        "\(c) carried over: \(countersBefore[c] ?? 0) -> \(countersAfter[c] ?? 0)")
            }
            print("upgrade 1 -> \(FQDN_LAYOUT_VERSION) in \(upgradeTime): \(rounds.load(ordering: .relaxed)) traffic rounds (lookup, allowed connect, denied connect, held echo), \(f.count) failures; \(learnedBefore.count) learned entries kept; dns queries \(countersBefore[.dnsQueries] ?? 0) -> \(countersAfter[.dnsQueries] ?? 0); \(upgrade)")
            // The new programs count into the migrated map.
            let q = countersAfter[.dnsQueries] ?? 0
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
            #expect((try await agent.counters()[.dnsQueries] ?? 0) > q)
            #expect(try held.roundTrip("after"))
            try await agent.shutdown()
        }
    }

    @Test(.kernel, .timeLimit(.minutes(2)))
    func unknownLayoutIsRefusedAndNothingChanges() async throws {
        try await Environment.with(policies: [Self.policy]) { env in
            let pin = env.pinDirectory
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
            let maps = try DatapathMaps.pinned(at: pin)
            var meta = try #require(try maps.meta.lookup(0))
            meta.layout_version = 99
            try maps.meta.update(0, meta)
            let learned = try Self.learnedEntries99(pin)
            let links = BPFFS.contents(of: pin + "/links").sorted()
            do {
                _ = try PolicyAgent(configuration: .init(pinDirectory: pin, dnsServers: [DNSServer(env.dns.ipv4)!]))
                Issue.record("a layout 99 datapath was adopted")
            } catch let error as DatapathError {
                let text = "\(error)"
                #expect(text.contains("layout version 99"), "\(text)")
                #expect(text.contains("no migration from layout 99"), "\(text)")
                #expect(text.contains("nothing was changed"), "\(text)")
            }
            #expect(try maps.meta.lookup(0)?.layout_version == 99)
            #expect(BPFFS.contents(of: pin + "/links").sorted() == links)
            #expect(try Self.learnedEntries99(pin) == learned)
            #expect(try env.connects("10.220.1.2"), "the pinned datapath still enforces and allows")
            meta.layout_version = UInt32(FQDN_LAYOUT_VERSION)
            try maps.meta.update(0, meta)
        }
    }

    /// Learned entries read without the layout check (the state claims layout 99).
    static func learnedEntries99(_ pin: String) throws -> Set<String> {
        var out = Set<String>()
        let map = try BPFMap.openPinned(pin + "/maps/fq_allow4")
        let allow4 = try BPFHashMap<fqdn_allow4_key, fqdn_allow>(map)
        for (k, v) in try allow4.entries() { out.insert("\(k.endpoint_id) \(k.addr.0).\(k.addr.1).\(k.addr.2).\(k.addr.3) \(v.name_hash)") }
        return out
    }
}
