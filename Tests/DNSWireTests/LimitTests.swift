import CFQDNShared
import DNSWire
import FQDNTestSupport
import Testing

/// The limits at and just past their edges (numbers from fqdn_shared.h).
@Suite struct LimitTests {
    @Test func limitsComeFromTheSharedHeader() {
        let limits = ParserLimits.kernel
        #expect(limits.maxPointerHops == Int(FQDN_MAX_PTR_HOPS) && limits.maxPointerHops >= 16)
        #expect(limits.maxLabels == Int(FQDN_MAX_LABELS) && limits.maxLabels == 127)
        #expect(limits.maxNameLength == Int(FQDN_MAX_NAME_LEN) && limits.maxNameLength == 255)
        #expect(limits.maxRecordsPerSection == Int(FQDN_MAX_RECORDS_PER_SECTION) && limits.maxRecordsPerSection >= 64)
        #expect(limits.maxMessageLength == Int(FQDN_MAX_MSG_LEN))
        #expect(limits.maxCNAMEChain == Int(FQDN_MAX_CNAME_CHAIN))
    }

    @Test func name255BytesAnd127LabelsAccepted() throws {
        // 127 one-byte labels + root = 255 bytes.
        let many = Array([[UInt8]](repeating: [1, 0x78], count: 127).joined()) + [0]
        #expect(many.count == 255)
        let message = try DNSMessage.decode(Wire.header(qd: 1) + many + [0, 1, 0, 1])
        #expect(message.questions[0].name.labelCount == 127)
        #expect(message.questions[0].name.wire == many)
        // Labels 63, 63, 63, 61 + root = 255 bytes.
        let long = Wire.name(String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63) + "."
            + String(repeating: "c", count: 63) + "." + String(repeating: "d", count: 61))
        #expect(long.count == 255)
        #expect(verdict(Wire.header(qd: 1) + long + [0, 1, 0, 1]) == nil)
        // One more byte in the last label: 256 bytes, rejected at that label (12 + 3*64).
        let tooLong = Wire.name(String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63) + "."
            + String(repeating: "c", count: 63) + "." + String(repeating: "d", count: 62))
        #expect(verdict(Wire.header(qd: 1) + tooLong + [0, 1, 0, 1]) == ParseError(.nameTooLong, at: 204))
    }

    @Test func name255BytesThroughPointersAccepted() throws {
        // Question "x" * 63 ... (193 bytes at 12); answer owner: 61-byte label + pointer -> 255.
        let question = Array([[UInt8]](repeating: [63] + label63, count: 3).joined()) + [0]
        let owner = [61] + [UInt8](repeating: 0x79, count: 61) + Wire.pointer(12)
        let bytes = Wire.header(qd: 1, an: 1) + question + [0, 1, 0, 1] + owner + Wire.rr(type: 1, [1, 2, 3, 4])
        let message = try DNSMessage.decode(bytes)
        #expect(message.answers[0].name.wire.count == 255)
    }

    @Test func sixteenPointerHopsAcceptedSeventeenRejected() throws {
        let sixteen = try DNSMessage.decode(pointerChain(15))
        #expect(sixteen.answers[1].name == .root)
        #expect(verdict(pointerChain(16)) == ParseError(.limitPointerHops, at: 24))
    }

    @Test func sixtyFourRecordsAcceptedSixtyFiveRejected() throws {
        func answers(_ n: Int) -> [UInt8] {
            var bytes = Wire.header(qd: 1, an: n) + Wire.questionA
            for i in 0..<n { bytes += Wire.pointer(12) + Wire.rr(type: 1, [10, 0, 0, UInt8(i % 256)]) }
            return bytes
        }
        let ok = try DNSMessage.decode(answers(64))
        #expect(ok.answers.count == 64)
        let facts = ResponseFacts.extract(from: answers(64))
        #expect(facts.credited.count == 64 && facts.credited.count <= Int(FQDN_MAX_CREDITED))
        #expect(verdict(answers(65)) == ParseError(.limitRecords, at: 6))
        // Every section, 64 each (the questions may repeat).
        var all = Wire.header(qd: 64, an: 64, ns: 64, ar: 64)
        for _ in 0..<64 { all += Wire.questionA }
        for _ in 0..<(3 * 64) { all += Wire.pointer(12) + Wire.rr(type: 1, [1, 2, 3, 4]) }
        #expect(verdict(all) == nil)
    }

    @Test func messageLengthLimit() {
        // A valid message padded inside a TXT record to exactly the limit, then one byte more.
        func padded(_ total: Int) -> [UInt8] {
            // header 12 + question 7 + owner 2 + fixed 10 = 31 bytes before the rdata.
            var rdata: [UInt8] = []
            var left = total - 31
            while left > 0 {
                let n = min(255, left - 1)
                rdata += [UInt8(n)] + [UInt8](repeating: 0x74, count: n)
                left -= n + 1
            }
            return Wire.header(qd: 1, an: 1) + Wire.questionA + Wire.pointer(12) + Wire.rr(type: 16, rdata)
        }
        let max = Int(FQDN_MAX_MSG_LEN)
        #expect(padded(max).count == max)
        #expect(verdict(padded(max)) == nil)
        #expect(padded(max + 1).count == max + 1)
        #expect(verdict(padded(max + 1)) == ParseError(.limitMessageLength, at: 0))
    }

    @Test func cnameChainStopsAtTheLimit() throws {
        // qname c0, CNAMEs c0 -> c1 -> ... -> c10, an A for every name: the chain holds 8
        // targets (c1...c8); addresses of c0...c8 are credited, c9 and c10 are not.
        var message = DNSMessage(header: DNSHeader(id: 7, isResponse: true),
                                 questions: [DNSQuestion(name: DNSName("c0.test")!, type: .a)])
        for i in 0..<10 {
            message.answers.append(DNSResourceRecord(name: DNSName("c\(i).test")!, ttl: 60, rdata: .cname(DNSName("c\(i + 1).test")!)))
        }
        for i in 0...10 {
            message.answers.append(DNSResourceRecord(name: DNSName("c\(i).test")!, ttl: 60, rdata: .a(.v4([10, 0, 0, UInt8(i)]))))
        }
        let facts = ResponseFacts.extract(from: message.encode())
        #expect(facts.chain.count == Int(FQDN_MAX_CNAME_CHAIN))
        #expect(facts.chain.map(\.description) == (1...8).map { "c\($0).test" })
        #expect(facts.credited.map(\.address) == (0...8).map { IPAddress.v4([10, 0, 0, UInt8($0)]) })
    }
}
