// Embedding FQDNPolicy in your own agent: the library API, without the CLI.
//
//   fqdn-embedding-example IFACE DNS_SERVER [NETNS]
//
// Attaches to IFACE (the host side of a pod's veth, in network namespace NETNS if given),
// lets the pod reach api.demo.internal:80 only, prints the kernel's events for 30 seconds
// (or until Ctrl-C), prints what was learned and removes everything.
import Foundation
import PolicyEngine

let args = CommandLine.arguments
guard args.count >= 3, let dns = DNSServer(args[2]) else {
    print("usage: fqdn-embedding-example IFACE DNS_SERVER[:PORT] [NETNS]")
    exit(2)
}

// 1. A policy, as a typed value (PolicyDocument.load(contentsOf:) reads the same from YAML).
let policy = FQDNPolicy(
    name: "allow-api",
    endpointSelector: LabelSelector(matchLabels: ["app": "demo"]),
    egress: [EgressRule(toFQDNs: [.matchName("api.demo.internal")], toPorts: [PortRule(port: 80, proto: .tcp)])],
    dnsRules: [.matchName("api.demo.internal")],  // other names: REFUSED, in the kernel
    minTTL: 30
)

// 2. The agent: loads (or adopts) the datapath pinned under its own directory.
let agent = try PolicyAgent(configuration: .init(pinDirectory: "/sys/fs/bpf/fqdn-embedding-example", dnsServers: [dns]))
try await agent.addEndpoint(Endpoint(
    name: "demo", attachment: .veth(interface: args[1], namespace: args.count > 3 ? args[3] : nil), labels: ["app": "demo"]))
try await agent.apply([policy])  // atomic: compiled first, then one map update per endpoint

// 3. Events as an AsyncSequence, until 30 s pass or Ctrl-C.
signal(SIGINT, SIG_IGN)
let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .main)
let events = Task {
    for try await event in try agent.events() { print(event.jsonLine) }
}
interrupt.setEventHandler { events.cancel() }
interrupt.resume()
let timer = Task { try await Task.sleep(for: .seconds(30)); events.cancel() }
_ = await events.result
timer.cancel()

// 4. What the kernel learned, and its counters.
for name in try await agent.snapshot() {
    print("\(name.endpoint) \(name.name): \(name.addresses.map { "\($0.address) (\(Int($0.expiresIn))s)" }.joined(separator: ", "))")
}
for (counter, value) in try await agent.counters().sorted(by: { $0.key.rawValue < $1.key.rawValue }) where value > 0 {
    print("\(counter.prometheusName) \(value)")
}

// 5. Shut down. The default (removeDatapath: false) leaves the datapath pinned and enforcing.
try await agent.shutdown(removeDatapath: true)
