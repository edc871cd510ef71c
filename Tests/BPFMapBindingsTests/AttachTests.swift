import BPFMapBindings
import FQDNPolicyTesting
import Glibc
import Testing

/// Counter slots of BPFPrograms/tests/attach_test.bpf.c.
enum Counter: UInt32 {
    case tcIngress = 0, tcEgress, cgroupEgress, cgroupDropped, sockopsEstablished, skSkbBytes, skSkbMessages
}

func loadAttachObject(udpPort: UInt16 = 0, blockedPort: UInt16 = 0) throws -> (BPFObject, BPFArrayMap<UInt64>) {
    let object = try openObject("attach_test")
    try object.setConstant("udp_port", to: udpPort)
    try object.setConstant("blocked_port", to: blockedPort)
    try object.load()
    return (object, try object.map("counters", as: BPFArrayMap<UInt64>.self))
}

extension BPFArrayMap<UInt64> {
    func count(_ c: Counter) throws -> UInt64 { try lookup(c.rawValue) ?? 0 }
}

/// Two namespaces joined by a veth pair: a (10.231.0.1) <-> b (10.231.0.2).
func makePair(_ fixture: NetworkFixture) throws -> (VethEnd, VethEnd) {
    let nsA = try fixture.makeNamespace(), nsB = try fixture.makeNamespace()
    return try fixture.makeVethPair(nsA, "10.231.0.1/24", nsB, "10.231.0.2/24")
}

/// Sends `count` UDP datagrams from a's namespace to b:port and returns how many b received.
func sendUDP(from a: VethEnd, to b: VethEnd, port: UInt16, count: Int) throws -> Int {
    let receiver = try b.namespace.perform { try Sockets.udpBound(b.address, port) }
    defer { close(receiver) }
    try a.namespace.perform {
        let sender = try Sockets.udpBound(a.address, 0)
        defer { close(sender) }
        for i in 0..<count { try Sockets.sendUDP(sender, to: b.address, port, Array("datagram \(i)".utf8)) }
    }
    var received = 0
    while received < count, Sockets.receive(receiver) != nil { received += 1 }
    return received
}

func tcFilters(_ end: VethEnd, _ direction: TrafficDirection) throws -> String {
    try end.namespace.run(["tc", "filter", "show", "dev", end.interface, direction.rawValue]).stdout
}

@Suite("Attachments: tc, tcx, cgroup, sockmap on real interfaces and sockets", .kernel, .serialized)
struct AttachTests {
    @Test("tc ingress/egress on a veth pair in two namespaces counts real packets, detach removes the filters")
    func tcOnVeth() async throws {
        var namespaces: [String] = []
        try await withNetworkFixture { fixture in
            let (a, b) = try makePair(fixture)
            namespaces = [a.namespace.name, b.namespace.name]
            let (object, counters) = try loadAttachObject(udpPort: 40000)
            let ingress = try object.program("tc_ingress").attachTC(interface: b.interface, direction: .ingress, in: b.namespace.namespace)
            let egress = try object.program("tc_egress").attachTC(interface: a.interface, direction: .egress, in: a.namespace.namespace)
            #expect(try tcFilters(b, .ingress).contains("tc_ingress"))
            #expect(try tcFilters(a, .egress).contains("tc_egress"))

            #expect(try sendUDP(from: a, to: b, port: 40000, count: 5) == 5)
            #expect(try counters.count(.tcIngress) == 5)
            #expect(try counters.count(.tcEgress) == 5)
            #expect(try sendUDP(from: a, to: b, port: 40009, count: 2) == 2)  // another port: not counted
            #expect(try counters.count(.tcIngress) == 5)

            try ingress.detach()
            try egress.detach()
            #expect(try !tcFilters(b, .ingress).contains("tc_ingress"))
            #expect(try !tcFilters(a, .egress).contains("tc_egress"))
            #expect(try sendUDP(from: a, to: b, port: 40000, count: 3) == 3)
            #expect(try counters.count(.tcIngress) == 5)
            #expect(try counters.count(.tcEgress) == 5)
        }
        let live = NetworkFixture.liveNamespaces()
        #expect(namespaces.allSatisfy { !live.contains($0) }, "namespaces left behind: \(live)")
    }

    @Test("a released tc attachment detaches itself; keepAttached leaves it")
    func tcReleaseDetaches() async throws {
        try await withNetworkFixture { fixture in
            let (a, b) = try makePair(fixture)
            let (object, _) = try loadAttachObject(udpPort: 40000)
            let program = try object.program("tc_ingress")
            do {
                let attachment = try program.attachTC(interface: b.interface, direction: .ingress, in: b.namespace.namespace)
                #expect(try tcFilters(b, .ingress).contains("tc_ingress"))
                _ = attachment
            }
            #expect(try !tcFilters(b, .ingress).contains("tc_ingress"))
            do {
                let attachment = try program.attachTC(interface: b.interface, direction: .ingress, in: b.namespace.namespace)
                attachment.keepAttached()
            }
            #expect(try tcFilters(b, .ingress).contains("tc_ingress"))
            _ = a
        }  // the namespace goes, and the filter with it
    }

    @Test("tcx ingress/egress links count packets; a pinned link survives its value and is detached by path")
    func tcxOnVeth() async throws {
        try await withNetworkFixture { fixture in
            let (a, b) = try makePair(fixture)
            let (object, counters) = try loadAttachObject(udpPort: 40000)
            let egress = try object.program("tc_egress").attachTCX(interface: a.interface, direction: .egress, in: a.namespace.namespace)
            try await withBPFFSDirectory { dir in
                do {
                    let ingress = try object.program("tc_ingress").attachTCX(interface: b.interface, direction: .ingress, in: b.namespace.namespace)
                    try ingress.pin(at: dir + "/ingress")
                }  // released, but pinned: still attached
                #expect(try sendUDP(from: a, to: b, port: 40000, count: 4) == 4)
                #expect(try counters.count(.tcIngress) == 4)
                #expect(try counters.count(.tcEgress) == 4)

                let adopted = try BPFAttachment.openPinnedLink(dir + "/ingress")
                try adopted.detach()
                #expect(!BPFFS.exists(dir + "/ingress"))
                try egress.detach()
                #expect(try sendUDP(from: a, to: b, port: 40000, count: 2) == 2)
                #expect(try counters.count(.tcIngress) == 4)
                #expect(try counters.count(.tcEgress) == 4)
            }
        }
    }

    @Test("cgroup_skb egress drops a blocked UDP port for processes in the cgroup only, until detached")
    func cgroupEgress() async throws {
        var cgroupPath = ""
        try await withCgroupFixture { cgroup in
            cgroupPath = cgroup.path
            let (object, counters) = try loadAttachObject(blockedPort: 40001)
            let attachment = try object.program("cgroup_egress").attachCgroup(cgroup.path)
            let send = { (port: Int) in try cgroup.runScript("echo x > /dev/udp/127.0.0.1/\(port)", check: false) }

            let blocked = try send(40001)
            #expect(blocked.status != 0, "\(blocked)")
            #expect(blocked.stderr.contains("Operation not permitted"), "\(blocked)")
            #expect(try send(40002).status == 0)
            #expect(try counters.count(.cgroupDropped) >= 1)
            #expect(try counters.count(.cgroupEgress) >= 2)
            // The test process itself is not in the cgroup: its traffic is untouched.
            let own = try Sockets.udpBound("127.0.0.1", 0)
            defer { close(own) }
            try Sockets.sendUDP(own, to: "127.0.0.1", 40001, [1])

            try attachment.detach()
            #expect(try send(40001).status == 0)
        }
        #expect(access(cgroupPath, F_OK) != 0, "cgroup left behind: \(cgroupPath)")
    }

    @Test("sock_ops on a cgroup sees a real TCP connection established by a process inside it")
    func sockOps() async throws {
        try await withCgroupFixture { cgroup in
            let (object, counters) = try loadAttachObject()
            let attachment = try object.program("sockops_track").attachCgroup(cgroup.path)
            let listener = try Sockets.tcpListener()
            defer { close(listener.fd) }
            try cgroup.runScript("exec 3<>/dev/tcp/127.0.0.1/\(listener.port); echo hi >&3")
            #expect(try counters.count(.sockopsEstablished) >= 1)
            try attachment.detach()
        }
    }

    @Test("sk_skb stream verdict on a sockhash sees the bytes of an inserted socket, which arrive intact")
    func skSkbVerdict() throws {
        let (object, counters) = try loadAttachObject()
        let socks = try object.map("socks")
        let verdict = try object.program("sk_skb_count").attach(toSockMap: socks)
        let (client, server) = try Sockets.tcpLoopbackPair()
        defer { close(client); close(server) }
        let sockhash = try BPFSockMap<UInt64>(socks)
        let cookie = try socketCookie(server)
        try sockhash.insert(socket: server, at: cookie)   // after attaching: the socket gets the verdict

        let message = Array("hello through the verdict program".utf8)
        try Sockets.send(client, message)
        #expect(Sockets.receiveExactly(server, message.count) == message)
        #expect(try counters.count(.skSkbBytes) == UInt64(message.count))
        #expect(try counters.count(.skSkbMessages) >= 1)

        try sockhash.delete(cookie)
        try verdict.detach()
    }

    @Test("sk_skb stream parser + verdict on a sockmap: bytes counted and delivered unchanged")
    func skSkbParserAndVerdict() throws {
        let (object, counters) = try loadAttachObject()
        let map = try object.map("socks")
        let parser = try object.program("sk_skb_parse").attach(toSockMap: map)
        let verdict = try object.program("sk_skb_count").attach(toSockMap: map)
        #expect(parser.description.contains("stream_parser"))
        let (client, server) = try Sockets.tcpLoopbackPair()
        defer { close(client); close(server) }
        let sockhash = try BPFSockMap<UInt64>(map)
        try sockhash.insert(socket: server, at: try socketCookie(server))

        var sent: [UInt8] = []
        for i in 0..<5 {
            let chunk = Array("message \(i);".utf8)
            try Sockets.send(client, chunk)
            sent += chunk
        }
        #expect(Sockets.receiveExactly(server, sent.count) == sent)
        #expect(try counters.count(.skSkbBytes) == UInt64(sent.count))
        try verdict.detach()
        try parser.detach()
    }

    @Test("pinning a tc filter is refused with a clear error")
    func tcNotPinnable() async throws {
        try await withNetworkFixture { fixture in
            let (_, b) = try makePair(fixture)
            let (object, _) = try loadAttachObject()
            let attachment = try object.program("tc_ingress").attachTC(interface: b.interface, direction: .ingress, in: b.namespace.namespace)
            #expect(throws: BPFError.self) { try attachment.pin(at: "/sys/fs/bpf/never") }
            try attachment.detach()
        }
    }

    @Test("fixtures clean up when the test body throws")
    func cleanupOnThrow() async throws {
        struct Boom: Error {}
        var namespaces: [String] = []
        var cgroupPath = ""
        var pinDirectory = ""
        await #expect(throws: Boom.self) {
            try await withNetworkFixture { fixture in
                let (a, b) = try makePair(fixture)
                namespaces = [a.namespace.name, b.namespace.name]
                let (object, _) = try loadAttachObject()
                try object.program("tc_ingress").attachTC(interface: b.interface, direction: .ingress, in: b.namespace.namespace)
                    .keepAttached()
                try await withCgroupFixture { cgroup in
                    cgroupPath = cgroup.path
                    try await withBPFFSDirectory { dir in
                        pinDirectory = dir
                        try object.pinMaps(in: dir)
                        throw Boom()
                    }
                }
            }
        }
        #expect(!namespaces.isEmpty)
        let live = NetworkFixture.liveNamespaces()
        #expect(namespaces.allSatisfy { !live.contains($0) }, "namespaces left behind: \(live)")
        #expect(access(cgroupPath, F_OK) != 0, "cgroup left behind: \(cgroupPath)")
        #expect(!BPFFS.exists(pinDirectory), "pins left behind: \(pinDirectory)")
    }
}
