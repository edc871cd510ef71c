import CFQDNShared

/// The one validation walk of `Documentation/ParserContract.md`. Both ``DNSMessage/decode(_:limits:)``
/// and ``ResponseFacts/extract(from:limits:)`` go through it, so their verdicts cannot differ.
@usableFromInline
struct MessageParser {
    @usableFromInline let msg: [UInt8]
    @usableFromInline let limits: ParserLimits
    @usableFromInline var length: Int { msg.count }

    @usableFromInline
    init(_ msg: [UInt8], limits: ParserLimits) {
        self.msg = msg
        self.limits = limits
    }

    // MARK: Fixed-width reads (callers have checked the bounds).

    @inlinable
    func u16(_ p: Int) -> UInt16 {
        UInt16(msg[p]) << 8 | UInt16(msg[p + 1])
    }

    @inlinable
    func u32(_ p: Int) -> UInt32 {
        UInt32(msg[p]) << 24 | UInt32(msg[p + 1]) << 16 | UInt32(msg[p + 2]) << 8 | UInt32(msg[p + 3])
    }

    // MARK: Names

    /// Reads the name at `start` with the contract's name rules. Returns the name (original
    /// case, uncompressed wire form) and the offset after it in the enclosing record.
    @inlinable
    func readName(at start: Int) throws(ParseError) -> (name: DNSName, end: Int) {
        let length = self.length
        var p = start
        var runStart = start
        var wireLength = 0
        var labels = 0
        var hops = 0
        var end = -1
        var wire: [UInt8] = []
        wire.reserveCapacity(64)
        while true {
            guard p < length else { throw ParseError(.truncated, at: p) }
            let b = msg[p]
            if b == 0 {
                wireLength += 1
                guard wireLength <= limits.maxNameLength else { throw ParseError(.nameTooLong, at: p) }
                wire.append(0)
                return (DNSName(uncheckedWire: wire), end >= 0 ? end : p + 1)
            }
            switch b & 0xC0 {
            case 0xC0:
                guard p + 1 < length else { throw ParseError(.truncated, at: p) }
                let target = Int(b & 0x3F) << 8 | Int(msg[p + 1])
                guard hops + 1 <= limits.maxPointerHops else { throw ParseError(.limitPointerHops, at: p) }
                guard target >= Int(FQDN_DNS_HEADER_LEN) else { throw ParseError(.pointerIntoHeader, at: p) }
                guard target < runStart else { throw ParseError(.pointerForward, at: p) }
                hops += 1
                if end < 0 { end = p + 2 }
                p = target
                runStart = target
            case 0x40, 0x80:
                throw ParseError(.reservedLabel, at: p)
            default:
                let n = Int(b)
                guard labels + 1 <= limits.maxLabels else { throw ParseError(.limitLabels, at: p) }
                guard wireLength + 1 + n + 1 <= limits.maxNameLength else { throw ParseError(.nameTooLong, at: p) }
                guard p + 1 + n <= length else { throw ParseError(.truncated, at: p) }
                labels += 1
                wireLength += 1 + n
                wire.append(contentsOf: msg[p..<(p + 1 + n)])
                p += 1 + n
            }
        }
    }

    // MARK: Message

    @usableFromInline
    mutating func parse() throws(ParseError) -> DNSMessage {
        let length = self.length
        guard length <= limits.maxMessageLength else { throw ParseError(.limitMessageLength, at: 0) }
        guard length >= Int(FQDN_DNS_HEADER_LEN) else { throw ParseError(.truncated, at: 0) }
        var counts = [Int](repeating: 0, count: 4)
        for i in 0..<4 {
            let field = 4 + 2 * i
            counts[i] = Int(u16(field))
            guard counts[i] <= limits.maxRecordsPerSection else { throw ParseError(.limitRecords, at: field) }
        }
        var message = DNSMessage(header: DNSHeader(id: u16(0), flags: u16(2)))
        var pos = Int(FQDN_DNS_HEADER_LEN)

        message.questions.reserveCapacity(counts[0])
        for _ in 0..<counts[0] {
            guard pos != length else { throw ParseError(.countMismatch, at: length) }
            let (name, end) = try readName(at: pos)
            guard end + 4 <= length else { throw ParseError(.truncated, at: end) }
            message.questions.append(DNSQuestion(name: name, type: DNSType(u16(end)), dnsClass: DNSClass(u16(end + 2))))
            pos = end + 4
        }

        var seenOPT = false
        for section in 1...3 {
            var records: [DNSResourceRecord] = []
            records.reserveCapacity(counts[section])
            for _ in 0..<counts[section] {
                guard pos != length else { throw ParseError(.countMismatch, at: length) }
                let ownerOffset = pos
                let (name, end) = try readName(at: pos)
                guard end + 10 <= length else { throw ParseError(.truncated, at: end) }
                let type = DNSType(u16(end))
                let dnsClass = DNSClass(u16(end + 2))
                let ttl = u32(end + 4)
                let rdataStart = end + 10
                let rdataEnd = rdataStart + Int(u16(end + 8))
                guard rdataEnd <= length else { throw ParseError(.rdataOverflow, at: rdataStart) }
                if type == .opt {
                    guard section == 3, name.isRoot, !seenOPT else { throw ParseError(.badOPT, at: ownerOffset) }
                    seenOPT = true
                }
                let rdata = try readRData(type, from: rdataStart, to: rdataEnd)
                records.append(DNSResourceRecord(name: name, type: type, dnsClass: dnsClass, ttl: ttl, rdata: rdata))
                pos = rdataEnd
            }
            switch section {
            case 1: message.answers = records
            case 2: message.authority = records
            default: message.additional = records
            }
        }
        guard pos >= length else { throw ParseError(.trailingBytes, at: pos) }
        return message
    }

    // MARK: Typed rdata

    @usableFromInline
    func readRData(_ type: DNSType, from start: Int, to end: Int) throws(ParseError) -> DNSRData {
        let lengthError = ParseError(.rdataLength, at: start)
        /// A fixed field of `size` bytes at `p` must lie inside the rdata.
        func fixed(_ p: Int, _ size: Int) throws(ParseError) {
            guard p + size <= end else { throw lengthError }
        }
        func finish(_ p: Int) throws(ParseError) {
            guard p == end else { throw lengthError }
        }
        switch type {
        case .a:
            guard end - start == 4 else { throw lengthError }
            return .a(.v4(Array(msg[start..<end])))
        case .aaaa:
            guard end - start == 16 else { throw lengthError }
            return .aaaa(.v6(Array(msg[start..<end])))
        case .ns, .cname, .ptr:
            let (name, p) = try readName(at: start)
            try finish(p)
            switch type {
            case .ns: return .ns(name)
            case .cname: return .cname(name)
            default: return .ptr(name)
            }
        case .mx:
            try fixed(start, 2)
            let (name, p) = try readName(at: start + 2)
            try finish(p)
            return .mx(preference: u16(start), exchange: name)
        case .srv:
            try fixed(start, 6)
            let (name, p) = try readName(at: start + 6)
            try finish(p)
            return .srv(priority: u16(start), weight: u16(start + 2), port: u16(start + 4), target: name)
        case .soa:
            let (mname, p1) = try readName(at: start)
            let (rname, p2) = try readName(at: p1)
            try fixed(p2, 20)
            try finish(p2 + 20)
            return .soa(SOAData(
                mname: mname, rname: rname, serial: u32(p2), refresh: u32(p2 + 4), retry: u32(p2 + 8),
                expire: u32(p2 + 12), minimum: u32(p2 + 16)))
        case .txt:
            guard end > start else { throw lengthError }
            var strings: [[UInt8]] = []
            var p = start
            while p < end {
                let n = Int(msg[p])
                try fixed(p + 1, n)
                strings.append(Array(msg[(p + 1)..<(p + 1 + n)]))
                p += 1 + n
            }
            return .txt(strings)
        case .opt:
            var options: [EDNSOption] = []
            var p = start
            while p < end {
                try fixed(p, 4)
                let n = Int(u16(p + 2))
                try fixed(p + 4, n)
                options.append(EDNSOption(code: u16(p), data: Array(msg[(p + 4)..<(p + 4 + n)])))
                p += 4 + n
            }
            return .opt(options)
        default:
            return .other(Array(msg[start..<end]))
        }
    }
}
