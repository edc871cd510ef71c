import Foundation

/// Builds Ethernet frames carrying UDP or TCP over IPv4 or IPv6, with valid checksums: the
/// input of BPF_PROG_TEST_RUN for tc programs (and, without the Ethernet header, for
/// cgroup_skb programs), and what tests send from raw sockets. Lengths that do not fit their
/// 16-bit fields wrap instead of trapping: malformed packets are what tests are made of.
///
/// ```swift
/// let query = DNSMessageBuilder.query(name: "api.example.com", id: 7)
/// let frame = PacketBuilder.udp(from: .init("10.0.0.2", port: 40000), to: .init("10.0.0.53", port: 53), payload: query)
/// ```
public enum PacketBuilder {
    /// An IP address and a port.
    public struct Endpoint: Sendable, Hashable {
        /// 4 or 16 bytes.
        public var address: [UInt8]
        public var port: UInt16

        public init(address: [UInt8], port: UInt16) {
            precondition(address.count == 4 || address.count == 16, "an IPv4 or IPv6 address")
            self.address = address
            self.port = port
        }

        /// `"10.0.0.2"` or `"fd00::2"`.
        public init(_ text: String, port: UInt16) {
            guard let bytes = PacketBuilder.parseAddress(text) else { preconditionFailure("not an IP address: \(text)") }
            self.init(address: bytes, port: port)
        }

        public var isIPv6: Bool { address.count == 16 }
    }

    public static let defaultSourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    public static let defaultDestinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]

    /// TCP flag bits.
    public static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10

    /// Ethernet + IPv4/IPv6 + UDP + payload.
    public static func udp(from src: Endpoint, to dst: Endpoint, payload: [UInt8],
                           sourceMAC: [UInt8] = defaultSourceMAC, destinationMAC: [UInt8] = defaultDestinationMAC) -> [UInt8] {
        precondition(src.isIPv6 == dst.isIPv6, "both addresses of one family")
        var udp: [UInt8] = []
        udp += be16(src.port) + be16(dst.port) + be16(UInt16(truncatingIfNeeded: 8 + payload.count)) + [0, 0]
        udp += payload
        let sum = transportChecksum(src.address, dst.address, proto: 17, segment: udp)
        udp[6] = UInt8(sum >> 8)
        udp[7] = UInt8(sum & 0xFF)
        if !src.isIPv6 && sum == 0 { udp[6] = 0xFF; udp[7] = 0xFF }
        return ethernet(sourceMAC, destinationMAC, ip(src.address, dst.address, proto: 17, payload: udp))
    }

    /// Ethernet + IPv4/IPv6 + TCP (20-byte header, no options) + payload.
    public static func tcp(from src: Endpoint, to dst: Endpoint, flags: UInt8 = syn, sequence: UInt32 = 1, acknowledgment: UInt32 = 0,
                           payload: [UInt8] = [], sourceMAC: [UInt8] = defaultSourceMAC,
                           destinationMAC: [UInt8] = defaultDestinationMAC) -> [UInt8] {
        precondition(src.isIPv6 == dst.isIPv6, "both addresses of one family")
        var tcp: [UInt8] = []
        tcp += be16(src.port) + be16(dst.port) + be32(sequence) + be32(acknowledgment)
        tcp += [0x50, flags] + be16(65535) + [0, 0] + [0, 0]
        tcp += payload
        let sum = transportChecksum(src.address, dst.address, proto: 6, segment: tcp)
        tcp[16] = UInt8(sum >> 8)
        tcp[17] = UInt8(sum & 0xFF)
        return ethernet(sourceMAC, destinationMAC, ip(src.address, dst.address, proto: 6, payload: tcp))
    }

    /// A DNS message framed for TCP (2-byte length prefix).
    public static func tcpFramed(_ message: [UInt8]) -> [UInt8] { be16(UInt16(truncatingIfNeeded: message.count)) + message }

    /// The packet without its 14-byte Ethernet header (what cgroup_skb programs see).
    public static func withoutEthernet(_ frame: [UInt8]) -> [UInt8] { Array(frame.dropFirst(14)) }

    // MARK: - Pieces

    static func ethernet(_ src: [UInt8], _ dst: [UInt8], _ ipPacket: [UInt8]) -> [UInt8] {
        let type: UInt16 = (ipPacket.first ?? 0) >> 4 == 6 ? 0x86DD : 0x0800
        return dst + src + be16(type) + ipPacket
    }

    static func ip(_ src: [UInt8], _ dst: [UInt8], proto: UInt8, payload: [UInt8]) -> [UInt8] {
        if src.count == 16 {
            return [0x60, 0, 0, 0] + be16(UInt16(truncatingIfNeeded: payload.count)) + [proto, 64] + src + dst + payload
        }
        var h: [UInt8] = [0x45, 0] + be16(UInt16(truncatingIfNeeded: 20 + payload.count)) + [0, 1, 0x40, 0, 64, proto, 0, 0] + src + dst
        let sum = checksum(h)
        h[10] = UInt8(sum >> 8)
        h[11] = UInt8(sum & 0xFF)
        return h + payload
    }

    static func transportChecksum(_ src: [UInt8], _ dst: [UInt8], proto: UInt8, segment: [UInt8]) -> UInt16 {
        var pseudo = src + dst
        if src.count == 16 {
            pseudo += be32(UInt32(segment.count)) + [0, 0, 0, proto]
        } else {
            pseudo += [0, proto] + be16(UInt16(truncatingIfNeeded: segment.count))
        }
        return checksum(pseudo + segment)
    }

    /// The Internet checksum (RFC 1071).
    public static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    public static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    /// Dotted-quad IPv4 or RFC 4291 IPv6 text to 4 or 16 bytes.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        if !text.contains(":") {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
            guard parts.count == 4, !parts.contains(nil) else { return nil }
            return parts.map { $0! }
        }
        let halves = text.components(separatedByDoubleColon: true)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring) -> [UInt16]? {
            if s.isEmpty { return [] }
            let g = s.split(separator: ":", omittingEmptySubsequences: false).map { UInt16($0, radix: 16) }
            return g.contains(nil) ? nil : g.map { $0! }
        }
        guard let head = groups(halves[0]) else { return nil }
        var words = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            words += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard words.count == 8 else { return nil }
        return words.flatMap { be16($0) }
    }
}

extension String {
    fileprivate func components(separatedByDoubleColon _: Bool) -> [Substring] {
        guard let r = range(of: "::") else { return [self[...]] }
        let rest = self[r.upperBound...]
        if rest.contains("::") { return [self[..<r.lowerBound], rest, rest] }  // invalid: 3 parts
        return [self[..<r.lowerBound], rest]
    }
}
