import DNSWire
import FQDNTestSupport
import Testing

@Suite struct NameTests {
    @Test func presentationLikeDnspython() {
        #expect(DNSName.root.description == ".")
        #expect(DNSName(wire: [0]).description == ".")
        #expect(DNSName(wire: Wire.name("www.example.test")).description == "www.example.test")
        // dnspython: `"().;\@$` get a backslash, bytes outside 0x21...0x7E are \DDD.
        let odd = DNSName(labels: [Array("a.b".utf8), Array("x\\y".utf8), [0x22, 0x28, 0x29, 0x3B, 0x40, 0x24], [0x20, 0x00, 0x7F, 0xFF], Array("ok-_*".utf8)])!
        #expect(odd.description == #"a\.b.x\\y.\"\(\)\;\@\$.\032\000\127\255.ok-_*"#)
        #expect(DNSName(odd.description)?.wire == odd.wire)
    }

    @Test func caseInsensitiveEqualityAndHash() {
        let upper = DNSName("WWW.Example.Test")!, lower = DNSName("www.example.test")!
        #expect(upper == lower)
        #expect(Set([upper, lower]).count == 1)
        #expect(upper.wire != lower.wire)
        #expect(upper.wireLowercased == lower.wire)
        #expect(upper.description == "WWW.Example.Test")
        #expect(upper.lowercased.description == "www.example.test")
        // Only ASCII letters fold.
        #expect(DNSName(labels: [[0xC4]]) != DNSName(labels: [[0xE4]]))
        #expect(DNSName("a.b") != DNSName("a.b.c"))
        #expect(DNSName("ab") != DNSName("a.b"))
    }

    @Test func parsing() {
        #expect(DNSName("example.test.")?.wire == Wire.name("example.test"))
        #expect(DNSName(#"a\046b"#)?.labels == [Array("a.b".utf8)])
        #expect(DNSName("") == nil)
        #expect(DNSName("a..b") == nil)
        #expect(DNSName(#"a\25"#) == nil)
        #expect(DNSName(#"a\256"#) == nil)
        #expect(DNSName(String(repeating: "x", count: 64)) == nil)
        #expect(DNSName(String(repeating: "x", count: 63)) != nil)
        #expect(DNSName(labels: [[UInt8]](repeating: [0x78], count: 127)) != nil)
        #expect(DNSName(labels: [[UInt8]](repeating: [0x78], count: 128)) == nil)
        #expect(DNSName(validatingWire: [1, 0x61]) == nil)
        #expect(DNSName(validatingWire: [1, 0x61, 0, 0]) == nil)
        #expect(DNSName(validatingWire: [0x40] + [UInt8](repeating: 0x61, count: 64) + [0]) == nil)
        #expect(DNSName(wire: [1, 0x61]).wire == [1, 0x61, 0])
    }

    @Test func addressesLikeDnspython() {
        func v6(_ groups: [UInt16]) -> String {
            IPAddress.v6(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }).description
        }
        #expect(IPAddress.v4([192, 0, 2, 1]).description == "192.0.2.1")
        #expect(v6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x2a]) == "2001:db8:1::2a")
        #expect(v6([0, 0, 0, 0, 0, 0, 0, 0]) == "::")
        #expect(v6([0, 0, 0, 0, 0, 0, 0, 1]) == "::1")
        #expect(v6([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]) == "::ffff:192.0.2.1")
        #expect(v6([0, 0, 0, 0, 0, 0, 0xc000, 0x0201]) == "::192.0.2.1")
        #expect(v6([1, 0, 1, 0, 1, 0, 1, 0]) == "1:0:1:0:1:0:1:0")
        #expect(v6([1, 0, 0, 1, 0, 0, 1, 1]) == "1::1:0:0:1:1")
        #expect(v6([0xfe80, 0, 0, 0, 0xabcd, 0, 0, 1]) == "fe80::abcd:0:0:1")
    }

    @Test func headerFlagsRoundTrip() {
        for flags in [0x0000, 0xFFFF, 0x8180, 0x8583, 0x7A5A, 0x0040] {
            #expect(DNSHeader(id: 9, flags: UInt16(flags)).flags == UInt16(flags))
        }
        let h = DNSHeader(id: 1, flags: 0x8583)
        #expect(h.isResponse && h.isAuthoritative && h.recursionDesired && h.recursionAvailable && !h.isTruncated)
        #expect(h.rcode == 3 && h.opcode == .query)
    }

    @Test func rdataPresentation() {
        #expect(DNSRData.txt([Array("a \"b\" \\c".utf8), [0x00, 0x7F]]).presentation == #""a \"b\" \\c" "\000\127""#)
        #expect(DNSRData.mx(preference: 10, exchange: DNSName("mx.test")!).presentation == "10 mx.test")
        #expect(DNSRData.other([0xAB, 0x01]).presentation == ##"\# 2 ab01"##)
        #expect(DNSRData.other([]).presentation == ##"\# 0"##)
    }
}
