import Foundation
import PacketWire

/// Builds small DNS messages (no compression) for tests: queries and crafted responses.
public enum DNSMessageBuilder {
    /// An answer record.
    public enum Answer: Sendable, Hashable {
        case a(name: String, ttl: UInt32, address: String)
        case aaaa(name: String, ttl: UInt32, address: String)
        case cname(name: String, ttl: UInt32, target: String)
    }

    /// Flag bits of the header's flags word.
    public static let qr: UInt16 = 0x8000, rd: UInt16 = 0x0100, ra: UInt16 = 0x0080, aa: UInt16 = 0x0400

    /// A query with one question (`type`: 1 A, 28 AAAA; class IN).
    public static func query(name: String, type: UInt16 = 1, id: UInt16, recursionDesired: Bool = true) -> [UInt8] {
        header(id: id, flags: recursionDesired ? rd : 0, qd: 1, an: 0) + question(name, type)
    }

    /// A response to one question with the given answers (rcode 0 unless given).
    public static func response(id: UInt16, name: String, type: UInt16 = 1, answers: [Answer], rcode: UInt16 = 0) -> [UInt8] {
        var m = header(id: id, flags: qr | rd | ra | aa | (rcode & 0xF), qd: 1, an: UInt16(answers.count)) + question(name, type)
        for a in answers {
            switch a {
            case let .a(n, ttl, address):
                m += record(n, 1, ttl, PacketBuilder.parseAddress(address)!)
            case let .aaaa(n, ttl, address):
                m += record(n, 28, ttl, PacketBuilder.parseAddress(address)!)
            case let .cname(n, ttl, target):
                m += record(n, 5, ttl, wire(target))
            }
        }
        return m
    }

    /// Uncompressed wire form of a presentation name (lowercase kept as given).
    public static func wire(_ name: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in name.split(separator: ".") where !label.isEmpty {
            out.append(UInt8(label.utf8.count))
            out += Array(label.utf8)
        }
        return out + [0]
    }

    static func header(id: UInt16, flags: UInt16, qd: UInt16, an: UInt16) -> [UInt8] {
        PacketBuilder.be16(id) + PacketBuilder.be16(flags) + PacketBuilder.be16(qd) + PacketBuilder.be16(an) + [0, 0, 0, 0]
    }

    static func question(_ name: String, _ type: UInt16) -> [UInt8] {
        wire(name) + PacketBuilder.be16(type) + [0, 1]
    }

    static func record(_ name: String, _ type: UInt16, _ ttl: UInt32, _ rdata: [UInt8]) -> [UInt8] {
        wire(name) + PacketBuilder.be16(type) + [0, 1] + PacketBuilder.be32(ttl) + PacketBuilder.be16(UInt16(rdata.count)) + rdata
    }
}
