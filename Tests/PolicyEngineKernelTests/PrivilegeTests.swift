import BPFMapBindings
import FQDNPolicyTesting
import Foundation
@testable import PolicyEngine
import Testing

/// `fqdnctl agent` without the privileges loading needs (Documentation/Operations.md): the
/// real binary, run by root with its privileges dropped by `setpriv`.
@Suite(.serialized) struct PrivilegeTests {
    /// Ways to run without privileges: an unprivileged user, and root without capabilities.
    static let unprivileged: [[String]] = [
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
        ["setpriv", "--inh-caps=-all", "--bounding-set=-all"],
    ]

    @Test(.kernel, .timeLimit(.minutes(2)))
    func agentWithoutPrivilegesIsRefusedAndChangesNothing() async throws {
        let policyFile = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-priv-\(getpid()).yaml")
        try PolicyDocument.yaml([UpgradeTests.policy]).write(to: policyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policyFile) }
        chmod(policyFile.path, 0o644)  // readable by the unprivileged user

        try await Environment.with(policies: [UpgradeTests.policy]) { env in
            #expect(try env.resolve("web1.demo.test")?.rcode == 0)
            let fresh = env.pinDirectory + "-fresh"
            let linksBefore = BPFFS.contents(of: env.pinDirectory + "/links").sorted()
            let metaBefore = try env.agent.maps.metaRecord()
            let learnedBefore = try UpgradeTests.learnedEntries(env.agent.maps)
            for prefix in Self.unprivileged {
                for pin in [fresh, env.pinDirectory] {
                    let r = try runCommand(prefix + [
                        ResilienceTests.fqdnctl, "agent", "--policy", policyFile.path,
                        "--endpoint", "pod0:iface=\(env.pods[0].nodeInterface),netns=\(env.topology.node.name),labels=app=pod0",
                        "--dns-server", env.dns.ipv4, "--pin", pin,
                    ], check: false)
                    #expect(r.status == 1, "\(r)")
                    #expect(r.stderr.contains("needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN"), "\(r)")
                    #expect(r.stderr.contains("nothing was loaded or changed"), "\(r)")
                    #expect(!r.stderr.contains("libbpf"), "refused before libbpf runs: \(r)")
                }
                #expect(!FileManager.default.fileExists(atPath: fresh), "no pin directory made by \(prefix)")
            }
            // The running datapath was not touched and still enforces.
            #expect(BPFFS.contents(of: env.pinDirectory + "/links").sorted() == linksBefore)
            #expect(try env.agent.maps.metaRecord() == metaBefore)
            #expect(try UpgradeTests.learnedEntries(env.agent.maps) == learnedBefore)
            #expect(try env.connects("10.220.1.2"))
            #expect(try !env.connects("10.220.2.2"))
        }
    }

    /// `ip netns exec NS fqdnctl agent` sees a private /sys (no bpffs, no cgroup2): refused with
    /// the reason and the way out, before anything is made.
    @Test(.kernel, .timeLimit(.minutes(2)))
    func agentUnderIpNetnsExecIsRefusedClearly() async throws {
        let policyFile = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-netns-\(getpid()).yaml")
        try PolicyDocument.yaml([UpgradeTests.policy]).write(to: policyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policyFile) }
        try await withNetworkFixture { fixture in
            let ns = try fixture.makeNamespace()
            let pin = "/sys/fs/bpf/fqdn-netns-exec-\(getpid())"
            let args = [ResilienceTests.fqdnctl, "agent", "--policy", policyFile.path,
                        "--endpoint", "pod0:iface=lo,labels=app=pod0", "--dns-server", "10.0.0.53", "--pin", pin]
            let r = try runCommand(["ip", "netns", "exec", ns.name] + args, check: false)
            #expect(r.status == 1, "\(r)")
            #expect(r.stderr.contains("runs under `ip netns exec \(ns.name)`"), "\(r)")
            #expect(r.stderr.contains("nsenter --net=/var/run/netns/\(ns.name)"), "\(r)")
            #expect(r.stderr.contains("nothing was loaded or changed"), "\(r)")
            #expect(!FileManager.default.fileExists(atPath: pin), "no pin directory made")
            _ = try? runCommand(["rm", "-rf", pin], check: false)
        }
    }
}
