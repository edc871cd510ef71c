import PolicyEngine

let agent = try PolicyAgent(configuration: .init(dnsServers: [DNSServer("10.96.0.10")!]))
try await agent.addEndpoint(Endpoint(name: "web", attachment: .veth(interface: "veth1a2b"), labels: ["app": "web"]))
try await agent.apply(PolicyDocument.load(contentsOf: "policy.yaml"))   // atomic, all or nothing
for try await event in try agent.events() { print(event.jsonLine) }
