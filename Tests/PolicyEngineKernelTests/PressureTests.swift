import FQDNPolicyTesting
import Foundation
@testable import PolicyEngine
import Synchronization
import Testing

/// Policy churn under load (Documentation/Operations.md): 10,000 policy updates while a pod resolves
/// and connects without pause.
@Suite(.serialized) struct PressureTests {
    /// Two policy versions that differ in what they allow besides web1: B also lets the pod
    /// query rogue.demo.test and reach web2 on 8080; rule order and names differ too. Both allow
    /// web1.demo.test (DNS and TCP 80, 7000).
    static func version(_ b: Bool) -> FQDNPolicy {
        let web2 = EgressRule(toFQDNs: .patterns("web2.*.test"), toPorts: [.tcp(8080)])
        // A: DNS for web1 and web2 only (rogue.demo.test refused in the kernel); B: *.demo.test.
        let second: FQDNSelector = b ? .matchPattern("*.demo.test") : .matchName("web2.demo.test")
        return .forApp("pod0", name: b ? "churn-b" : "churn-a", egress: b ? [web2, UpgradeTests.web1Rule] : [UpgradeTests.web1Rule],
                       dns: [.matchName("web1.demo.test"), second])
    }

    @Test(.kernel, .timeLimit(.minutes(8)))
    func tenThousandPolicyUpdatesUnderDNSLoad() async throws {
        let a = [Self.version(false)], b = [Self.version(true)]
        try await Environment.with(policies: a) { env in
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
            #expect(try env.resolve("rogue.demo.test")?.rcode == 5, "version A refuses rogue in the kernel")
            let echo = try env.web1.namespace.perform { try EchoServer(port: 7000) }
            defer { echo.stop() }
            let held = try env.pods[0].namespace.perform { try EchoConnection(to: "10.220.1.2", port: 7000) }
            defer { held.close() }
            #expect(try held.roundTrip("before"))

            let stop = Atomic<Bool>(false)
            let failures = Mutex<[String]>([])
            let queries = Atomic<Int>(0), connects = Atomic<Int>(0), echoes = Atomic<Int>(0)
            let traffic = Thread {
                var i = 0
                while !stop.load(ordering: .relaxed) {
                    do {
                        let r = try env.resolve("web1.demo.test", timeout: 1)
                        if r?.rcode != 0 { failures.withLock { $0.append("lookup: \(r.map { "rcode \($0.rcode)" } ?? "timeout")") } }
                        queries.add(1, ordering: .relaxed)
                        if i % 10 == 0 {
                            if try !env.connects("10.220.1.2", timeout: 1) { failures.withLock { $0.append("allowed connect") } }
                            connects.add(1, ordering: .relaxed)
                            if try !held.roundTrip("x") { failures.withLock { $0.append("held connection") } }
                            echoes.add(1, ordering: .relaxed)
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                    i += 1
                }
            }
            traffic.start()
            let clock = ContinuousClock()
            let start = clock.now
            var controls = 0
            for i in 0..<10_000 {
                let useB = i % 2 == 0
                try await env.agent.apply(useB ? b : a)
                // The updates take effect: rogue.demo.test is answered under B, refused under A.
                if i % 500 == 0 || i % 500 == 1 {
                    let r = try env.resolve("rogue.demo.test")
                    #expect(r?.rcode == (useB ? 0 : 5), "update \(i) (\(useB ? "B" : "A")): rogue got \(r.map { "rcode \($0.rcode)" } ?? "timeout")")
                    controls += 1
                }
            }
            let elapsed = clock.now - start
            stop.store(true, ordering: .relaxed)
            while !traffic.isFinished { try await Task.sleep(for: .milliseconds(20)) }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let f = failures.withLock { $0 }
            print("[pressure] 10,000 policy updates in \(String(format: "%.1f", seconds)) s (\(String(format: "%.0f", 10_000 / seconds))/s) under load: \(queries.load(ordering: .relaxed)) allowed queries (\(String(format: "%.0f", Double(queries.load(ordering: .relaxed)) / seconds)) qps), \(connects.load(ordering: .relaxed)) new connections, \(echoes.load(ordering: .relaxed)) echoes on a held connection, \(f.count) failures; \(controls) control lookups followed the version")
            #expect(f.isEmpty, "failures under policy churn: \(f.prefix(10))")
            #expect(queries.load(ordering: .relaxed) >= 1000)
            #expect(try held.roundTrip("after"))
            let c = try await env.counters()
            #expect(c[.learnFailed] == 0)
        }
    }
}
