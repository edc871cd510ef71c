import DNSWire
import FQDNTestSupport
import Testing

/// One hand-built message, the verdict the contract gives it, and why.
struct Adversarial: CustomTestStringConvertible, Sendable {
    var label: String
    var bytes: [UInt8]
    var reason: ParseReason
    var offset: Int
    var limits: ParserLimits = .kernel
    var testDescription: String { label }
}

/// Layout used by most cases below (Wire.questionA):
///   0-11 header, 12-14 question name "a", 15-16 qtype, 17-18 qclass,
///   19-20 answer owner (pointer to 12), 21-22 type, 23-24 class, 25-28 ttl, 29-30 rdlength,
///   31... rdata.
/// With an OPT owner (root, one byte at 19) instead: fixed fields 20-29, rdata at 30.
let answerOwner = Wire.pointer(12)

/// Header with one question and one answer, the question, the answer's owner: rdata follows.
func oneAnswer(an: Int = 1, ns: Int = 0, ar: Int = 0) -> [UInt8] {
    Wire.header(qd: 1, an: an, ns: ns, ar: ar) + Wire.questionA
}

/// A chain of pointers in the opaque rdata of a first record, and a second record whose owner
/// points at the last of them, so reading that owner takes `m + 1` hops.
/// Layout: header (qd 0, an 2); record 1 owner root at 12, fixed 13-22, rdata from 23:
/// byte 23 = 0 (root), pointer j (1...m) at 24 + 2(j-1) pointing at 23 (j = 1) or at pointer
/// j-1. Record 2's owner is at 24 + 2m and points at pointer m.
func pointerChain(_ m: Int, firstTarget: Int = 23) -> [UInt8] {
    var rdata: [UInt8] = [0]
    for j in 1...m {
        rdata += Wire.pointer(j == 1 ? firstTarget : 24 + 2 * (j - 2))
    }
    var bytes = Wire.header(qd: 0, an: 2) + [0] + Wire.rr(type: 0xFF00, rdata)
    precondition(bytes.count == 24 + 2 * m)
    bytes += Wire.pointer(24 + 2 * (m - 1)) + Wire.rr(type: 1, [192, 0, 2, 1])
    return bytes
}

let label63 = [UInt8](repeating: UInt8(ascii: "x"), count: 63)

let adversarialCases: [Adversarial] = [
    // 1. Message length: checked before anything else.
    Adversarial(label: "message of max+1 bytes", bytes: Wire.header(qd: 65) + [UInt8](repeating: 0, count: 16385 - 12),
                reason: .limitMessageLength, offset: 0),
    // 2. Header.
    Adversarial(label: "empty input", bytes: [], reason: .truncated, offset: 0),
    Adversarial(label: "11-byte header (counts not looked at)", bytes: Array(Wire.header(qd: 0xFFFF).prefix(11)),
                reason: .truncated, offset: 0),
    // 3. Counts, in order qd (4), an (6), ns (8), ar (10).
    Adversarial(label: "qdcount 65", bytes: Wire.header(qd: 65, ar: 65), reason: .limitRecords, offset: 4),
    Adversarial(label: "ancount 65", bytes: Wire.header(qd: 1, an: 65, ns: 65), reason: .limitRecords, offset: 6),
    Adversarial(label: "nscount 65", bytes: Wire.header(ns: 65), reason: .limitRecords, offset: 8),
    Adversarial(label: "arcount 65", bytes: Wire.header(ar: 65), reason: .limitRecords, offset: 10),
    // 4. Count mismatch: the read position equals L where a record should start.
    Adversarial(label: "qdcount 1, no question", bytes: Wire.header(qd: 1), reason: .countMismatch, offset: 12),
    // answer 1 is bytes 19-34 (owner 19-20, fixed 21-30, rdata 31-34): L = 35.
    Adversarial(label: "ancount 2, one answer", bytes: oneAnswer(an: 2) + answerOwner + Wire.rr(type: 1, [1, 2, 3, 4]),
                reason: .countMismatch, offset: 35),
    // Truncation inside names and fixed fields.
    Adversarial(label: "label runs past the end", bytes: Wire.header(qd: 1) + [3, 0x61, 0x62],
                reason: .truncated, offset: 12),  // label at 12: 12 + 1 + 3 > 15
    Adversarial(label: "name without root byte", bytes: Wire.header(qd: 1) + [1, 0x61],
                reason: .truncated, offset: 14),  // next label byte would be at 14 = L
    Adversarial(label: "half a pointer", bytes: Wire.header(qd: 1) + [1, 0x61, 0xC0],
                reason: .truncated, offset: 14),  // pointer at 14, its second byte would be at 15 = L
    Adversarial(label: "question type/class cut", bytes: Wire.header(qd: 1) + Wire.name("a") + [0, 1],
                reason: .truncated, offset: 15),  // name 12-14, type+class would start at 15
    Adversarial(label: "record fixed fields cut", bytes: oneAnswer() + answerOwner + [0, 1, 0],
                reason: .truncated, offset: 21),  // owner 19-20, type field at 21
    // Reserved label types.
    Adversarial(label: "label type 0x40", bytes: Wire.header(qd: 1) + [0x40] + [UInt8](repeating: 0x61, count: 64) + [0, 0, 1, 0, 1],
                reason: .reservedLabel, offset: 12),
    Adversarial(label: "label type 0x80", bytes: Wire.header(qd: 1) + [0x80, 0, 0, 1, 0, 1], reason: .reservedLabel, offset: 12),
    Adversarial(label: "label length 127 (0x7F)", bytes: Wire.header(qd: 1) + [1, 0x61, 0x7F, 0, 0, 1, 0, 1],
                reason: .reservedLabel, offset: 14),  // after label "a" (12-13)
    // Name too long: labels at 12, 76, 140; the 4th at 204 makes 4*64+1 = 257 > 255.
    Adversarial(label: "name of 257 bytes", bytes: Wire.header(qd: 1) + Array([[UInt8]](repeating: [63] + label63, count: 4).joined()) + [0, 0, 1, 0, 1],
                reason: .nameTooLong, offset: 204),
    // Question: three 63-labels at 12, 76, 140, root 204, type/class 205-208. Answer owner at
    // 209: two 63-labels (n = 128) then a pointer (337) to 12: label at 12 gives n = 192,
    // the label at 76 would need 192 + 64 + 1 = 257 > 255: reported at 76, after the hop.
    Adversarial(label: "name too long across a pointer",
                bytes: Wire.header(qd: 1, an: 1) + Array([[UInt8]](repeating: [63] + label63, count: 3).joined()) + [0, 0, 1, 0, 1]
                    + Array([[UInt8]](repeating: [63] + label63, count: 2).joined()) + Wire.pointer(12) + Wire.rr(type: 1, [1, 2, 3, 4]),
                reason: .nameTooLong, offset: 76),
    // Pointers.
    Adversarial(label: "pointer to itself", bytes: Wire.header(qd: 1) + Wire.pointer(12) + [0, 1, 0, 1],
                reason: .pointerForward, offset: 12),  // t = 12 >= runStart 12
    Adversarial(label: "pointer to its own run", bytes: Wire.header(qd: 1) + [1, 0x61] + Wire.pointer(12) + [0, 1, 0, 1],
                reason: .pointerForward, offset: 14),  // label at 12, pointer at 14 to 12 = runStart
    Adversarial(label: "pointer forward", bytes: Wire.header(qd: 1) + Wire.pointer(14) + [0, 0, 1, 0, 1],
                reason: .pointerForward, offset: 12),
    // Answer 1 rdata at 31-34 is C0 21 00 00 (a pointer at 31 to 33, a root at 33). Answer 2's
    // owner at 35 points to 31 (backwards: fine, runStart = 31); the pointer at 31 goes to 33,
    // which is before 35 but not before the run start 31.
    Adversarial(label: "second hop forward of its run",
                bytes: oneAnswer(an: 2) + answerOwner + Wire.rr(type: 0xFF01, [0xC0, 0x21, 0, 0]) + Wire.pointer(31) + Wire.rr(type: 1, [1, 2, 3, 4]),
                reason: .pointerForward, offset: 31),
    Adversarial(label: "pointer into header", bytes: Wire.header(qd: 1) + Wire.pointer(5) + [0, 1, 0, 1],
                reason: .pointerIntoHeader, offset: 12),
    Adversarial(label: "pointer to 11", bytes: Wire.header(qd: 1) + [1, 0x61] + Wire.pointer(11) + [0, 1, 0, 1],
                reason: .pointerIntoHeader, offset: 14),
    // Rdata overflow: rdlength 5 at 29-30, only 4 bytes (31-34) left.
    Adversarial(label: "rdlength past the end", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, rdlength: 5, [1, 2, 3, 4]),
                reason: .rdataOverflow, offset: 31),
    // Rdata length (all at rdata_start 31 unless said otherwise).
    Adversarial(label: "A with 5 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, [1, 2, 3, 4, 5]),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "A with 3 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, [1, 2, 3]),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "A class CH with 16 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 1, cls: 3, [UInt8](repeating: 1, count: 16)),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "AAAA with 4 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 28, [1, 2, 3, 4]),
                reason: .rdataLength, offset: 31),
    // rdlength 2 covers 31-32 ("\x01b"); the name's root is byte 33, outside the rdata.
    Adversarial(label: "CNAME name longer than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, [1, 0x62]) + [0],
                reason: .rdataLength, offset: 31),
    Adversarial(label: "CNAME name shorter than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, [1, 0x62, 0, 0xFF]),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "NS name shorter than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 2, [0, 0]),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "PTR name shorter than rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 12, Wire.pointer(12) + [0]),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "MX with 1 byte", bytes: oneAnswer() + answerOwner + Wire.rr(type: 15, [0]),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "SRV with 5 bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 33, [0, 0, 0, 0, 0]),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "SOA with 19 fixed bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 6, [0, 0] + [UInt8](repeating: 0, count: 19)),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "SOA with 21 fixed bytes", bytes: oneAnswer() + answerOwner + Wire.rr(type: 6, [0, 0] + [UInt8](repeating: 0, count: 21)),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "TXT with rdlength 0", bytes: oneAnswer() + answerOwner + Wire.rr(type: 16, []),
                reason: .rdataLength, offset: 31),
    Adversarial(label: "TXT string past rdata", bytes: oneAnswer() + answerOwner + Wire.rr(type: 16, [5, 0x61, 0x62]),
                reason: .rdataLength, offset: 31),
    // OPT in additional: owner root at 19, fixed 20-29, rdata at 30.
    Adversarial(label: "OPT option header cut", bytes: Wire.header(qd: 1, ar: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [0, 10, 0]),
                reason: .rdataLength, offset: 30),
    Adversarial(label: "OPT option data past rdata", bytes: Wire.header(qd: 1, ar: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [0, 10, 0, 5, 1]),
                reason: .rdataLength, offset: 30),
    // Name errors inside rdata keep their own reason and offset.
    Adversarial(label: "CNAME rdata with reserved label", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, [0x40, 0]),
                reason: .reservedLabel, offset: 31),
    Adversarial(label: "MX exchange pointing into header", bytes: oneAnswer() + answerOwner + Wire.rr(type: 15, [0, 10] + Wire.pointer(3)),
                reason: .pointerIntoHeader, offset: 33),  // preference 31-32, pointer at 33
    // CNAME rdlength 0 as the last record: the name is read at 31 = L.
    Adversarial(label: "CNAME rdlength 0 at the end", bytes: oneAnswer() + answerOwner + Wire.rr(type: 5, []),
                reason: .truncated, offset: 31),
    // 5. Trailing bytes: the question ends at 19.
    Adversarial(label: "one byte after the last record", bytes: Wire.header(qd: 1) + Wire.questionA + [0],
                reason: .trailingBytes, offset: 19),
    Adversarial(label: "exactly max length, all padding", bytes: Wire.header() + [UInt8](repeating: 0, count: 16384 - 12),
                reason: .trailingBytes, offset: 12),
    // OPT rules, reported at the owner (19; a second OPT's owner at 30).
    Adversarial(label: "OPT in answer", bytes: oneAnswer() + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
                reason: .badOPT, offset: 19),
    Adversarial(label: "OPT in authority", bytes: Wire.header(qd: 1, ns: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
                reason: .badOPT, offset: 19),
    Adversarial(label: "OPT owner not root", bytes: Wire.header(qd: 1, ar: 1) + Wire.questionA + answerOwner + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
                reason: .badOPT, offset: 19),
    Adversarial(label: "two OPTs", bytes: Wire.header(qd: 1, ar: 2) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, []) + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, []),
                reason: .badOPT, offset: 30),
    Adversarial(label: "OPT in answer with bad options: OPT rule first", bytes: oneAnswer() + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [0, 1, 0]),
                reason: .badOPT, offset: 19),
    Adversarial(label: "OPT in answer past the end: overflow first", bytes: oneAnswer() + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, rdlength: 9, []),
                reason: .rdataOverflow, offset: 30),
    // Limits. 17 hops: the owner (hop 1) and pointers 16...1 (hops 2...17): pointer 1 at 24
    // is the 17th.
    Adversarial(label: "17 pointer hops", bytes: pointerChain(16), reason: .limitPointerHops, offset: 24),
    // The hop limit is checked before the target: pointer 1 aims into the header.
    Adversarial(label: "17th hop into the header", bytes: pointerChain(16, firstTarget: 5), reason: .limitPointerHops, offset: 24),
    Adversarial(label: "16th hop into the header", bytes: pointerChain(15, firstTarget: 5), reason: .pointerIntoHeader, offset: 24),
    // 128 one-byte labels from 12: the 128th at 12 + 127*2 = 266 (label limit before length).
    Adversarial(label: "128 labels", bytes: Wire.header(qd: 1) + Array([[UInt8]](repeating: [1, 0x78], count: 128).joined()) + [0, 0, 1, 0, 1],
                reason: .limitLabels, offset: 266),
    Adversarial(label: "4 labels with maxLabels 3", bytes: Wire.header(qd: 1) + Wire.name("a.b.c.d") + [0, 1, 0, 1],
                reason: .limitLabels, offset: 18, limits: ParserLimits(maxLabels: 3)),  // labels at 12, 14, 16, 18
    Adversarial(label: "2 hops with maxPointerHops 1", bytes: pointerChain(1),
                reason: .limitPointerHops, offset: 24, limits: ParserLimits(maxPointerHops: 1)),
    Adversarial(label: "3 answers with maxRecordsPerSection 2", bytes: oneAnswer(an: 3),
                reason: .limitRecords, offset: 6, limits: ParserLimits(maxRecordsPerSection: 2)),
    Adversarial(label: "100 bytes with maxMessageLength 99", bytes: [UInt8](repeating: 0, count: 100),
                reason: .limitMessageLength, offset: 0, limits: ParserLimits(maxMessageLength: 99)),
]

@Suite struct AdversarialTests {
    @Test(arguments: adversarialCases)
    func verdictAndOffset(_ c: Adversarial) {
        let error = verdict(c.bytes, limits: c.limits)
        #expect(error == ParseError(c.reason, at: c.offset), "\(c.label): \(c.bytes.count > 64 ? "" : c.bytes.hex)")
        let facts = ResponseFacts.extract(from: c.bytes, limits: c.limits)
        #expect(facts == ResponseFacts(error: ParseError(c.reason, at: c.offset)), "error facts carry nothing else")
    }

    @Test func everyReasonIsCovered() {
        let covered = Set(adversarialCases.map(\.reason))
        #expect(covered == Set(ParseReason.allCases))
    }

    @Test func reasonNumbersAreTheHeaders() {
        // Spot check against the numbers documented in fqdn_shared.h, and round trip of all.
        #expect(ParseReason.truncated.rawValue == 1)
        #expect(ParseReason.badOPT.rawValue == 10)
        #expect(ParseReason.limitPointerHops.rawValue == 16)
        #expect(ParseReason.limitMessageLength.rawValue == 19)
        for reason in ParseReason.allCases {
            #expect(ParseReason(rawValue: reason.rawValue) == reason)
        }
        #expect(ParseReason(rawValue: 0) == nil)
        #expect(Set(ParseReason.allCases.map(\.name)).count == ParseReason.allCases.count)
    }

    /// The same shapes as accepted messages, so the cases above fail for the stated reason only.
    @Test func controlsAreAccepted() {
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 1, [1, 2, 3, 4])) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 28, [UInt8](repeating: 0, count: 16))) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 5, [1, 0x62, 0])) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 15, [0, 10] + Wire.pointer(12))) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 33, [0, 1, 0, 2, 0, 3, 0])) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 6, [0, 0] + [UInt8](repeating: 0, count: 20))) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 16, [0])) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 16, [2, 0x61, 0x62, 0])) == nil)
        #expect(verdict(oneAnswer() + answerOwner + Wire.rr(type: 99, [])) == nil)
        #expect(verdict(Wire.header(qd: 1, ar: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [0, 10, 0, 1, 7])) == nil)
        #expect(verdict(Wire.header(qd: 1, ar: 1) + Wire.questionA + [0] + Wire.rr(type: 41, cls: 1232, ttl: 0, [])) == nil)
        #expect(verdict(oneAnswer(an: 2) + answerOwner + Wire.rr(type: 0xFF01, [0xC0, 0x0C, 0, 0]) + Wire.pointer(31) + Wire.rr(type: 1, [1, 2, 3, 4])) == nil)
    }
}
