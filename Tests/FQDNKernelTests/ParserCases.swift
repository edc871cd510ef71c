import DNSWire
import FQDNTestSupport
import Testing

/// One hand-built message and the verdict the contract gives it.
struct ParserCase: CustomTestStringConvertible, Sendable {
    var label: String
    var bytes: [UInt8]
    var reason: ParseReason?
    var offset: Int = 0
    var testDescription: String { label }
}

/// Header + question "a" + answer count; the first answer's owner goes at 19.
func oneAnswer(an: Int = 1, ns: Int = 0, ar: Int = 0) -> [UInt8] {
    Wire.header(qd: 1, an: an, ns: ns, ar: ar) + Wire.questionA
}

let answerOwner = Wire.pointer(12)
let label63 = [UInt8](repeating: UInt8(ascii: "x"), count: 63)

/// Record 1: root owner at 12, opaque rdata from 23: a root byte then m pointers, each to the
/// previous; record 2's owner (at 24 + 2m) points at the last: reading it takes m + 1 hops.
func pointerChain(_ m: Int, firstTarget: Int = 23) -> [UInt8] {
    var rdata: [UInt8] = [0]
    for j in 1...m {
        rdata += Wire.pointer(j == 1 ? firstTarget : 24 + 2 * (j - 2))
    }
    var bytes = Wire.header(qd: 0, an: 2) + [0] + Wire.rr(type: 0xFF00, rdata)
    bytes += Wire.pointer(24 + 2 * (m - 1)) + Wire.rr(type: 1, [192, 0, 2, 1])
    return bytes
}

/// The adversarial cases of DNSWireTests/AdversarialTests.swift that use the kernel's limits
/// (the kernel parser has no other limits), with their hand-derived verdicts, plus cases aimed
/// at the kernel parser's own shortcuts (its cache of validated names, offset-equal names,
/// word-at-a-time comparisons) and the facts rules.
let parserCases: [ParserCase] = [
    ParserCase(label: "message of max+1 bytes", bytes: Wire.header(qd: 65) + [UInt8](repeating: 0, count: 16385 - 12),
               reason: .limitMessageLength, offset: 0),
    ParserCase(label: "empty input", bytes: [], reason: .truncated, offset: 0),
    ParserCase(label: "11-byte header", bytes: Array(Wire.header(qd: 0xFFFF).prefix(11)), reason: .truncated, offset: 0),
    ParserCase(label: "qdcount 65", bytes: Wire.header(qd: 65, ar: 65), reason: .limitRecords, offset: 4),
    ParserCase(label: "ancount 65", bytes: Wire.header(qd: 1, an: 65, ns: 65), reason: .limitRecords, offset: 6),
    ParserCase(label: "nscount 65", bytes: Wire.header(ns: 65), reason: .limitRecords, offset: 8),
    ParserCase(label: "arcount 65", bytes: Wire.header(ar: 65), reason: .limitRecords, offset: 10),
    ParserCase(label: "qdcount 1, no question", bytes: Wire.header(qd: 1), reason: .countMismatch, offset: 12),
    ParserCase(label: "ancount 2, one answer", bytes: oneAnswer(an: 2) + answerOwner + Wire.rr(type: 1, [1, 2, 3, 4]),
               reason: .countMismatch, offset: 35),
    ParserCase(label: "label runs past the end", bytes: Wire.header(qd: 1) + [3, 0x61, 0x62], reason: .truncated, offset: 12),
    ParserCase(label: "name without root byte", bytes: Wire.header(qd: 1) + [1, 0x61], reason: .truncated, offset: 14),
    ParserCase(label: "half a pointer", bytes: Wire.header(qd: 1) + [1, 0x61, 0xC0], reason: .truncated, offset: 14),
    ParserCase(label: "question type/class cut", bytes: Wire.header(qd: 1) + Wire.name("a") + [0, 1], reason: .truncated, offset: 15),
    ParserCase(label: "record fixed fields cut", bytes: oneAnswer() + answerOwner + [0, 1, 0], reason: .truncated, offset: 21),
    ParserCase(label: "label type 0x40", bytes: Wire.header(qd: 1) + [0x40] + [UInt8](repeating: 0x61, count: 64) + [0, 0, 1, 0, 1],
               reason: .reservedLabel, offset: 12),
    ParserCase(label: "label type 0x80", bytes: Wire.header(qd: 1) + [0x80, 0, 0, 1, 0, 1], reason: .reservedLabel, offset: 12),
    ParserCase(label: "label length 127", bytes: Wire.header(qd: 1) + [1, 0x61, 0x7F, 0, 0, 1, 0, 1], reason: .reservedLabel, offset: 14),
    ParserCase(label: "name of 257 bytes",
               bytes: Wire.header(qd: 1) + Array([[UInt8]](repeating: [63] + label63, count: 4).joined()) + [0, 0, 1, 0, 1],
               reason: .nameTooLong, offset: 204),
    // The qname (193 bytes) is a validated name the kernel caches; 128 + 193 > 255, so the
    // kernel must walk it to find the label that breaks the limit (at 76).
    ParserCase(label: "name too long across a pointer (to a cached name)",
               bytes: Wire.header(qd: 1, an: 1) + Array([[UInt8]](repeating: [63] + label63, count: 3).joined()) + [0, 0, 1, 0, 1]
                   + Array([[UInt8]](repeating: [63] + label63, count: 2).joined()) + Wire.pointer(12) + Wire.rr(type: 1, [1, 2, 3, 4]),
               reason: .nameTooLong, offset: 76),
    ParserCase(label: "exactly 255 bytes across a pointer (to a cached name)",
               bytes: Wire.header(qd: 1, an: 1) + Array([[UInt8]](repeating: [63] + label63, count: 3).joined()) + [0, 0, 1, 0, 1]
                   + [61] + [UInt8](repeating: 0x79, count: 61) + Wire.pointer(12) + Wire.rr(type: 1, [1, 2, 3, 4]),
               reason: nil),
    ParserCase(label: "pointer to itself", bytes: Wire.header(qd: 1) + Wire.pointer(12) + [0, 1, 0, 1], reason: .pointerForward, offset: 12),
    ParserCase(label: "pointer to its own run", bytes: Wire.header(qd: 1) + [1, 0x61] + Wire.pointer(12) + [0, 1, 0, 1],
               reason: .pointerForward, offset: 14),
    ParserCase(label: "pointer forward", bytes: Wire.header(qd: 1) + Wire.pointer(14) + [0, 0, 1, 0, 1], reason: .pointerForward, offset: 12),
    ParserCase(label: "second hop forward of its run",
               bytes: oneAnswer(an: 2) + answerOwner + Wire.rr(type: 0xFF01, [0xC0, 0x21, 0, 0]) + Wire.pointer(31) + Wire.rr(type: 1, [1, 2, 3, 4]),
               reason: .pointerForward, offset: 31),
    ParserCase(label: "pointer into header", bytes: Wire.header(qd: 1) + Wire.pointer(5) + [0, 1, 0, 1], reason: .pointerIntoHeader, offset: 12),
    ParserCase(label: "pointer to 11", bytes: Wire.header(qd: 1) + [1, 0x61] + Wire.pointer(11) + [0, 1, 0, 1],
               reason: .pointerIntoHeader, offset: 14),
    ParserCase(label: "rdlength past the end", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, rdlength: 5, [1, 2, 3, 4]),
               reason: .rdataOverflow, offset: 31),
    ParserCase(label: "A with 5 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, [1, 2, 3, 4, 5]), reason: .rdataLength, offset: 31),
    ParserCase(label: "A with 3 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, [1, 2, 3]), reason: .rdataLength, offset: 31),
    ParserCase(label: "A class CH with 16 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, cls: 3, [UInt8](repeating: 1, count: 16)),
               reason: .rdataLength, offset: 31),
    ParserCase(label: "AAAA with 4 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 28, [1, 2, 3, 4]), reason: .rdataLength, offset: 31),
    ParserCase(label: "CNAME name longer than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, [1, 0x62]) + [0],
               reason: .rdataLength, offset: 31),
    ParserCase(label: "CNAME name shorter than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, [1, 0x62, 0, 0xFF]),
               reason: .rdataLength, offset: 31),
    ParserCase(label: "NS name shorter than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 2, [0, 0]), reason: .rdataLength, offset: 31),
    ParserCase(label: "PTR name shorter than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 12, Wire.pointer(12) + [0]),
               reason: .rdataLength, offset: 31),
    ParserCase(label: "MX with 1 byte", bytes: oneAnswer() + answerOwner + Wire.rr(type: 15, [0]), reason: .rdataLength, offset: 31),
    ParserCase(label: "SRV with 5 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 33, [0, 0, 0, 0, 0]), reason: .rdataLength, offset: 31),
    ParserCase(label: "SOA with 19 fixed bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 6, [0, 0] + [UInt8](repeating: 0, count: 19)),
               reason: .rdataLength, offset: 31),
    ParserCase(label: "SOA with 21 fixed bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 6, [0, 0] + [UInt8](repeating: 0, count: 21)),
               reason: .rdataLength, offset: 31),
    ParserCase(label: "SOA first name runs to the end of the message",
               bytes: oneAnswer() + answerOwner + Wire.rr(type: 6, [1]) + [0x61],
               reason: .truncated, offset: 33),
    ParserCase(label: "TXT with rdlength 0", bytes: oneAnswer() + answerOwner + Wire.rr(type: 16, []), reason: .rdataLength, offset: 31),
    ParserCase(label: "TXT string past rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 16, [5, 0x61, 0x62]), reason: .rdataLength, offset: 31),
    ParserCase(label: "TXT of 5 empty strings (more than one step)", bytes: oneAnswer() + answerOwner + Wire.rr(type: 16, [0, 0, 0, 0, 0]),
               reason: nil),
    ParserCase(label: "OPT option header cut",
               bytes: Wire.header(qd: 1, ar: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [0, 10, 0]),
               reason: .rdataLength, offset: 30),
    ParserCase(label: "OPT option data past rdata",
               bytes: Wire.header(qd: 1, ar: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [0, 10, 0, 5, 1]),
               reason: .rdataLength, offset: 30),
    ParserCase(label: "OPT with 5 empty options (more than one step)",
               bytes: Wire.header(qd: 1, ar: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [UInt8](repeating: 0, count: 20)),
               reason: nil),
    ParserCase(label: "CNAME rdata with reserved label", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, [0x40, 0]),
               reason: .reservedLabel, offset: 31),
    ParserCase(label: "MX exchange pointing into header", bytes: oneAnswer() + answerOwner + Wire.rr(type: 15, [0, 10] + Wire.pointer(3)),
               reason: .pointerIntoHeader, offset: 33),
    ParserCase(label: "CNAME rdlength 0 at the end", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, []), reason: .truncated, offset: 31),
    ParserCase(label: "one byte after the last record", bytes: Wire.header(qd: 1) + Wire.questionA + [0], reason: .trailingBytes, offset: 19),
    ParserCase(label: "exactly max length, all padding", bytes: Wire.header() + [UInt8](repeating: 0, count: 16384 - 12),
               reason: .trailingBytes, offset: 12),
    ParserCase(label: "OPT in answer", bytes: oneAnswer() + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, []), reason: .badOPT, offset: 19),
    ParserCase(label: "OPT in authority", bytes: Wire.header(qd: 1, ns: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
               reason: .badOPT, offset: 19),
    ParserCase(label: "OPT owner not root",
               bytes: Wire.header(qd: 1, ar: 1) + Wire.questionA + answerOwner + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
               reason: .badOPT, offset: 19),
    ParserCase(label: "OPT owner a pointer to a root name (the name is root)",
               bytes: Wire.header(qd: 1, an: 1, ar: 1) + Wire.questionA + answerOwner + Wire.rr(type: 2, [0])
                   + Wire.pointer(31) + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
               reason: nil),
    ParserCase(label: "two OPTs",
               bytes: Wire.header(qd: 1, ar: 2) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, []) + [0]
                   + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
               reason: .badOPT, offset: 30),
    ParserCase(label: "OPT in answer with bad options: OPT rule first",
               bytes: oneAnswer() + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [0, 1, 0]), reason: .badOPT, offset: 19),
    ParserCase(label: "OPT in answer past the end: overflow first",
               bytes: oneAnswer() + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, rdlength: 9, []), reason: .rdataOverflow, offset: 30),
    ParserCase(label: "17 pointer hops", bytes: pointerChain(16), reason: .limitPointerHops, offset: 24),
    ParserCase(label: "16 pointer hops", bytes: pointerChain(15), reason: nil),
    ParserCase(label: "17th hop into the header", bytes: pointerChain(16, firstTarget: 5), reason: .limitPointerHops, offset: 24),
    ParserCase(label: "16th hop into the header", bytes: pointerChain(15, firstTarget: 5), reason: .pointerIntoHeader, offset: 24),
    ParserCase(label: "128 labels",
               bytes: Wire.header(qd: 1) + Array([[UInt8]](repeating: [1, 0x78], count: 128).joined()) + [0, 0, 1, 0, 1],
               reason: .limitLabels, offset: 266),
    ParserCase(label: "127 labels", bytes: Wire.header(qd: 1) + Array([[UInt8]](repeating: [1, 0x78], count: 127).joined()) + [0, 0, 1, 0, 1],
               reason: nil),
    // 126 labels in the (cached) qname, then an owner with 2 labels + a pointer to it: the
    // 128th label is the qname's 126th, at 12 + 125 * 2 = 262.
    ParserCase(label: "128 labels across a pointer (to a cached name)",
               bytes: Wire.header(qd: 1, an: 1) + Array([[UInt8]](repeating: [1, 0x78], count: 126).joined()) + [0, 0, 1, 0, 1]
                   + [1, 0x79, 1, 0x79] + Wire.pointer(12) + Wire.rr(type: 1, [1, 2, 3, 4]),
               reason: .limitLabels, offset: 262),
    // The hop-limit shortcut must not hide a hop-limit error (see the layout inside).
    ParserCase(label: "hops add up across a cached name",
               bytes: { () -> [UInt8] in
                   // Record 1 (root owner at 12, opaque rdata from 23): root byte, then 15
                   // pointers each to the previous (the last at 24 + 2*14 = 52). Record 2: owner
                   // root, a PTR whose rdata is a pointer to 52 (16 hops: validated and cached as
                   // a name start at its rdata). Record 3: owner = pointer to record 2's rdata
                   // (1 more hop, then the cached name's 16 = 17 > 16).
                   var rdata: [UInt8] = [0]
                   for j in 1...15 { rdata += Wire.pointer(j == 1 ? 23 : 24 + 2 * (j - 2)) }
                   var b = Wire.header(qd: 0, an: 3) + [0] + Wire.rr(type: 0xFF00, rdata)
                   let ptrRdata = b.count + 1 + 10
                   b += [0] + Wire.rr(type: 12, Wire.pointer(52))
                   b += Wire.pointer(ptrRdata) + Wire.rr(type: 1, [1, 2, 3, 4])
                   return b
               }(),
               reason: .limitPointerHops, offset: 24),
]

/// Facts checks: hand-built responses whose chain and credited addresses follow from the rules.
struct FactsCase: CustomTestStringConvertible, Sendable {
    var label: String
    var bytes: [UInt8]
    var chain: [String]
    var credited: [String]
    var testDescription: String { label }
}

/// Question "www.Example.test" at 12 (name 12...29, type/class 30...33), answers from 34.
func chainResponse(_ answers: [UInt8], count: Int, flags: Int = 0x8180) -> [UInt8] {
    Wire.header(flags: flags, qd: 1, an: count) + Wire.name("www.Example.test") + Wire.u16(1) + Wire.u16(1) + answers
}

let factsCases: [FactsCase] = [
    FactsCase(label: "owner spelled out in another case (not by pointer)",
              bytes: chainResponse(Wire.name("WWW.example.TEST") + Wire.rr(type: 1, [192, 0, 2, 1]), count: 1),
              chain: [], credited: ["192.0.2.1"]),
    FactsCase(label: "chain by pointers, A at the end",
              bytes: chainResponse(Wire.pointer(12) + Wire.rr(type: 5, Wire.name("CDN.example.test"))
                  + Wire.pointer(46) + Wire.rr(type: 1, [192, 0, 2, 2]), count: 2),
              chain: ["cdn.example.test"], credited: ["192.0.2.2"]),
    FactsCase(label: "A before the CNAME that names its owner (final set)",
              bytes: chainResponse(Wire.name("cdn.example.test") + Wire.rr(type: 1, [192, 0, 2, 3])
                  + Wire.pointer(12) + Wire.rr(type: 5, Wire.pointer(34)), count: 2),
              chain: ["cdn.example.test"], credited: ["192.0.2.3"]),
    FactsCase(label: "loop back to the qname spelled differently stops the chain",
              bytes: chainResponse(Wire.pointer(12) + Wire.rr(type: 5, Wire.name("a.test"))
                  + Wire.name("A.TEST") + Wire.rr(type: 5, Wire.name("wWw.eXample.test"))
                  + Wire.name("www.example.TEST") + Wire.rr(type: 1, [192, 0, 2, 4]), count: 3),
              chain: ["a.test"], credited: ["192.0.2.4"]),
    FactsCase(label: "owner that is not the current name stops the chain",
              bytes: chainResponse(Wire.pointer(12) + Wire.rr(type: 5, Wire.name("b.test"))
                  + Wire.name("other.test") + Wire.rr(type: 5, Wire.name("c.test"))
                  + Wire.name("b.test") + Wire.rr(type: 5, Wire.name("d.test"))
                  + Wire.name("c.test") + Wire.rr(type: 1, [192, 0, 2, 5])
                  + Wire.name("b.test") + Wire.rr(type: 28, [UInt8](repeating: 0x20, count: 16)), count: 5),
              chain: ["b.test"], credited: ["2020:2020:2020:2020:2020:2020:2020:2020"]),
    FactsCase(label: "class CH CNAME and A neither extend nor credit",
              bytes: chainResponse(Wire.pointer(12) + Wire.rr(type: 5, cls: 3, Wire.name("x.test"))
                  + Wire.pointer(12) + Wire.rr(type: 1, cls: 3, [0, 0, 0, 0]) + Wire.pointer(12) + Wire.rr(type: 1, [192, 0, 2, 6]), count: 3),
              chain: [], credited: ["192.0.2.6"]),
    FactsCase(label: "label bytes that differ only above ASCII are different names",
              bytes: chainResponse(Array(Wire.name("www.example.tes").dropLast()) + [1, 0xF4, 0] + Wire.rr(type: 1, [192, 0, 2, 7])
                  + [3, 0x77, 0x77, 0xD7, 7] + Array("example".utf8) + [4] + Array("test".utf8) + [0] + Wire.rr(type: 1, [192, 0, 2, 8]), count: 2),
              chain: [], credited: []),
    FactsCase(label: "TC=1: nothing credited",
              bytes: chainResponse(Wire.pointer(12) + Wire.rr(type: 1, [192, 0, 2, 9]), count: 1, flags: 0x8380),
              chain: [], credited: []),
]
