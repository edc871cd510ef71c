import DNSWire
import FQDNTestSupport
import Testing

/// The facts rules of the contract on small hand-made responses.
@Suite struct FactsTests {
    let q = DNSName("www.example.test")!

    func response(_ answers: [DNSResourceRecord], rcode: UInt8 = 0, tc: Bool = false, qr: Bool = true,
                  additional: [DNSResourceRecord] = []) -> ResponseFacts {
        let message = DNSMessage(
            header: DNSHeader(id: 1, isResponse: qr, isTruncated: tc, rcode: rcode),
            questions: [DNSQuestion(name: DNSName("WWW.Example.TEST")!, type: .a)],
            answers: answers, additional: additional)
        return ResponseFacts.extract(from: message.encode())
    }

    func a(_ owner: String, _ last: UInt8, ttl: UInt32 = 300, cls: DNSClass = .in) -> DNSResourceRecord {
        DNSResourceRecord(name: DNSName(owner)!, dnsClass: cls, ttl: ttl, rdata: .a(.v4([192, 0, 2, last])))
    }

    func cname(_ owner: String, _ target: String, cls: DNSClass = .in) -> DNSResourceRecord {
        DNSResourceRecord(name: DNSName(owner)!, dnsClass: cls, ttl: 300, rdata: .cname(DNSName(target)!))
    }

    @Test func qnameIsLowercased() {
        let facts = response([])
        #expect(facts.qname?.description == "www.example.test")
        #expect(facts.qname?.wire == facts.qname?.wireLowercased)
        #expect(facts.credits)
    }

    @Test func chainAndCreditedCaseInsensitive() {
        let facts = response([
            cname("WWW.example.test", "CDN.example.test"),
            a("cdn.EXAMPLE.test", 1),
            DNSResourceRecord(name: DNSName("cdn.example.test")!, ttl: 300, rdata: .aaaa(.v6([UInt8](repeating: 0, count: 15) + [1]))),
            a("other.example.test", 2),
        ])
        #expect(facts.chain.map(\.description) == ["cdn.example.test"])
        #expect(facts.credited.map(\.address.description) == ["192.0.2.1", "::1"])
    }

    @Test func chainBreaksAndLoops() {
        // A CNAME whose owner is not the current name stops the chain for good.
        let broken = response([cname("www.example.test", "a.test"), cname("x.test", "b.test"), cname("a.test", "c.test"),
                               a("c.test", 9), a("a.test", 1)])
        #expect(broken.chain.map(\.description) == ["a.test"])
        #expect(broken.credited.map(\.address.description) == ["192.0.2.1"])
        // A loop back to the qname stops it; names already in the set stay credited.
        let loop = response([cname("www.example.test", "a.test"), cname("a.test", "WWW.example.test"), a("www.example.test", 3)])
        #expect(loop.chain.map(\.description) == ["a.test"])
        #expect(loop.credited.count == 1)
        // Non-IN CNAMEs and other types neither extend nor stop it.
        let mixed = response([
            cname("www.example.test", "z.test", cls: .ch), a("q.test", 4),
            cname("www.example.test", "a.test"), a("a.test", 5), a("a.test", 6, cls: .ch),
        ])
        #expect(mixed.chain.map(\.description) == ["a.test"])
        #expect(mixed.credited.map(\.address.description) == ["192.0.2.5"])
    }

    @Test func ttlWithTopBitCountsAsZero() {
        let facts = response([a("www.example.test", 1, ttl: 0x8000_0001), a("www.example.test", 2, ttl: 0x7FFF_FFFF)])
        #expect(facts.credited.map(\.ttl) == [0, 0x7FFF_FFFF])
    }

    @Test func onlyCleanResponsesCredit() {
        let answers = [cname("www.example.test", "a.test"), a("a.test", 1)]
        for facts in [response(answers, rcode: 3), response(answers, tc: true), response(answers, qr: false)] {
            #expect(!facts.credits)
            #expect(facts.chain.isEmpty && facts.credited.isEmpty)
            #expect(facts.qname == q)
        }
        // Extended rcode from OPT: header 0, OPT ttl upper byte 1 -> rcode 16 (BADVERS).
        let opt = DNSResourceRecord(name: .root, type: .opt, dnsClass: DNSClass(1232), ttl: 0x0100_0000, rdata: .opt([]))
        let extended = response(answers, additional: [opt])
        #expect(extended.rcode == 16 && !extended.credits && extended.credited.isEmpty)
        let plainOPT = response(answers, additional: [DNSResourceRecord(name: .root, type: .opt, dnsClass: DNSClass(1232), ttl: 0, rdata: .opt([]))])
        #expect(plainOPT.rcode == 0 && plainOPT.credited.count == 1)
    }

    @Test func noQuestionOrTwoQuestions() throws {
        let none = ResponseFacts.extract(from: Wire.header(flags: 0x8180))
        #expect(none.error == nil && none.qname == nil && none.qtype == 0 && !none.credits)
        let two = ResponseFacts.extract(from: Wire.header(flags: 0x8180, qd: 2) + Wire.questionA + Wire.pointer(12) + [0, 28, 0, 1])
        #expect(two.qdcount == 2 && two.qname?.description == "a" && two.qtype == 1 && !two.credits)
    }
}
