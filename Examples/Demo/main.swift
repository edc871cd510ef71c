// fqdn-demo: FQDNPolicy end to end on this machine, in network namespaces it makes itself.
//
//   pod ──veth── node ──veth── dns   (Knot DNS, zone demo.internal, config generated)
//                  ├──veth── web1  (api.demo.internal,  10.250.2.2, HTTP)
//                  └──veth── web2  (blog.demo.internal, 10.250.3.2, HTTP)
//
// The policy lets the pod query and reach api.demo.internal:80 only. `fqdnctl agent` attaches
// to the pod's host-side veth (in the node namespace) and prints the kernel's events. The demo
// shows: the allowed name resolves and connects; the other name gets REFUSED from the kernel;
// a direct connection to an address no answer taught is dropped; the learned cache; and that
// everything keeps working after the agent exits. Everything is removed at the end, also on
// failure and on Ctrl-C.
//
//   fqdn-demo [--fqdnctl PATH] [--keep]      (root; Scripts/demo.sh builds and runs it)
import ArgumentParser
import Foundation

// MARK: - Settings

let prefix = "fqdemo"
let pin = "/sys/fs/bpf/fqdnpolicy-demo"
let work = "/tmp/fqdn-demo"
let ns = (node: "\(prefix)-node", pod: "\(prefix)-pod", dns: "\(prefix)-dns", web1: "\(prefix)-web1", web2: "\(prefix)-web2")
let addr = (pod: "10.250.0.2", dns: "10.250.1.2", web1: "10.250.2.2", web2: "10.250.3.2")

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fqdn-demo", abstract: "FQDN egress policy on a pod, end to end, with fqdnctl (root).")

    @Option(help: "The fqdnctl binary (default: next to this one).")
    var fqdnctl = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fqdnctl").path
    @Flag(help: "Leave the namespaces and the agent's pins in place at the end.")
    var keep = false
}
let options = Options.parseOrExit()
let fqdnctl = options.fqdnctl
let keep = options.keep

// MARK: - Output and commands

let bold = isatty(1) != 0 ? "\u{1B}[1m" : "", dim = isatty(1) != 0 ? "\u{1B}[2m" : ""
let green = isatty(1) != 0 ? "\u{1B}[32m" : "", red = isatty(1) != 0 ? "\u{1B}[31m" : "", reset = isatty(1) != 0 ? "\u{1B}[0m" : ""
let outputLock = NSLock()
func say(_ s: String) { outputLock.withLock { FileHandle.standardOutput.write(Data((s + "\n").utf8)) } }
func step(_ s: String) { say("\n\(bold)== \(s)\(reset)") }
func ok(_ s: String) { say("   \(green)✔ \(s)\(reset)") }
func bad(_ s: String) { say("   \(red)✘ \(s)\(reset)") }

struct Failure: Error, CustomStringConvertible { var description: String }

@discardableResult
func sh(_ command: [String], check: Bool = true, show: Bool = false) throws -> (status: Int32, out: String, err: String) {
    if show { say("   \(dim)$ \(command.joined(separator: " "))\(reset)") }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = command
    var env = ProcessInfo.processInfo.environment
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    nonisolated(unsafe) var errData = Data()
    let g = DispatchGroup()
    g.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    g.wait()
    p.waitUntilExit()
    let r = (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    if check && r.0 != 0 { throw Failure(description: "`\(command.joined(separator: " "))` exited \(r.0): \(r.2)") }
    return r
}

@discardableResult
func inNS(_ name: String, _ command: [String], check: Bool = true, show: Bool = false) throws -> (status: Int32, out: String, err: String) {
    if show { say("   \(dim)(\(name))$ \(command.joined(separator: " "))\(reset)") }
    return try sh(["ip", "netns", "exec", name] + command, check: check)
}

/// Background processes the demo started (killed by id at cleanup).
nonisolated(unsafe) var children: [Process] = []

func background(_ command: [String], stdout: Pipe? = nil, stderr: Pipe? = nil) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + command
    p.standardOutput = stdout ?? FileHandle.nullDevice
    p.standardError = stderr ?? FileHandle.nullDevice
    try p.run()
    children.append(p)
    return p
}

// MARK: - Cleanup (also on Ctrl-C)

nonisolated(unsafe) var cleanedUp = false
func cleanup() {
    if cleanedUp { return }
    cleanedUp = true
    for p in children.reversed() where p.isRunning {
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<100 where p.isRunning { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
    if !keep {
        _ = try? sh([fqdnctl, "remove", "--pin", pin], check: false)
        for n in [ns.pod, ns.dns, ns.web1, ns.web2, ns.node] { _ = try? sh(["ip", "netns", "del", n], check: false) }
        try? FileManager.default.removeItem(atPath: "/etc/netns/\(ns.pod)")
        rmdir("/etc/netns")  // only when empty (then the demo made it)
        try? FileManager.default.removeItem(atPath: work)
    }
}

nonisolated(unsafe) var signalSources: [DispatchSourceSignal] = []
for sig in [SIGINT, SIGTERM] {
    signal(sig, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    source.setEventHandler {
        say("\ninterrupted: cleaning up")
        cleanup()
        exit(130)
    }
    source.resume()
    signalSources.append(source)
}

// MARK: - The demo

func preflight() throws {
    guard geteuid() == 0 else { throw Failure(description: "run as root (network namespaces, BPF)") }
    for tool in ["knotd", "kdig", "curl", "python3", "ip"] where (try? sh(["which", tool], check: false).status) != 0 {
        throw Failure(description: "\(tool) is missing: run Scripts/demo.sh (it installs knot, knot-dnsutils, curl, python3, iproute2)")
    }
    guard FileManager.default.isExecutableFile(atPath: fqdnctl) else { throw Failure(description: "no fqdnctl at \(fqdnctl) (--fqdnctl PATH)") }
    // Leftovers of an interrupted run.
    let live = try sh(["ip", "netns", "list"]).out
    for n in [ns.pod, ns.dns, ns.web1, ns.web2, ns.node] where live.contains(n) { try sh(["ip", "netns", "del", n]) }
    _ = try sh([fqdnctl, "remove", "--pin", pin], check: false)
}

func topology() throws {
    step("1. Namespaces: a pod, a DNS server, two web servers, behind a node that routes")
    for n in [ns.node, ns.pod, ns.dns, ns.web1, ns.web2] {
        try sh(["ip", "netns", "add", n])
        try inNS(n, ["ip", "link", "set", "lo", "up"])
    }
    try inNS(ns.node, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    for (i, (member, ip)) in [(ns.pod, addr.pod), (ns.dns, addr.dns), (ns.web1, addr.web1), (ns.web2, addr.web2)].enumerated() {
        let hostSide = "node-\(member.dropFirst(prefix.count + 1))"
        let subnet = ip.split(separator: ".").prefix(3).joined(separator: ".")
        try sh(["ip", "link", "add", hostSide, "netns", ns.node, "type", "veth", "peer", "name", "eth0", "netns", member])
        try inNS(ns.node, ["ip", "addr", "add", "\(subnet).1/24", "dev", hostSide])
        try inNS(ns.node, ["ip", "link", "set", hostSide, "up"])
        try inNS(member, ["ip", "addr", "add", "\(ip)/24", "dev", "eth0"])
        try inNS(member, ["ip", "link", "set", "eth0", "up"])
        try inNS(member, ["ip", "route", "add", "default", "via", "\(subnet).1"])
        say("   \(member.padding(toLength: 13, withPad: " ", startingAt: 0)) \(ip)   (node side: \(hostSide))")
        _ = i
    }
}

func servers() throws {
    step("2. Knot DNS (zone demo.internal) and two web servers")
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    let zone = """
        $ORIGIN demo.internal.
        $TTL 300
        @     SOA ns admin 1 3600 600 86400 60
        @     NS  ns
        ns    A   \(addr.dns)
        api   A   \(addr.web1)
        blog  A   \(addr.web2)

        """
    try zone.write(toFile: "\(work)/demo.internal.zone", atomically: true, encoding: .utf8)
    let conf = """
        server:
            rundir: "\(work)"
            listen: \(addr.dns)@53
        database:
            storage: "\(work)"
        log:
          - target: stderr
            any: warning
        template:
          - id: default
            storage: "\(work)"
            journal-content: none
            zonefile-sync: -1
        zone:
          - domain: demo.internal
            file: "\(work)/demo.internal.zone"

        """
    try conf.write(toFile: "\(work)/knot.conf", atomically: true, encoding: .utf8)
    _ = try background(["ip", "netns", "exec", ns.dns, "knotd", "-c", "\(work)/knot.conf"])
    for (n, name, label) in [(ns.web1, "web1", "api.demo.internal"), (ns.web2, "web2", "blog.demo.internal")] {
        let dir = "\(work)/\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "hello from \(name) (\(label))\n".write(toFile: "\(dir)/index.html", atomically: true, encoding: .utf8)
        _ = try background(["ip", "netns", "exec", n, "python3", "-m", "http.server", "80", "--directory", dir])
    }
    // The pod's resolver: `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf.
    try FileManager.default.createDirectory(atPath: "/etc/netns/\(ns.pod)", withIntermediateDirectories: true)
    try "nameserver \(addr.dns)\noptions timeout:2 attempts:1\n".write(toFile: "/etc/netns/\(ns.pod)/resolv.conf", atomically: true, encoding: .utf8)
    // Wait until they answer.
    for _ in 0..<100 {
        let d = try sh(["ip", "netns", "exec", ns.dns, "kdig", "@\(addr.dns)", "+short", "+time=1", "+retry=0", "SOA", "demo.internal"], check: false)
        let w1 = try inNS(ns.node, ["curl", "-s", "--max-time", "1", "http://\(addr.web1)/"], check: false)
        let w2 = try inNS(ns.node, ["curl", "-s", "--max-time", "1", "http://\(addr.web2)/"], check: false)
        if d.status == 0 && !d.out.isEmpty && w1.status == 0 && w2.status == 0 {
            say("   knotd on \(addr.dns):53; web1 and web2 on port 80")
            return
        }
        usleep(100_000)
    }
    throw Failure(description: "the servers did not come up")
}

func policyFile() throws -> String {
    step("3. The policy: the pod may query and reach api.demo.internal:80, nothing else")
    let yaml = """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata:
          name: demo
          annotations:
            fqdnpolicy.io/refused-query-action: refused
        spec:
          endpointSelector:
            matchLabels:
              app: demo
          egress:
            - toFQDNs:
                - matchName: api.demo.internal
              toPorts:
                - ports:
                    - port: "80"
                      protocol: TCP
            - toPorts:
                - ports:
                    - port: "53"
                      protocol: ANY
                  rules:
                    dns:
                      - matchName: api.demo.internal

        """
    let path = "\(work)/policy.yaml"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    for line in yaml.split(separator: "\n") { say("   \(dim)\(line)\(reset)") }
    return path
}

func startAgent(_ policy: String) throws -> Process {
    step("4. fqdnctl agent: attaches to the pod's host-side veth, prints kernel events")
    let command = [fqdnctl, "agent", "--policy", policy,
                   "--endpoint", "pod:iface=node-pod,netns=\(ns.node),labels=app=demo",
                   "--dns-server", addr.dns, "--pin", pin]
    say("   \(dim)$ \(command.joined(separator: " "))\(reset)")
    let out = Pipe(), err = Pipe()
    let agent = try background(command, stdout: out, stderr: err)
    let started = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var startedOnce = false
    err.fileHandleForReading.readabilityHandler = { h in
        let text = String(decoding: h.availableData, as: UTF8.self)
        for line in text.split(separator: "\n") {
            say("   \(dim)[agent] \(line)\(reset)")
            if line.contains("agent: datapath") && !startedOnce { startedOnce = true; started.signal() }
        }
    }
    out.fileHandleForReading.readabilityHandler = { h in
        let text = String(decoding: h.availableData, as: UTF8.self)
        for line in text.split(separator: "\n") { say("   \(dim)[event] \(line)\(reset)") }
    }
    if started.wait(timeout: .now() + 120) == .timedOut || !agent.isRunning {
        throw Failure(description: "fqdnctl agent did not start")
    }
    return agent
}

func show() throws -> Bool {
    var good = true
    step("5. The allowed name resolves and connects (the answer is learned before curl sees it)")
    let api = try inNS(ns.pod, ["curl", "-s", "--max-time", "3", "http://api.demo.internal/"], check: false, show: true)
    if api.status == 0 { ok("curl http://api.demo.internal/ -> \(api.out.trimmingCharacters(in: .whitespacesAndNewlines))") }
    else { bad("curl failed (\(api.status))"); good = false }
    usleep(200_000)

    step("6. Another name is REFUSED by the kernel (the query never reaches the server)")
    let blog = try inNS(ns.pod, ["kdig", "@\(addr.dns)", "+time=2", "+retry=0", "blog.demo.internal"], check: false, show: true)
    if let header = blog.out.split(separator: "\n").first(where: { $0.contains("status:") }) {
        say("   \(dim)\(header.trimmingCharacters(in: .whitespaces))\(reset)")
    }
    if blog.out.contains("status: REFUSED") { ok("blog.demo.internal -> REFUSED") } else { bad("expected REFUSED"); good = false }
    let curlBlog = try inNS(ns.pod, ["curl", "-s", "--max-time", "3", "http://blog.demo.internal/"], check: false, show: true)
    if curlBlog.status != 0 { ok("curl http://blog.demo.internal/ fails: the name does not resolve (curl exit \(curlBlog.status))") }
    else { bad("curl blog succeeded"); good = false }
    usleep(200_000)

    step("7. A direct connection to an address no answer taught is dropped")
    let direct = try inNS(ns.pod, ["curl", "-s", "--max-time", "2", "http://\(addr.web2)/"], check: false, show: true)
    if direct.status != 0 { ok("curl http://\(addr.web2)/ dropped (curl exit \(direct.status): timed out)") }
    else { bad("direct connect succeeded"); good = false }
    usleep(200_000)

    step("8. The learned cache and the counters (read from the pinned maps, no agent needed)")
    say(try sh([fqdnctl, "cache", "--pin", pin], show: true).out.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
    let metrics = try sh([fqdnctl, "metrics", "--pin", pin], show: true).out
    for line in metrics.split(separator: "\n") where !line.hasPrefix("#") && !line.hasSuffix(" 0") { say("   \(line)") }
    return good
}

func afterAgent(_ agent: Process) throws -> Bool {
    var good = true
    step("9. Stop the agent (SIGTERM): the datapath stays pinned and keeps enforcing")
    kill(agent.processIdentifier, SIGTERM)
    agent.waitUntilExit()
    usleep(200_000)
    say(try sh([fqdnctl, "status", "--pin", pin], show: true).out.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
    let api = try inNS(ns.pod, ["curl", "-s", "--max-time", "3", "http://api.demo.internal/"], check: false, show: true)
    if api.status == 0 { ok("without an agent: api.demo.internal still resolves, is learned and connects") } else { bad("curl failed"); good = false }
    let blog = try inNS(ns.pod, ["kdig", "@\(addr.dns)", "+time=2", "+retry=0", "blog.demo.internal"], check: false)
    if blog.out.contains("status: REFUSED") { ok("without an agent: blog.demo.internal is still REFUSED") } else { bad("expected REFUSED"); good = false }
    let direct = try inNS(ns.pod, ["curl", "-s", "--max-time", "2", "http://\(addr.web2)/"], check: false)
    if direct.status != 0 { ok("without an agent: \(addr.web2) is still dropped") } else { bad("direct connect succeeded"); good = false }
    return good
}

var exitCode: Int32 = 0
do {
    try preflight()
    try topology()
    try servers()
    let policy = try policyFile()
    let agent = try startAgent(policy)
    let shown = try show()
    let after = try afterAgent(agent)
    step(shown && after ? "Done: every check passed" : "Done: some checks FAILED")
    if !(shown && after) { exitCode = 1 }
} catch {
    bad("demo failed: \(error)")
    exitCode = 1
}
step(keep ? "Kept everything (--keep): namespaces \(prefix)-*, pins under \(pin)" : "Cleaning up: namespaces, servers, pins")
cleanup()
exit(exitCode)
