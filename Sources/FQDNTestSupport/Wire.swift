/// Byte-level builders for hand-made DNS messages (tests of both parsers use the same ones).
public enum Wire {
    public static func u16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
    public static func u32(_ v: UInt32) -> [UInt8] { u16(Int(v >> 16)) + u16(Int(v & 0xFFFF)) }

    /// A 12-byte header.
    public static func header(id: Int = 0x1234, flags: Int = 0x8180, qd: Int = 0, an: Int = 0, ns: Int = 0, ar: Int = 0) -> [UInt8] {
        u16(id) + u16(flags) + u16(qd) + u16(an) + u16(ns) + u16(ar)
    }

    /// Uncompressed wire form of a dotted name ("" or "." is the root).
    public static func name(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in text.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += Array(label.utf8)
        }
        return out + [0]
    }

    public static func pointer(_ offset: Int) -> [UInt8] { [UInt8(0xC0 | (offset >> 8)), UInt8(offset & 0xFF)] }

    /// Type, class, TTL, rdlength (10 bytes), then the rdata.
    public static func rr(type: Int, cls: Int = 1, ttl: UInt32 = 300, rdlength: Int? = nil, _ rdata: [UInt8]) -> [UInt8] {
        u16(type) + u16(cls) + u32(ttl) + u16(rdlength ?? rdata.count) + rdata
    }

    /// Question "a" type A class IN: 12 bytes of header, then bytes 12...18 (name 12-14,
    /// type 15-16, class 17-18). The next record starts at 19.
    public static let questionA: [UInt8] = name("a") + u16(1) + u16(1)
}

extension Array where Element == UInt8 {
    /// Lowercase hex, for messages of failed expectations.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        for b in self { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
