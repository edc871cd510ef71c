import ArgumentParser
import Foundation
import PolicyEngine

/// Options shared by the commands that read a pinned datapath.
struct PinOptions: ParsableArguments {
    @Option(name: .long, help: "bpffs directory of the pinned datapath.")
    var pin: String = "/sys/fs/bpf/fqdnpolicy"

    func maps() throws -> DatapathMaps {
        do {
            return try DatapathMaps.pinned(at: pin)
        } catch {
            log("error: \(error)")
            throw ExitCode(1)
        }
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `fqdnctl status`: endpoints, policy versions, trusted servers of a pinned datapath.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the pinned datapath: endpoints, policy versions, DNS servers (no agent needed).")

    @OptionGroup var options: PinOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    struct Report: Encodable {
        var pinDirectory: String
        var layoutVersion: UInt32
        /// Identity of the programs last loaded (fq_meta.build_id; 0 on layout 1).
        var buildID: String
        var agentPID: UInt32?
        var agentRunning: Bool
        var dnsServers: [String]
        var endpoints: [EndpointStatus]
        var policyVersions: [PolicyVersionStatus]
        var learnedNames: Int
        var learnedAddresses: Int
    }

    func run() throws {
        let maps = try options.maps()
        let meta = try maps.metaRecord()
        let learned = try maps.learned()
        let pid = meta.agentPID
        let report = Report(
            pinDirectory: options.pin, layoutVersion: meta.layoutVersion,
            buildID: String(format: "%08x", meta.buildID), agentPID: pid == 0 ? nil : pid,
            agentRunning: pid != 0 && kill(pid_t(pid), 0) == 0, dnsServers: try maps.dnsServers().map(\.description),
            endpoints: try maps.endpoints(), policyVersions: try maps.policyVersions(), learnedNames: learned.count,
            learnedAddresses: learned.reduce(0) { $0 + $1.addresses.filter { $0.expiresIn > 0 }.count })
        if json { try printJSON(report); return }
        print("datapath     \(report.pinDirectory) (layout \(report.layoutVersion), programs \(report.buildID))")
        print("agent        \(report.agentRunning ? "running (pid \(pid))" : "not running (the kernel keeps enforcing)")")
        print("dns servers  \(report.dnsServers.joined(separator: ", "))")
        print("learned      \(report.learnedAddresses) live address(es) for \(report.learnedNames) name(s)")
        print("endpoints")
        for e in report.endpoints {
            let where_ = e.kind == "veth" ? "ifindex \(e.ifindex ?? 0)" : "cgroup id \(e.cgroupID ?? 0)"
            let sources = e.sourceAddresses.map { "sources " + $0.joined(separator: ", ") } ?? "sources unchecked"
            print("  \(e.id)  \(e.name)  \(e.kind) \(where_)  policy version \(e.policyID)\(e.enforcing ? "" : " (not enforcing)")  \(sources)")
        }
        print("policy versions")
        for v in report.policyVersions {
            print("  \(v.id)  \(v.rules) rule(s)  queries \(v.restrictsQueries ? "restricted (\(v.refusedQueryAction))" : "unrestricted")  min TTL \(v.minTTL)s  max IPs/name \(v.maxIPsPerName)  flow grace \(v.flowGrace)s")
        }
    }
}

/// `fqdnctl cache`: learned names and addresses with their expiry.
struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the learned names and addresses with their expiry (no agent needed).")

    @OptionGroup var options: PinOptions
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "Only this endpoint.") var endpoint: String?

    func run() throws {
        let learned = try options.maps().learned().filter { endpoint == nil || $0.endpoint == endpoint }
        if json { try printJSON(learned); return }
        if learned.isEmpty { print("(nothing learned)"); return }
        for n in learned {
            for a in n.addresses {
                let state = a.expiresIn > 0 ? String(format: "expires in %.0fs", a.expiresIn) : "expired"
                print("\(n.endpoint)\t\(n.name)\t\(a.address)\tttl \(a.ttl)s\t\(state)")
            }
        }
    }
}

/// `fqdnctl metrics`: counters and gauges in Prometheus text format.
struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the datapath's counters in Prometheus text format (no agent needed).")

    @OptionGroup var options: PinOptions

    func run() throws {
        print(try options.maps().prometheusText(), terminator: "")
        print(try TCPDatapath.prometheusText(pinDirectory: options.pin), terminator: "")
    }
}

/// `fqdnctl remove`: detach every link and remove the pinned datapath.
struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Detach and remove a pinned datapath (enforcement stops; what was learned is gone).")

    @OptionGroup var options: PinOptions

    func run() throws {
        guard FileManager.default.fileExists(atPath: options.pin) else {
            log("nothing pinned at \(options.pin)")
            return
        }
        do {
            try Datapath.remove(pinDirectory: options.pin)
        } catch {
            log("error: \(error)")
            throw ExitCode(1)
        }
        log("removed \(options.pin)")
    }
}
