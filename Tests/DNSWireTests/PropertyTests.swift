import DNSWire
import FQDNTestSupport
import Testing

/// Random messages from a seeded generator: encode -> decode gives the same message back.
struct MessageGenerator {
    var rng: SeededRandom
    var pool: [DNSName] = []

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }

    mutating func label(maxLength: Int = 63) -> [UInt8] {
        let length = chance(10) ? int(1...maxLength) : int(1...min(12, maxLength))
        if chance(15) { return bytes(length) }  // anything: dots, backslashes, NUL, high bytes
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".utf8)
        return (0..<length).map { _ in alphabet[int(0...(alphabet.count - 1))] }
    }

    mutating func name() -> DNSName {
        let pick = int(0...99)
        var name: DNSName
        if pick < 5 {
            name = .root
        } else if pick < 10 {
            // 127 labels: the most a name can have (255 bytes).
            name = DNSName(labels: (0..<127).map { _ in label(maxLength: 1) })!
        } else if pick < 20 {
            // Long labels up to exactly 255 bytes.
            var labels: [[UInt8]] = []
            var used = 1
            while used < 255 {
                let n = min(63, 255 - used - 1)
                if n < 1 { break }
                let l = label(maxLength: n)
                labels.append(l)
                used += 1 + l.count
                if chance(20) { break }
            }
            name = DNSName(labels: labels)!
        } else if pick < 55, !pool.isEmpty {
            // Shares a suffix with an earlier name (compression), sometimes in other case.
            let base = pool[int(0...(pool.count - 1))]
            var labels = base.labels
            if chance(30), !labels.isEmpty { labels.removeFirst() }
            for _ in 0..<int(0...3) { labels.insert(label(), at: 0) }
            if chance(20) { labels = labels.map { $0.map { c in (0x61...0x7A).contains(c) ? c - 0x20 : c } } }
            name = DNSName(labels: labels) ?? base
        } else {
            name = DNSName(labels: (0..<int(1...5)).map { _ in label() })!
        }
        pool.append(name)
        return name
    }

    mutating func rdata(for type: DNSType) -> DNSRData {
        switch type {
        case .a: return .a(.v4(bytes(4)))
        case .aaaa: return .aaaa(.v6(chance(30) ? [UInt8](repeating: 0, count: 12) + bytes(4) : bytes(16)))
        case .ns: return .ns(name())
        case .cname: return .cname(name())
        case .ptr: return .ptr(name())
        case .mx: return .mx(preference: UInt16.random(in: 0...UInt16.max, using: &rng), exchange: name())
        case .srv:
            return .srv(priority: UInt16(int(0...65535)), weight: UInt16(int(0...65535)), port: UInt16(int(0...65535)), target: name())
        case .soa:
            return .soa(SOAData(mname: name(), rname: name(), serial: UInt32.random(in: 0...UInt32.max, using: &rng),
                                refresh: 3600, retry: 600, expire: UInt32.random(in: 0...UInt32.max, using: &rng), minimum: 60))
        case .txt:
            return .txt((0..<int(1...4)).map { _ in bytes(chance(10) ? int(0...255) : int(0...20)) })
        default:
            return .other(bytes(chance(20) ? 0 : int(0...40)))
        }
    }

    mutating func record(allowOPT: Bool = false) -> DNSResourceRecord {
        let types: [DNSType] = [.a, .aaaa, .ns, .cname, .ptr, .mx, .srv, .soa, .txt, DNSType(99), DNSType(0xFF00), DNSType(0)]
        let type = types[int(0...(types.count - 1))]
        let cls: DNSClass = chance(85) ? .in : DNSClass(UInt16(int(0...65535)))
        return DNSResourceRecord(name: name(), type: type, dnsClass: cls, ttl: UInt32.random(in: 0...UInt32.max, using: &rng),
                                 rdata: rdata(for: type))
    }

    mutating func count() -> Int {
        chance(8) ? int(0...64) : int(0...4)
    }

    mutating func message() -> DNSMessage {
        pool = []
        let header = DNSHeader(id: UInt16(int(0...65535)), flags: UInt16(int(0...65535)))
        var message = DNSMessage(header: header)
        message.questions = (0..<(chance(80) ? 1 : count())).map { _ in
            DNSQuestion(name: name(), type: DNSType(UInt16(int(0...300))), dnsClass: chance(90) ? .in : DNSClass(UInt16(int(0...65535))))
        }
        message.answers = (0..<count()).map { _ in record() }
        message.authority = (0..<count()).map { _ in record() }
        message.additional = (0..<count()).map { _ in record() }
        if chance(50), message.additional.count < 64 {
            let options = (0..<int(0...3)).map { _ in EDNSOption(code: UInt16(int(0...65535)), data: bytes(int(0...12))) }
            let opt = DNSResourceRecord(name: .root, type: .opt, dnsClass: DNSClass(UInt16(int(512...4096))),
                                        ttl: UInt32.random(in: 0...UInt32.max, using: &rng), rdata: .opt(options))
            message.additional.insert(opt, at: int(0...message.additional.count))
        }
        return message
    }
}

@Suite struct PropertyTests {
    static let seeds: [UInt64] = Array(1...8)

    @Test(arguments: seeds)
    func roundTrip(seed: UInt64) throws {
        var generator = MessageGenerator(seed: seed)
        var decodedCount = 0
        var compressedSmaller = 0
        for _ in 0..<150 {
            let message = generator.message()
            let compressed = message.encode()
            let plain = message.encode(compress: false)
            #expect(compressed.count <= plain.count)
            if compressed.count < plain.count { compressedSmaller += 1 }
            for bytes in [compressed, plain] {
                if bytes.count > ParserLimits.kernel.maxMessageLength {
                    #expect(verdict(bytes) == ParseError(.limitMessageLength, at: 0))
                    continue
                }
                let decoded = try DNSMessage.decode(bytes)
                #expect(decoded == message)
                // Exact bytes too (== on names ignores case; this does not).
                #expect(decoded.encode(compress: bytes == compressed) == bytes)
                #expect(ResponseFacts.extract(from: bytes) == ResponseFacts.extract(from: message))
                decodedCount += 1
            }
        }
        // The generator must mostly stay under the limits to test anything.
        #expect(decodedCount > 200)
        #expect(compressedSmaller > 100)
    }

    @Test func hopLimitRespectedByEncoder() throws {
        // Each name adds one label in front of the previous one: with compression, reading the
        // last needs one hop per earlier name unless the encoder caps the depth.
        var names: [DNSName] = [DNSName("base.test")!]
        for i in 0..<40 { names.append(DNSName(labels: [Array("l\(i)".utf8)] + names.last!.labels)!) }
        let message = DNSMessage(header: DNSHeader(id: 1, isResponse: true),
                                 answers: names.prefix(40).map { DNSResourceRecord(name: $0, ttl: 1, rdata: .a(.v4([1, 2, 3, 4]))) })
        let bytes = message.encode()
        #expect(try DNSMessage.decode(bytes) == message)
        #expect(bytes.count < message.encode(compress: false).count)
        // With a tighter limit the encoder still produces what that limit accepts.
        var tight = ParserLimits.kernel
        tight.maxPointerHops = 2
        #expect(try DNSMessage.decode(message.encode(maxPointerHops: 2), limits: tight) == message)
    }

    @Test(arguments: seeds)
    func namePresentationRoundTrip(seed: UInt64) {
        var generator = MessageGenerator(seed: seed &+ 1000)
        for _ in 0..<300 {
            let name = generator.name()
            let parsed = DNSName(name.description)
            #expect(parsed?.wire == name.wire, "\(name)")
            #expect(DNSName(validatingWire: name.wire) == name)
        }
    }

    @Test func generatorIsReproducible() {
        var a = MessageGenerator(seed: 42), b = MessageGenerator(seed: 42)
        #expect(a.message().encode() == b.message().encode())
    }
}
