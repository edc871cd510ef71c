import ArgumentParser
import BPFMapBindings
import Dispatch
import Foundation
import Logging
import PolicyEngine
import UnixSignals

/// `fqdnctl agent`: load (or adopt) the datapath, attach the endpoints, apply the policy file,
/// print the kernel's events as JSON lines until SIGTERM/SIGINT. The datapath stays pinned
/// and enforcing after the agent exits unless `--cleanup` is given. SIGHUP re-reads the
/// policy file (a bad file is reported and nothing changes).
struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent: enforce a CiliumNetworkPolicy file on endpoints, print events as JSON lines.",
        discussion: """
            Endpoints: NAME:iface=IFNAME[,netns=NS][,SOURCES][,labels=k=v,...] for the host side of a \
            pod's veth, NAME:cgroup=PATH[,SOURCES][,labels=...] for a cgroup v2 directory. Labels are \
            matched by the policies' endpointSelector. SOURCES (source validation: packets from any \
            other address are dropped): addr=IP, repeated for each address; src=discover (veth \
            default: the addresses on the pod side of the veth); src=unchecked (cgroup default).
            DNS over TCP (--tcp, Linux 6.12+): the sock_ops program goes on a cgroup endpoint's own \
            directory; a veth endpoint names its pod's network namespace with --tcp-pod-netns \
            NAME=NETNS, and the sock_ops program goes on --tcp-sockops-cgroup (default: the cgroup v2 \
            root) (Documentation/TCP.md).
            Signals: SIGTERM/SIGINT stop the agent (the datapath keeps enforcing; --cleanup removes it); \
            SIGHUP re-reads the policy file.
            """
    )

    @Option(name: .long, help: "CiliumNetworkPolicy YAML file (one or more documents).")
    var policy: String

    @Option(name: .long, help: "An endpoint (repeatable): NAME:iface=IFNAME[,netns=NS][,addr=IP...|src=discover|src=unchecked][,labels=k=v,...] or NAME:cgroup=PATH[,addr=IP...][,labels=...].")
    var endpoint: [String] = []

    @Option(name: .customLong("dns-server"), help: "A trusted DNS server ADDR[:PORT] or [ADDR6]:PORT (repeatable).")
    var dnsServer: [String] = []

    @Option(name: .long, help: "bpffs directory of the pinned datapath.")
    var pin: String = "/sys/fs/bpf/fqdnpolicy"

    @Flag(name: .long, help: "On exit, detach everything and remove the pinned datapath.")
    var cleanup = false

    @Option(name: .customLong("gc-interval"), help: "Seconds between garbage collections of expired entries.")
    var gcInterval: Double = 10

    @Option(name: .customLong("flow-grace"), help: "Seconds an established TCP flow outlives the expiry of its destination.")
    var flowGrace: UInt32 = 300

    @Flag(name: .customLong("refresh-events"), help: "Print a learned event also for every address an answer only refreshed (default: new addresses only; refreshes are counted in addresses_refreshed).")
    var refreshEvents = false

    @Flag(name: .long, help: "Also enforce DNS over TCP (sock_ops, sockmap) on every endpoint.")
    var tcp = false

    @Option(name: .customLong("tcp-pod-netns"), help: "With --tcp, for a veth endpoint: NAME=NETNS, the pod's network namespace (ip netns name or path) whose sockets are endpoint NAME's (repeatable).")
    var tcpPodNetns: [String] = []

    @Option(name: .customLong("tcp-sockops-cgroup"), help: "With --tcp: cgroup v2 directory for the sock_ops program of veth endpoints (default: the cgroup v2 root).")
    var tcpSockopsCgroup: String?

    func validate() throws {
        if !tcp && (!tcpPodNetns.isEmpty || tcpSockopsCgroup != nil) {
            throw ValidationError("--tcp-pod-netns and --tcp-sockops-cgroup need --tcp")
        }
        for s in tcpPodNetns where s.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--tcp-pod-netns '\(s)' is not NAME=NETNS")
        }
        if dnsServer.isEmpty { throw ValidationError("give at least one --dns-server") }
        for s in dnsServer where DNSServer(s) == nil { throw ValidationError("--dns-server '\(s)' is not ADDR[:PORT] or [ADDR6]:PORT") }
        if endpoint.isEmpty { throw ValidationError("give at least one --endpoint") }
        // The kernel refreshes a flow's last-seen time at most once a second: a grace of 1 s
        // would cut flows that are still active.
        if flowGrace == 1 { throw ValidationError("--flow-grace must be 0 (off) or at least 2 seconds") }
    }

    func run() async throws {
        // Everything that can be checked without the kernel is checked first: a bad policy
        // file or endpoint spec changes nothing.
        let policies: [FQDNPolicy]
        let endpoints: [Endpoint]
        do {
            policies = try PolicyDocument.load(contentsOf: policy)
            endpoints = try endpoint.map { spec throws(EndpointSpecError) in try Endpoint(parsing: spec) }
        } catch {
            logger.error("\(error)")
            throw ExitCode(2)
        }
        let podNetns = Dictionary(tcpPodNetns.map { s in
            let kv = s.split(separator: "=", maxSplits: 1)
            return (String(kv[0]), String(kv[1]))
        }, uniquingKeysWith: { _, last in last })
        if tcp {
            for name in podNetns.keys where !endpoints.contains(where: { $0.name == name }) {
                logger.error("--tcp-pod-netns \(name)=...: no endpoint named \(name)")
                throw ExitCode(2)
            }
            for e in endpoints {
                if case .veth = e.attachment, podNetns[e.name] == nil {
                    logger.error("endpoint \(e.name): DNS over TCP on a veth endpoint needs --tcp-pod-netns \(e.name)=NETNS (the pod's network namespace)")
                    throw ExitCode(2)
                }
            }
        }
        let servers = dnsServer.compactMap(DNSServer.init)

        // Signals are trapped from here on (their default actions off), handled in order below.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        // A closed stdout (the log collector went away) is a write error, not a SIGPIPE death.
        signal(SIGPIPE, SIG_IGN)

        if let problem = pinDirectoryProblem(pin) {
            logger.error("\(problem)")
            throw ExitCode(1)
        }

        // One agent per pin directory: a second one would fight the first over the same maps
        // and links. The pinned meta record names the running agent (a killed one's PID is
        // dead and does not count).
        if let other = runningAgent(pin: pin) {
            logger.error("another agent (pid \(other)) runs on \(pin); stop it first (SIGTERM; the datapath keeps enforcing meanwhile)")
            throw ExitCode(1)
        }

        let agent: PolicyAgent
        var tcpDatapath: TCPDatapath?
        do {
            agent = try PolicyAgent(configuration: .init(pinDirectory: pin, dnsServers: servers, flowGrace: flowGrace,
                                                         refreshEvents: refreshEvents))
            for e in endpoints { try await agent.addEndpoint(e) }
            try await agent.apply(policies)
            if tcp {
                let t = try TCPDatapath.load(pinDirectory: pin)
                for e in endpoints {
                    switch e.attachment {
                    case .veth: try await agent.enableTCP(t, endpoint: e.name, podNamespace: podNetns[e.name], sockopsCgroup: tcpSockopsCgroup)
                    case .cgroup: try await agent.enableTCP(t, endpoint: e.name)
                    }
                }
                tcpDatapath = t
            }
        } catch {
            logger.error("\(error)")
            throw ExitCode(1)
        }
        if let upgrade = agent.datapath.upgrade { logger.info("agent: \(upgrade)") }
        logger.info("agent: datapath \(agent.datapath.adopted ? "adopted" : "loaded") at \(pin); \(endpoints.count) endpoint(s), \(policies.count) policy(ies); trusted DNS \(servers.map(\.description).joined(separator: ", "))\(tcp ? "; DNS over TCP" : "")")

        let tcpRunning = tcpDatapath
        let events = try agent.events()
        // Each line is written on a dispatch thread while this task waits: a stdout that
        // blocks (a full pipe) holds no thread of the agent's own tasks, and the event stream
        // is not read ahead meanwhile (its backlog stays bounded; the kernel counts what its
        // ring cannot hold in events_lost). A closed stdout ends the printing, not the agent.
        let writer = DispatchQueue(label: "fqdnctl.events")
        let printer = Task {
            do {
                for try await e in events {
                    let line = Data((e.jsonLine + "\n").utf8)
                    let written = await withCheckedContinuation { c in
                        writer.async { c.resume(returning: (try? FileHandle.standardOutput.write(contentsOf: line)) != nil) }
                    }
                    if !written {
                        logger.warning("stdout is closed; events are no longer printed")
                        return
                    }
                }
            } catch {
                logger.error("event stream: \(error)")
            }
        }
        let gc = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(gcInterval))
                if Task.isCancelled { break }
                do { try await agent.collectGarbage() } catch { logger.warning("garbage collection: \(error)") }
                do { try tcpRunning?.collectGarbage() } catch { logger.warning("TCP garbage collection: \(error)") }
            }
        }

        for await sig in signals {
            if sig == .sighup {
                do {
                    let reloaded = try PolicyDocument.load(contentsOf: policy)
                    try await agent.apply(reloaded)
                    logger.info("agent: re-applied \(policy) (\(reloaded.count) policy(ies))")
                } catch {
                    logger.error("\(error) (nothing changed)")
                }
                continue
            }
            break
        }
        gc.cancel()
        // Not awaited: a write blocked on a full stdout must not hold up the shutdown.
        printer.cancel()
        do {
            try await agent.shutdown(removeDatapath: cleanup)
        } catch {
            logger.error("shutdown: \(error)")
            throw ExitCode(1)
        }
        logger.info("\(cleanup ? "agent: stopped; datapath removed" : "agent: stopped; datapath left pinned at \(pin) (still enforcing)")")
    }
}

/// Why `pin` cannot hold a pinned datapath: its nearest existing directory is not on a bpffs
/// (under /sys/fs/bpf the agent mounts bpffs itself when it is missing).
func pinDirectoryProblem(_ pin: String) -> String? {
    if pin == "/sys/fs/bpf" || pin.hasPrefix("/sys/fs/bpf/") { return nil }
    var dir = URL(fileURLWithPath: pin).standardizedFileURL.path
    while !FileManager.default.fileExists(atPath: dir) && dir != "/" {
        dir = URL(fileURLWithPath: dir).deletingLastPathComponent().path
    }
    if BPFFS.isMounted(at: dir) { return nil }
    return "--pin \(pin) is not on a bpffs (\(dir) is another file system); use a directory under /sys/fs/bpf or mount bpffs (mount -t bpf bpf DIR)"
}

/// The PID of a live `fqdnctl agent` (not this process) recorded in the pinned meta record.
func runningAgent(pin: String) -> Int32? {
    guard let meta = try? DatapathMaps.pinned(at: pin).metaRecord(), meta.agentPID != 0 else { return nil }
    let pid = Int32(bitPattern: meta.agentPID)
    guard pid != getpid(), kill(pid, 0) == 0 || errno == EPERM else { return nil }
    // A recycled PID of an unrelated process does not count.
    guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
    let args = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    return args.contains("agent") ? pid : nil
}

/// The agent's log (stderr: stdout carries only events): swift-log, one line per message with
/// time and level. `LoggingSystem` is set up once, by the first use.
let logger: Logger = {
    LoggingSystem.bootstrap(StreamLogHandler.standardError)
    return Logger(label: "fqdnctl")
}()

/// A line on stderr for the one-shot commands (stdout carries their output).
func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
