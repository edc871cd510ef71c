import CFQDNShared

extension DNSMessage {
    /// Encodes the message. Header counts come from the sections.
    ///
    /// - Parameters:
    ///   - compress: Replace name suffixes seen earlier with compression pointers (owner names,
    ///     and names inside NS, CNAME, PTR, MX and SOA data; never SRV targets, RFC 2782).
    ///     Suffixes match case-insensitively, so a compressed suffix reads back in the case of
    ///     its first occurrence (equal under ``DNSName``'s `==`).
    ///   - maxPointerHops: Never produce a name that needs more pointer hops than this to read,
    ///     so the output stays decodable with the same limit.
    /// - Returns: The message bytes (no TCP length prefix). No limit is checked: tests use the
    ///   encoder to build messages the decoder must reject.
    public func encode(compress: Bool = true, maxPointerHops: Int = ParserLimits.kernel.maxPointerHops) -> [UInt8] {
        var writer = WireWriter(compress: compress, maxPointerHops: maxPointerHops)
        writer.u16(header.id)
        writer.u16(header.flags)
        writer.u16(UInt16(truncatingIfNeeded: questions.count))
        writer.u16(UInt16(truncatingIfNeeded: answers.count))
        writer.u16(UInt16(truncatingIfNeeded: authority.count))
        writer.u16(UInt16(truncatingIfNeeded: additional.count))
        for question in questions {
            writer.name(question.name)
            writer.u16(question.type.rawValue)
            writer.u16(question.dnsClass.rawValue)
        }
        for record in answers + authority + additional {
            writer.record(record)
        }
        return writer.bytes
    }

    /// The message with its 2-byte TCP length prefix (RFC 1035 section 4.2.2).
    public func encodeForTCP(compress: Bool = true) -> [UInt8] {
        let body = encode(compress: compress)
        return [UInt8(truncatingIfNeeded: body.count >> 8), UInt8(truncatingIfNeeded: body.count)] + body
    }
}

/// Appends wire-format fields; remembers where name suffixes were written for compression.
struct WireWriter {
    var bytes: [UInt8] = []
    let compress: Bool
    let maxPointerHops: Int
    /// Lowercased wire form of a suffix -> (offset, pointer hops needed to read it from there).
    var suffixes: [[UInt8]: (offset: Int, hops: Int)] = [:]

    init(compress: Bool, maxPointerHops: Int) {
        self.compress = compress
        self.maxPointerHops = maxPointerHops
        bytes.reserveCapacity(512)
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(v & 0xFF))
    }
    mutating func u32(_ v: UInt32) {
        u16(UInt16(v >> 16))
        u16(UInt16(v & 0xFFFF))
    }

    mutating func name(_ name: DNSName, compressible: Bool = true) {
        let labels = name.labels
        guard compress, compressible else {
            bytes += name.wire
            return
        }
        let lower = name.wireLowercased
        // Suffix i starts at this offset of the wire form.
        var starts: [Int] = []
        var p = 0
        for label in labels {
            starts.append(p)
            p += 1 + label.count
        }
        // The longest suffix written before that can be reached within the hop limit.
        var reuse: (index: Int, offset: Int, hops: Int)?
        for i in labels.indices {
            if let hit = suffixes[Array(lower[starts[i]...])], hit.hops + 1 <= maxPointerHops {
                reuse = (i, hit.offset, hit.hops)
                break
            }
        }
        let literalCount = reuse?.index ?? labels.count
        let hopsAfter = reuse.map { $0.hops + 1 } ?? 0
        let base = bytes.count
        for i in 0..<literalCount {
            let offset = base + starts[i]
            let key = Array(lower[starts[i]...])
            if offset < 0x4000, suffixes[key] == nil {
                suffixes[key] = (offset, hopsAfter)
            }
        }
        bytes += name.wire[0..<(literalCount < labels.count ? starts[literalCount] : name.wire.count - 1)]
        if let reuse {
            u16(0xC000 | UInt16(reuse.offset))
        } else {
            u8(0)
        }
    }

    mutating func record(_ record: DNSResourceRecord) {
        name(record.name)
        u16(record.type.rawValue)
        u16(record.dnsClass.rawValue)
        u32(record.ttl)
        let lengthAt = bytes.count
        u16(0)
        let start = bytes.count
        switch record.rdata {
        case .a(let address), .aaaa(let address):
            bytes += address.bytes
        case .ns(let target), .cname(let target), .ptr(let target):
            name(target)
        case .mx(let preference, let exchange):
            u16(preference)
            name(exchange)
        case .srv(let priority, let weight, let port, let target):
            u16(priority)
            u16(weight)
            u16(port)
            name(target, compressible: false)
        case .txt(let strings):
            for s in strings {
                u8(UInt8(truncatingIfNeeded: s.count))
                bytes += s
            }
        case .soa(let soa):
            name(soa.mname)
            name(soa.rname)
            u32(soa.serial)
            u32(soa.refresh)
            u32(soa.retry)
            u32(soa.expire)
            u32(soa.minimum)
        case .opt(let options):
            for option in options {
                u16(option.code)
                u16(UInt16(truncatingIfNeeded: option.data.count))
                bytes += option.data
            }
        case .other(let data):
            bytes += data
        }
        let length = bytes.count - start
        bytes[lengthAt] = UInt8(truncatingIfNeeded: length >> 8)
        bytes[lengthAt + 1] = UInt8(truncatingIfNeeded: length)
    }
}
