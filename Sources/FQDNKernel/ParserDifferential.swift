import CFQDNShared
import DNSWire
import FQDNTestSupport

/// Field-by-field comparison of the Swift and kernel parsers' facts.
///
/// `ResponseFacts ==` compares names case-insensitively; here names must be byte-identical
/// (both parsers report lowercase wire form), so a kernel that forgot to lowercase is caught.
public enum ParserComparison {
    /// The fields that differ, as "field: swift X, kernel Y"; empty when the facts agree.
    public static func differences(swift s: ResponseFacts, kernel k: ResponseFacts) -> [String] {
        var out: [String] = []
        func check<T: Equatable>(_ field: String, _ a: T, _ b: T) {
            if a != b { out.append("\(field): swift \(a), kernel \(b)") }
        }
        check("verdict", s.error.map { "\($0.reason.name) at \($0.offset)" } ?? "ok",
              k.error.map { "\($0.reason.name) at \($0.offset)" } ?? "ok")
        check("id", s.id, k.id)
        check("flags", s.flags, k.flags)
        check("rcode", s.rcode, k.rcode)
        check("qtype", s.qtype, k.qtype)
        check("qclass", s.qclass, k.qclass)
        check("counts", [s.qdcount, s.ancount, s.nscount, s.arcount], [k.qdcount, k.ancount, k.nscount, k.arcount])
        check("qname", s.qname.map { hex($0.wire) } ?? "none", k.qname.map { hex($0.wire) } ?? "none")
        check("credits", s.credits, k.credits)
        check("chain", s.chain.map { hex($0.wire) }, k.chain.map { hex($0.wire) })
        check("credited", s.credited.map { "\($0.address) ttl \($0.ttl)" }, k.credited.map { "\($0.address) ttl \($0.ttl)" })
        return out
    }

    /// One line describing facts (for disagreement reports).
    public static func summary(_ f: ResponseFacts) -> String {
        if let e = f.error { return "error \(e.reason.name) at \(e.offset)" }
        return "ok id=\(f.id) flags=\(f.flags) rcode=\(f.rcode) q=\(f.qname.map { "\($0)" } ?? "-")/\(f.qtype)/\(f.qclass) "
            + "counts=\(f.qdcount),\(f.ancount),\(f.nscount),\(f.arcount) credits=\(f.credits) "
            + "chain=\(f.chain.map { "\($0)" }) credited=\(f.credited.map { "\($0.address)/\($0.ttl)" })"
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8]()
        s.reserveCapacity(bytes.count * 2)
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 15)])
        }
        return String(decoding: s, as: UTF8.self)
    }
}

/// Seeded DNS messages for the differential tests: random wire-level messages (with
/// compression, every record type the contract types, OPT in and out of place), CNAME-chain
/// responses with mixed case and loops, random valid messages from DNSWire's encoder, limit
/// probes (pointer chains, label counts, long names, large messages), and mutations of all of
/// these and of real server output (byte flips, pointer rewrites, count changes, truncations,
/// label-length edits, appended bytes).
///
/// Case `i` of seed `s` depends only on `(s, i)`: a disagreement is reproduced by
/// ``message(_:)`` with the same index.
public struct DifferentialCases: Sendable {
    public let seed: UInt64
    public let corpus: [[UInt8]]

    /// - Parameter corpus: real messages to mutate (e.g. the knot corpus); may be empty.
    public init(seed: UInt64, corpus: [[UInt8]] = []) {
        self.seed = seed
        self.corpus = corpus
    }

    /// The kinds of cases, in the proportions ``message(_:)`` draws them.
    public enum Kind: String, Sendable, CaseIterable {
        case random, chain, encoded, limits, mutatedCorpus, mutatedRandom, mutatedChain, mutatedEncoded
    }

    /// Case number `index`: its kind and bytes.
    public func message(_ index: UInt64) -> (kind: Kind, bytes: [UInt8]) {
        var r = SeededRandom(seed: seed ^ (index &* 0xD1B5_4A32_D192_ED03) ^ 0x5EED)
        _ = r.next()
        let k = Int(r.next() % 100)
        switch k {
        case 0..<20: return (.random, Self.randomMessage(&r))
        case 20..<32: return (.chain, Self.chainMessage(&r))
        case 32..<42: return (.encoded, Self.encodedMessage(&r))
        case 42..<48: return (.limits, Self.limitMessage(&r))
        case 48..<70:
            if corpus.isEmpty { return (.mutatedRandom, Self.mutate(&r, Self.randomMessage(&r))) }
            return (.mutatedCorpus, Self.mutate(&r, corpus[Int(r.next() % UInt64(corpus.count))]))
        case 70..<82: return (.mutatedRandom, Self.mutate(&r, Self.randomMessage(&r)))
        case 82..<92: return (.mutatedChain, Self.mutate(&r, Self.chainMessage(&r)))
        default: return (.mutatedEncoded, Self.mutate(&r, Self.encodedMessage(&r)))
        }
    }

    // MARK: Building blocks

    static func pick<T>(_ r: inout SeededRandom, _ items: [T]) -> T { items[Int(r.next() % UInt64(items.count))] }
    static func int(_ r: inout SeededRandom, _ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(r.next() % UInt64(range.count))
    }
    static func chance(_ r: inout SeededRandom, _ percent: Int) -> Bool { Int(r.next() % 100) < percent }
    static func bytes(_ r: inout SeededRandom, _ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: r.next()) } }
    static func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { be16(Int(v >> 16)) + be16(Int(v & 0xFFFF)) }

    static let labelBytes: [UInt8] = Array("abcXYZ-09_\\.".utf8) + [0, 0xFF, 0x40, 0x7F, 0x20]

    static func label(_ r: inout SeededRandom) -> [UInt8] {
        let n = pick(&r, [1, 1, 2, 3, 5, 8, 20, 63, int(&r, 1...63)])
        return (0..<n).map { _ in pick(&r, labelBytes) }
    }

    static func encodeName(_ labels: [[UInt8]]) -> [UInt8] {
        labels.flatMap { [UInt8($0.count)] + $0 } + [0]
    }

    /// A writer that remembers where names start so later names can point at them.
    struct Builder {
        var out: [UInt8]
        var nameStarts: [Int] = []

        mutating func name(_ r: inout SeededRandom, _ labels: [[UInt8]]) {
            if !nameStarts.isEmpty, chance(&r, 60) {
                let target = pick(&r, nameStarts)
                let k = int(&r, 0...min(2, labels.count))
                let start = out.count
                out += labels.prefix(k).flatMap { [UInt8($0.count)] + $0 } + be16(0xC000 | target)
                if k > 0 { nameStarts.append(start) }
                return
            }
            let start = out.count
            out += encodeName(labels)
            if !labels.isEmpty { nameStarts.append(start) }
        }
    }

    static func header(_ r: inout SeededRandom) -> [UInt8] {
        be16(int(&r, 0...0xFFFF)) + be16(pick(&r, [0x8180, 0x8180, 0x8100, 0x8580, 0x8380, 0x8183, 0x0100, int(&r, 0...0xFFFF)]))
            + [UInt8](repeating: 0, count: 8)
    }

    /// Wire-level messages: every typed rdata, compression, misplaced OPT records.
    static func randomMessage(_ r: inout SeededRandom) -> [UInt8] {
        var b = Builder(out: header(&r))
        var counts = [0, 0, 0, 0]
        let qname = (0..<pick(&r, [0, 1, 2, 3, 4])).map { _ in label(&r) }
        for _ in 0..<pick(&r, [1, 1, 1, 1, 0, 2]) {
            b.name(&r, qname)
            b.out += be16(pick(&r, [1, 28, 5, 16])) + be16(pick(&r, [1, 1, 3]))
            counts[0] += 1
        }
        for section in 1...3 {
            for _ in 0..<pick(&r, [0, 1, 2, 3, 5, 10]) {
                var type = pick(&r, [1, 1, 28, 5, 5, 2, 12, 15, 33, 6, 16, 41, 99])
                if section == 3, chance(&r, 30) { type = 41 }
                let cls = pick(&r, [1, 1, 1, 3, 255, 0x8001])
                let ttl = pick(&r, [300, 0, 0x8000_0000, 0xFFFF_FFFF, UInt32(truncatingIfNeeded: r.next())])
                if type == 41 {
                    b.name(&r, [])
                } else if chance(&r, 50), !b.nameStarts.isEmpty {
                    b.out += be16(0xC000 | pick(&r, b.nameStarts))
                } else {
                    b.name(&r, (0..<int(&r, 0...3)).map { _ in label(&r) })
                }
                let fixedAt = b.out.count
                b.out += be16(type) + be16(cls) + be32(ttl) + [0, 0]
                let rdataAt = b.out.count
                switch type {
                case 1: b.out += bytes(&r, 4)
                case 28: b.out += bytes(&r, 16)
                case 2, 5, 12: b.name(&r, (0..<int(&r, 0...3)).map { _ in label(&r) })
                case 15: b.out += [0, 10]; b.name(&r, [label(&r)])
                case 33: b.out += [0, 0, 0, 0, 0, 53]; b.name(&r, [label(&r)])
                case 6:
                    b.name(&r, [label(&r)])
                    b.name(&r, [label(&r)])
                    b.out += bytes(&r, 20)
                case 16:
                    for _ in 0..<int(&r, 1...3) {
                        let s = bytes(&r, int(&r, 0...20))
                        b.out += [UInt8(s.count)] + s
                    }
                case 41:
                    for _ in 0..<int(&r, 0...2) {
                        let d = bytes(&r, int(&r, 0...8))
                        b.out += be16(10) + be16(d.count) + d
                    }
                default: b.out += bytes(&r, int(&r, 0...10))
                }
                let rdlength = b.out.count - rdataAt
                b.out[fixedAt + 8] = UInt8(rdlength >> 8)
                b.out[fixedAt + 9] = UInt8(rdlength & 0xFF)
                counts[section] += 1
            }
        }
        for i in 0..<4 { b.out.replaceSubrange((4 + 2 * i)..<(6 + 2 * i), with: be16(counts[i])) }
        return b.out
    }

    /// A response with a CNAME chain and A/AAAA records: owners by pointer or spelled out in
    /// another case, targets sometimes repeating an earlier name (loops), other classes.
    static func chainMessage(_ r: inout SeededRandom) -> [UInt8] {
        func labels(_ r: inout SeededRandom) -> [[UInt8]] {
            (0..<int(&r, 1...3)).map { _ in (0..<int(&r, 1...3)).map { _ in pick(&r, Array("abAB".utf8)) } }
        }
        var out = be16(1) + be16(pick(&r, [0x8180, 0x8180, 0x8180, 0x8380, 0x8183])) + be16(1) + be16(0) + be16(0) + be16(0)
        let q = labels(&r)
        let qoff = out.count
        out += encodeName(q) + be16(pick(&r, [1, 28])) + be16(1)
        var owners: [(Int?, [[UInt8]])] = [(qoff, q)]
        var an = 0
        for _ in 0..<int(&r, 0...12) {
            let type = pick(&r, [5, 5, 1, 28, 1, 16])
            var (at, l) = pick(&r, owners)
            if chance(&r, 20) { (at, l) = (nil, labels(&r)) }
            if let at, chance(&r, 70) {
                out += be16(0xC000 | at)
            } else {
                let flipped = l.map { label in label.map { c in chance(&r, 50) ? (c ^ 0x20) : c } }
                owners.append((out.count, l))
                out += encodeName(flipped)
            }
            out += be16(type) + be16(pick(&r, [1, 1, 1, 3])) + be32(pick(&r, [60, 0x8000_0001, 3600])) + [0, 0]
            let rdataAt = out.count
            switch type {
            case 5:
                let t = chance(&r, 20) ? pick(&r, owners).1 : labels(&r)
                if chance(&r, 30), let at = pick(&r, owners).0 {
                    out += be16(0xC000 | at)
                } else {
                    owners.append((out.count, t))
                    out += encodeName(t)
                }
            case 1: out += bytes(&r, 4)
            case 28: out += bytes(&r, 16)
            default: out += [3] + Array("txt".utf8)
            }
            let n = out.count - rdataAt
            out[rdataAt - 2] = UInt8(n >> 8)
            out[rdataAt - 1] = UInt8(n & 0xFF)
            an += 1
        }
        out.replaceSubrange(6..<8, with: be16(an))
        if chance(&r, 40) {
            out += [0] + be16(41) + be16(1232) + be32(pick(&r, [0, 0x0100_0000, 0x8000])) + be16(0)
            out.replaceSubrange(10..<12, with: be16(1))
        }
        return out
    }

    /// A random valid message built with DNSWire's types and encoder (with compression).
    static func encodedMessage(_ r: inout SeededRandom) -> [UInt8] {
        func name(_ r: inout SeededRandom) -> DNSName {
            let labels = (0..<int(&r, 0...4)).map { _ in (0..<int(&r, 1...10)).map { _ in pick(&r, Array("abcdeXYZ-0".utf8)) } }
            return DNSName(labels: labels) ?? .root
        }
        var names = (0..<int(&r, 1...4)).map { _ in name(&r) }
        func someName(_ r: inout SeededRandom) -> DNSName {
            if chance(&r, 70) { return pick(&r, names) }
            let n = name(&r)
            names.append(n)
            return n
        }
        func record(_ r: inout SeededRandom) -> DNSResourceRecord {
            let owner = someName(&r)
            let ttl = pick(&r, [300, 0, 0x8000_0000, UInt32(truncatingIfNeeded: r.next())])
            let cls = pick(&r, [DNSClass.in, .in, .in, .ch])
            switch int(&r, 0...9) {
            case 0: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl, rdata: .a(.v4(bytes(&r, 4))))
            case 1: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl, rdata: .aaaa(.v6(bytes(&r, 16))))
            case 2: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl, rdata: .cname(someName(&r)))
            case 3: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl, rdata: .ns(someName(&r)))
            case 4: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl, rdata: .mx(preference: 10, exchange: someName(&r)))
            case 5: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl,
                                             rdata: .srv(priority: 1, weight: 2, port: 53, target: someName(&r)))
            case 6: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl,
                                             rdata: .txt((0..<int(&r, 1...3)).map { _ in bytes(&r, int(&r, 0...30)) }))
            case 7: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl, rdata: .soa(SOAData(
                mname: someName(&r), rname: someName(&r), serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5)))
            case 8: return DNSResourceRecord(name: owner, dnsClass: cls, ttl: ttl, rdata: .ptr(someName(&r)))
            default: return DNSResourceRecord(name: owner, type: DNSType(UInt16(int(&r, 100...300))), dnsClass: cls, ttl: ttl,
                                              rdata: .other(bytes(&r, int(&r, 0...12))))
            }
        }
        let qname = pick(&r, names)
        var message = DNSMessage(header: DNSHeader(id: UInt16(truncatingIfNeeded: r.next()),
                                                   flags: UInt16(pick(&r, [0x8180, 0x8180, 0x8400, 0x8183, 0x0100]))),
                                 questions: [DNSQuestion(name: qname, type: pick(&r, [.a, .aaaa, .cname, .txt]))])
        // A chain from the qname, sometimes.
        var cur = qname
        for _ in 0..<int(&r, 0...3) {
            let t = name(&r)
            message.answers.append(DNSResourceRecord(name: cur, ttl: 60, rdata: .cname(t)))
            names.append(t)
            cur = t
        }
        for _ in 0..<int(&r, 0...6) { message.answers.append(record(&r)) }
        message.answers.append(DNSResourceRecord(name: cur, ttl: 60, rdata: .a(.v4(bytes(&r, 4)))))
        if chance(&r, 50) { message.answers.shuffle(using: &r) }
        for _ in 0..<int(&r, 0...3) { message.authority.append(record(&r)) }
        for _ in 0..<int(&r, 0...2) { message.additional.append(record(&r)) }
        if chance(&r, 60) {
            message.additional.append(DNSResourceRecord(name: .root, type: .opt, dnsClass: DNSClass(1232),
                                                        ttl: pick(&r, [0, 0x0100_0000, 0x8000]), rdata: .opt([])))
        }
        return message.encode(compress: chance(&r, 80))
    }

    /// Probes of the limits: pointer chains around 16 hops, names around 127 labels and 255
    /// bytes (also reached through a pointer), counts around 64, messages around 16 KiB.
    static func limitMessage(_ r: inout SeededRandom) -> [UInt8] {
        switch int(&r, 0...5) {
        case 0:
            // Record 1: root owner, opaque rdata: a root byte then m pointers, each to the
            // previous; record 2's owner points at the last: m + 1 hops.
            let m = int(&r, 13...17)
            var rdata: [UInt8] = [0]
            for j in 1...m { rdata += be16(0xC000 | (j == 1 ? 23 : 24 + 2 * (j - 2))) }
            var out = be16(7) + be16(0x8180) + be16(0) + be16(2) + be16(0) + be16(0) + [0]
            out += be16(0xFF00) + be16(1) + be32(1) + be16(rdata.count) + rdata
            out += be16(0xC000 | (24 + 2 * (m - 1))) + be16(1) + be16(1) + be32(1) + be16(4) + bytes(&r, 4)
            return out
        case 1:
            // A question with 125...129 one-byte labels, maybe reached partly through a pointer.
            let n = int(&r, 125...129)
            var out = be16(7) + be16(0x8180) + be16(1) + be16(1) + be16(0) + be16(0)
            out += Array(repeating: [1, 0x78] as [UInt8], count: n).joined() + [0] + be16(1) + be16(1)
            let k = int(&r, 0...4)
            out += Array(repeating: [1, 0x79] as [UInt8], count: k).joined() + be16(0xC000 | 12)
            out += be16(1) + be16(1) + be32(60) + be16(4) + bytes(&r, 4)
            return out
        case 2:
            // Names near 255 bytes: 63-byte labels plus a tail, spelled out and by pointer.
            let tail = int(&r, 58...66)
            var out = be16(7) + be16(0x8180) + be16(1) + be16(1) + be16(0) + be16(0)
            let qname = Array(repeating: [63] + [UInt8](repeating: 0x61, count: 63), count: 3).joined() + [UInt8(min(tail, 63))]
                + [UInt8](repeating: 0x62, count: min(tail, 63)) + [0]
            out += qname + be16(1) + be16(1)
            let k = int(&r, 0...3)
            if k > 0 { out += [UInt8(k)] + [UInt8](repeating: 0x63, count: k) }
            out += be16(0xC000 | 12)
            out += be16(1) + be16(1) + be32(60) + be16(4) + bytes(&r, 4)
            return out
        case 3:
            // Counts at and around 64 with records present.
            let n = int(&r, 62...66)
            var out = be16(7) + be16(0x8180) + be16(1) + be16(n) + be16(0) + be16(0) + [1, 0x61, 0] + be16(1) + be16(1)
            for _ in 0..<min(n, 66) { out += be16(0xC00C) + be16(1) + be16(1) + be32(60) + be16(4) + bytes(&r, 4) }
            return out
        case 4:
            // Large messages (parsed from the buffer program when they exceed a test-run page).
            let size = pick(&r, [3000, 4000, 9000, 16384, 16385, int(&r, 4000...16400)])
            var out = be16(7) + be16(0x8180) + be16(1) + be16(1) + be16(0) + be16(0) + [1, 0x61, 0] + be16(16) + be16(1)
            let room = max(0, size - out.count - 12)
            var txt: [UInt8] = []
            while txt.count < room {
                let n = min(255, room - txt.count - 1)
                if n < 0 { break }
                txt += [UInt8(n)] + [UInt8](repeating: 0x74, count: n)
            }
            out += be16(0xC00C) + be16(16) + be16(1) + be32(60) + be16(txt.count) + txt
            return out + bytes(&r, max(0, size - out.count))
        default:
            // A long chain: 8, 9 or 10 CNAMEs, the chain limit.
            var out = be16(7) + be16(0x8180) + be16(1) + be16(0) + be16(0) + be16(0) + [1, 0x61, 0] + be16(1) + be16(1)
            var prev = 12
            let n = int(&r, 7...10)
            for i in 0..<n {
                out += be16(0xC000 | prev) + be16(5) + be16(1) + be32(60) + be16(4)
                prev = out.count
                out += [2, 0x62, UInt8(0x30 + i), 0]
            }
            out += be16(0xC000 | prev) + be16(1) + be16(1) + be32(60) + be16(4) + bytes(&r, 4)
            out.replaceSubrange(6..<8, with: be16(n + 1))
            return out
        }
    }

    /// One to three edits: byte flips/sets, pointer rewrites, count changes, truncation,
    /// label-length edits, appended bytes.
    static func mutate(_ r: inout SeededRandom, _ input: [UInt8]) -> [UInt8] {
        var m = input
        for _ in 0..<pick(&r, [1, 1, 2, 3]) {
            guard !m.isEmpty else { break }
            let i = int(&r, 0...(m.count - 1))
            switch int(&r, 0...6) {
            case 0: m[i] = UInt8(truncatingIfNeeded: r.next())
            case 1: m[i] ^= 1 << UInt8(r.next() % 8)
            case 2 where m.count >= 12:
                let at = 4 + 2 * int(&r, 0...3)
                let v = (Int(m[at]) << 8 | Int(m[at + 1])) + pick(&r, [-1, 1, 2, 100])
                m.replaceSubrange(at..<(at + 2), with: be16(max(0, v) & 0xFFFF))
            case 3: m = Array(m.prefix(int(&r, 0...m.count)))
            case 4 where i + 1 < m.count:
                let v = 0xC000 | int(&r, 0...(m.count + 3))
                m[i] = UInt8(v >> 8)
                m[i + 1] = UInt8(v & 0xFF)
            case 5: m[i] = pick(&r, [0, 1, 63, 64, 0x80, 0xC0, m[i] &+ 1, m[i] &- 1])
            case 6: m += bytes(&r, int(&r, 1...3))
            default: m[i] = 0
            }
        }
        return m
    }
}

/// Runs cases through both parsers and collects the disagreements.
public struct DifferentialRun: Sendable {
    /// One disagreement, with everything needed to reproduce it.
    public struct Disagreement: Sendable, CustomStringConvertible {
        public var seed: UInt64
        public var index: UInt64
        public var kind: String
        public var framing: KernelParser.Framing
        public var message: [UInt8]
        public var swift: String
        public var kernel: String
        public var fields: [String]

        public var description: String {
            "seed \(seed) case \(index) (\(kind), \(framing), \(message.count) bytes): \(fields.joined(separator: "; "))\n"
                + "  swift:  \(swift)\n  kernel: \(kernel)\n  message: \(ParserComparison.hex(message))"
        }
    }

    public var cases = 0
    public var byVerdict: [String: Int] = [:]
    public var byKind: [String: Int] = [:]
    public var byFraming: [String: Int] = [:]
    public var credited = 0
    public var withChain = 0
    public var disagreements: [Disagreement] = []

    public init() {}

    /// Compares one message on one framing and records the result.
    public mutating func check(_ parser: KernelParser, message: [UInt8], framing: KernelParser.Framing,
                               seed: UInt64 = 0, index: UInt64 = 0, kind: String = "fixed") {
        let swift = ResponseFacts.extract(from: message)
        let used = framing != .buffer && message.count + 14 + 40 + 22 > KernelParser.maxPacketBytes ? .buffer : framing
        cases += 1
        byVerdict[swift.error?.reason.name ?? "ok", default: 0] += 1
        byKind[kind, default: 0] += 1
        byFraming[used.rawValue, default: 0] += 1
        if !swift.credited.isEmpty { credited += 1 }
        if !swift.chain.isEmpty { withChain += 1 }
        let kernelText: String
        var fields: [String]
        do {
            let kernel = try parser.facts(for: message, framing: used)
            fields = ParserComparison.differences(swift: swift, kernel: kernel)
            kernelText = ParserComparison.summary(kernel)
        } catch {
            fields = ["harness: \(error)"]
            kernelText = "harness error: \(error)"
        }
        if !fields.isEmpty {
            disagreements.append(Disagreement(seed: seed, index: index, kind: kind, framing: used, message: message,
                                              swift: ParserComparison.summary(swift), kernel: kernelText, fields: fields))
        }
    }

    /// Cases `start ..< start + count` of `generator`, rotating the framing over UDP/TCP on
    /// IPv4/IPv6 (large messages go through the buffer program).
    public mutating func run(_ parser: KernelParser, _ generator: DifferentialCases, start: UInt64 = 0, count: Int,
                             maxDisagreements: Int = 20) {
        let framings: [KernelParser.Framing] = [.udp4, .udp6, .tcp4, .tcp6]
        for n in 0..<UInt64(count) {
            let index = start + n
            let (kind, bytes) = generator.message(index)
            check(parser, message: bytes, framing: framings[Int(index % 4)], seed: generator.seed, index: index, kind: kind.rawValue)
            if disagreements.count >= maxDisagreements { return }
        }
    }

    /// Adds another run's counts and disagreements to this one.
    public mutating func merge(_ other: DifferentialRun) {
        cases += other.cases
        byVerdict.merge(other.byVerdict, uniquingKeysWith: +)
        byKind.merge(other.byKind, uniquingKeysWith: +)
        byFraming.merge(other.byFraming, uniquingKeysWith: +)
        credited += other.credited
        withChain += other.withChain
        disagreements += other.disagreements
    }

    /// A one-paragraph summary.
    public var report: String {
        let verdicts = byVerdict.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let framings = byFraming.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(cases) cases, \(disagreements.count) disagreements; verdicts: \(verdicts); framings: \(framings); "
            + "\(credited) with credited addresses, \(withChain) with a CNAME chain"
    }
}
