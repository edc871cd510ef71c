import BPFMapBindings
import CFQDNShared
import DNSWire
import PacketWire
import Glibc

/// The in-kernel DNS parser (`BPFPrograms/include/dns_parser.h`), driven through its test
/// program `parser_test.bpf.c` with `BPF_PROG_TEST_RUN`.
///
/// ``facts(for:framing:)`` builds a packet around a DNS message (Ethernet / IPv4 or IPv6 /
/// UDP, or TCP with the 2-byte length prefix), runs the parser on it in the kernel and reads
/// the `struct fqdn_facts` it wrote back into DNSWire's ``ResponseFacts``, so both parsers can be
/// compared field by field. One instance loads the object once; calls are serialized (the
/// facts come back through one array map).
public final class KernelParser: @unchecked Sendable {
    /// How the message reaches the parser.
    public enum Framing: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Ethernet + IPv4 + UDP; the message length comes from the UDP header.
        case udp4
        /// Ethernet + IPv6 + UDP.
        case udp6
        /// Ethernet + IPv4 + TCP + 2-byte length prefix (the sk_skb framing).
        case tcp4
        /// Ethernet + IPv6 + TCP + 2-byte length prefix.
        case tcp6
        /// No packet: the message is written into the `msg_in` map and parsed in place
        /// (`parse_buffer`). For messages larger than a test-run packet may be.
        case buffer

        public var description: String { rawValue }
    }

    /// Largest frame `BPF_PROG_TEST_RUN` takes for skb programs is one page minus headroom and
    /// `skb_shared_info`; stay well below it. Longer messages go through ``Framing/buffer``.
    public static let maxPacketBytes = 3500

    public let object: BPFObject
    let packetProgram: BPFProgram
    let bufferProgram: BPFProgram
    let trivialProgram: BPFProgram
    let out: BPFMap
    let input: BPFMap
    let lock = Mutex()

    /// Opens and loads `parser_test` (the verifier checks the parser here).
    public init() throws(BPFError) {
        object = try BPFObject.loadedHarness("parser_test")
        packetProgram = try object.program("parse_packet")
        bufferProgram = try object.program("parse_buffer")
        trivialProgram = try object.program("trivial")
        out = try object.map("facts_out")
        input = try object.map("msg_in")
        if out.valueSize != MemoryLayout<fqdn_facts>.size {
            throw .sizeMismatch(map: "facts_out (value)", expected: MemoryLayout<fqdn_facts>.size, actual: out.valueSize)
        }
        if input.valueSize < 4 + Int(FQDN_MAX_MSG_LEN) {
            throw .sizeMismatch(map: "msg_in (value)", expected: 4 + Int(FQDN_MAX_MSG_LEN), actual: input.valueSize)
        }
    }

    // MARK: Packets

    static let clientIPv4: [UInt8] = [10, 0, 0, 2], serverIPv4: [UInt8] = [10, 0, 0, 53]
    static let clientIPv6: [UInt8] = [0xfd, 0] + [UInt8](repeating: 0, count: 13) + [2]
    static let serverIPv6: [UInt8] = [0xfd, 0] + [UInt8](repeating: 0, count: 13) + [0x53]

    /// The frame carrying `message` the way `framing` says (a response from port 53), with
    /// valid IP and transport checksums. `.buffer` has no packet: an empty Ethernet frame.
    public static func packet(_ message: [UInt8], framing: Framing) -> [UInt8] {
        let v6 = framing == .udp6 || framing == .tcp6
        let server = PacketBuilder.Endpoint(address: v6 ? serverIPv6 : serverIPv4, port: 53)
        let client = PacketBuilder.Endpoint(address: v6 ? clientIPv6 : clientIPv4, port: 40000)
        switch framing {
        case .buffer:
            return PacketBuilder.defaultDestinationMAC + PacketBuilder.defaultSourceMAC + [0x08, 0x00] + [UInt8](repeating: 0, count: 46)
        case .udp4, .udp6:
            return PacketBuilder.udp(from: server, to: client, payload: message)
        case .tcp4, .tcp6:
            return PacketBuilder.tcp(from: server, to: client, flags: PacketBuilder.psh | PacketBuilder.ack, sequence: 1,
                                     acknowledgment: 1, payload: PacketBuilder.tcpFramed(message))
        }
    }

    /// The framing `facts(for:)` uses by default: `udp4`, or `buffer` when the frame would be
    /// too large for a test run.
    public static func defaultFraming(for message: [UInt8]) -> Framing {
        message.count + 14 + 40 + 22 <= maxPacketBytes ? .udp4 : .buffer
    }

    // MARK: Running

    /// The kernel parser's verdict and facts for one DNS message (no TCP length prefix).
    ///
    /// Messages too large for a test-run packet use ``Framing/buffer`` whatever `framing` says.
    /// Throws when the harness itself misbehaves (the program did not parse, error facts not
    /// zeroed, an unknown reason code), never for a message the parser rejects.
    public func facts(for message: [UInt8], framing: Framing? = nil) throws(BPFError) -> ResponseFacts {
        try raw(for: message, framing: framing).responseFacts()
    }

    /// The raw `struct fqdn_facts` the kernel wrote for `message`.
    public func raw(for message: [UInt8], framing: Framing? = nil) throws(BPFError) -> KernelFacts {
        var f = framing ?? Self.defaultFraming(for: message)
        if f != .buffer, message.count + 14 + 40 + 22 > Self.maxPacketBytes || message.count > 0xFFFF - 64 { f = .buffer }
        lock.lock()
        defer { lock.unlock() }
        if f == .buffer { try writeInput(message) }
        let program = f == .buffer ? bufferProgram : packetProgram
        let result = try program.testRun(data: Self.packet(message, framing: f))
        if result.returnValue != 0 {
            throw .invalidState("\(program.name) returned \(result.returnValue) for a \(message.count)-byte message (\(f)): no DNS message found")
        }
        return try readOutput()
    }

    func writeInput(_ message: [UInt8]) throws(BPFError) {
        var value = [UInt8](repeating: 0, count: input.valueSize)
        let n = UInt32(truncatingIfNeeded: message.count)
        value[0] = UInt8(n & 0xFF)
        value[1] = UInt8((n >> 8) & 0xFF)
        value[2] = UInt8((n >> 16) & 0xFF)
        value[3] = UInt8(n >> 24)
        let room = input.valueSize - 4
        value.replaceSubrange(4..<(4 + min(room, message.count)), with: message.prefix(room))
        try input.update(keyBytes: UInt32(0).bytes, valueBytes: value)
    }

    func readOutput() throws(BPFError) -> KernelFacts {
        guard let bytes = try out.lookup(keyBytes: UInt32(0).bytes) else { throw .notFound(kind: "entry 0 of", name: out.name) }
        return KernelFacts(bytes: bytes)
    }

    // MARK: Timing

    /// Mean nanoseconds per run of the parser and of a program that returns at once (the floor),
    /// over `repeat` runs each of the same packet (BPF_PROG_TEST_RUN's timer), interleaved
    /// `rounds` times; the minimum of each is returned (the least disturbed run).
    public func timing(_ message: [UInt8], framing: Framing = .udp4, repeat count: Int = 10_000,
                       rounds: Int = 5) throws(BPFError) -> (parser: Double, floor: Double) {
        var f = framing
        if f == .buffer || message.count + 14 + 40 + 22 > Self.maxPacketBytes { f = .buffer }
        lock.lock()
        defer { lock.unlock() }
        if f == .buffer { try writeInput(message) }
        let data = Self.packet(message, framing: f)
        let program = f == .buffer ? bufferProgram : packetProgram
        var best = (parser: Double.infinity, floor: Double.infinity)
        for _ in 0..<max(rounds, 1) {
            let p = try program.testRun(data: data, repeat: count)
            let t = try trivialProgram.testRun(data: data, repeat: count)
            best.parser = min(best.parser, Self.nanoseconds(p.duration))
            best.floor = min(best.floor, Self.nanoseconds(t.duration))
        }
        return best
    }

    static func nanoseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
    }
}

/// A `struct fqdn_facts` as the kernel wrote it.
public struct KernelFacts: Sendable, Hashable {
    /// The raw bytes (`sizeof(struct fqdn_facts)`).
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    var value: fqdn_facts {
        bytes.withUnsafeBytes { $0.loadUnaligned(as: fqdn_facts.self) }
    }

    static let qnameOffset = MemoryLayout<fqdn_facts>.offset(of: \fqdn_facts.qname)!
    static let chainOffset = MemoryLayout<fqdn_facts>.offset(of: \fqdn_facts.chain)!
    static let addrsOffset = MemoryLayout<fqdn_facts>.offset(of: \fqdn_facts.addrs)!
    static let nameSize = MemoryLayout<fqdn_wire_name>.size
    static let addrSize = MemoryLayout<fqdn_credited_addr>.size

    /// The wire name at byte offset `at` (a `struct fqdn_wire_name`), and its `labels` field.
    func wireName(at: Int) throws(BPFError) -> (wire: [UInt8], labels: Int) {
        let len = Int(bytes[at + 256]) | Int(bytes[at + 257]) << 8
        let labels = Int(bytes[at + 258]) | Int(bytes[at + 259]) << 8
        guard (1...256).contains(len) else { throw .invalidState("kernel facts: name length \(len) at offset \(at)") }
        return (Array(bytes[at..<(at + len)]), labels)
    }

    /// Converts to DNSWire's facts. Also checks what DNSWire's type cannot express: error facts
    /// are all zero after verdict/reason/offset, and each name's `labels` field matches its wire.
    public func responseFacts() throws(BPFError) -> ResponseFacts {
        let f = value
        if f.verdict != UInt32(FQDN_VERDICT_OK) {
            guard f.verdict == UInt32(FQDN_VERDICT_ERROR), let reason = ParseReason(rawValue: f.reason) else {
                throw .invalidState("kernel facts: verdict \(f.verdict) reason \(f.reason)")
            }
            if let i = bytes[12...].firstIndex(where: { $0 != 0 }) {
                throw .invalidState("kernel facts: error verdict (\(reason) at \(f.offset)) but byte \(i) is not zero")
            }
            return ResponseFacts(error: ParseError(reason: reason, offset: Int(f.offset)))
        }
        if f.reason != 0 || f.offset != 0 { throw .invalidState("kernel facts: ok verdict with reason \(f.reason) offset \(f.offset)") }
        var facts = ResponseFacts()
        facts.id = f.id
        facts.flags = f.flags
        facts.rcode = f.rcode
        facts.qtype = f.qtype
        facts.qclass = f.qclass
        facts.qdcount = f.qdcount
        facts.ancount = f.ancount
        facts.nscount = f.nscount
        facts.arcount = f.arcount
        facts.credits = f.credits != 0
        if f.qdcount > 0 {
            facts.qname = try name(at: Self.qnameOffset)
        } else if f.qname.len != 0 {
            throw .invalidState("kernel facts: qname of \(f.qname.len) bytes without a question")
        }
        guard Int(f.chain_len) <= Int(FQDN_MAX_CNAME_CHAIN), Int(f.addr_count) <= Int(FQDN_MAX_CREDITED) else {
            throw .invalidState("kernel facts: chain_len \(f.chain_len) addr_count \(f.addr_count)")
        }
        for i in 0..<Int(f.chain_len) {
            facts.chain.append(try name(at: Self.chainOffset + i * Self.nameSize))
        }
        for i in 0..<Int(f.addr_count) {
            let at = Self.addrsOffset + i * Self.addrSize
            let family = bytes[at]
            let ttl = UInt32(bytes[at + 4]) | UInt32(bytes[at + 5]) << 8 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 24
            let address: IPAddress
            switch Int32(family) {
            case FQDN_AF_INET: address = .v4(Array(bytes[(at + 8)..<(at + 12)]))
            case FQDN_AF_INET6: address = .v6(Array(bytes[(at + 8)..<(at + 24)]))
            default: throw .invalidState("kernel facts: address family \(family)")
            }
            facts.credited.append(CreditedAddress(address: address, ttl: ttl))
        }
        return facts
    }

    func name(at offset: Int) throws(BPFError) -> DNSName {
        let (wire, labels) = try wireName(at: offset)
        guard let name = DNSName(validatingWire: wire) else {
            throw .invalidState("kernel facts: not a valid wire name: \(wire)")
        }
        if name.labelCount != labels {
            throw .invalidState("kernel facts: \(name) has \(name.labelCount) labels, labels field says \(labels)")
        }
        return name
    }
}

/// A pthread mutex (the parser's maps are shared by all callers).
final class Mutex: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func lock() { pthread_mutex_lock(&m) }
    func unlock() { pthread_mutex_unlock(&m) }
}
