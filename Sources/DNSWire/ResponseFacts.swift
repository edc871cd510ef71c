import CFQDNShared

/// An A or AAAA address the response credits to the question name.
public struct CreditedAddress: Sendable, Hashable {
    public var address: IPAddress
    /// The record's TTL, 0 when the wire TTL had its top bit set (RFC 2181 section 8).
    public var ttl: UInt32

    /// An address and its TTL (already 0 for wire TTLs with the top bit set).
    public init(address: IPAddress, ttl: UInt32) {
        self.address = address
        self.ttl = ttl
    }
}

/// What the policy learns from one DNS response: the facts of `Documentation/ParserContract.md`.
///
/// The in-kernel parser reports the same structure (`struct fqdn_facts`); differential tests
/// compare the two field by field. When ``error`` is set every other field is zero or empty:
/// nothing is learned from a malformed message.
public struct ResponseFacts: Sendable, Hashable {
    /// The verdict: `nil` when the message is valid, else the first rule it breaks.
    public var error: ParseError?
    /// Message ID.
    public var id: UInt16 = 0
    /// The raw header flags word.
    public var flags: UInt16 = 0
    /// The extended response code (`header rcode | (OPT ttl >> 24) << 4`).
    public var rcode: UInt16 = 0
    /// Type of the first question; 0 without questions.
    public var qtype: UInt16 = 0
    /// Class of the first question; 0 without questions.
    public var qclass: UInt16 = 0
    /// Header counts: questions, answers, authority and additional records.
    public var qdcount: UInt16 = 0
    /// See ``qdcount``.
    public var ancount: UInt16 = 0
    /// See ``qdcount``.
    public var nscount: UInt16 = 0
    /// See ``qdcount``.
    public var arcount: UInt16 = 0
    /// The first question's name, lowercased; `nil` when qdcount is 0.
    public var qname: DNSName?
    /// Whether the response may credit addresses: QR = 1, qdcount = 1, rcode 0, TC = 0.
    public var credits: Bool = false
    /// The CNAME targets followed from the qname, lowercased, in order.
    public var chain: [DNSName] = []
    /// The credited addresses in message order.
    public var credited: [CreditedAddress] = []

    /// Empty facts (what an error verdict carries).
    public init() {}

    /// Facts for a message rejected with `error`.
    public init(error: ParseError) {
        self.error = error
    }

    /// Whether the verdict is ok.
    public var isOK: Bool { error == nil }
    /// QR bit of the flags.
    public var qr: Bool { flags & UInt16(FQDN_FLAG_QR) != 0 }
    /// TC bit of the flags.
    public var tc: Bool { flags & UInt16(FQDN_FLAG_TC) != 0 }

    /// Validates `message` and extracts its facts.
    ///
    /// Uses the same validation walk as ``DNSMessage/decode(_:limits:)``, so the verdict is the
    /// same; a malformed message yields facts with only ``error`` set.
    public static func extract(from message: [UInt8], limits: ParserLimits = .kernel) -> ResponseFacts {
        do {
            return extract(from: try DNSMessage.decode(message, limits: limits), limits: limits)
        } catch {
            return ResponseFacts(error: error)
        }
    }

    /// The facts of an already decoded message.
    public static func extract(from message: DNSMessage, limits: ParserLimits = .kernel) -> ResponseFacts {
        var facts = ResponseFacts()
        facts.id = message.header.id
        facts.flags = message.header.flags
        facts.rcode = message.rcode.rawValue
        facts.qdcount = UInt16(truncatingIfNeeded: message.questions.count)
        facts.ancount = UInt16(truncatingIfNeeded: message.answers.count)
        facts.nscount = UInt16(truncatingIfNeeded: message.authority.count)
        facts.arcount = UInt16(truncatingIfNeeded: message.additional.count)
        guard let question = message.questions.first else { return facts }
        let qname = question.name.lowercased
        facts.qname = qname
        facts.qtype = question.type.rawValue
        facts.qclass = question.dnsClass.rawValue
        facts.credits = message.header.isResponse && message.questions.count == 1
            && facts.rcode == 0 && !message.header.isTruncated
        guard facts.credits else { return facts }

        // The CNAME chain: each step's owner is the current name; stop at a break or a loop.
        var current = qname
        var names: Set<DNSName> = [qname]
        var stopped = false
        for record in message.answers where !stopped && record.type == .cname && record.dnsClass == .in {
            guard case .cname(let target) = record.rdata,
                  record.name == current,
                  !names.contains(target),
                  facts.chain.count < limits.maxCNAMEChain
            else {
                stopped = true
                continue
            }
            let lowered = target.lowercased
            facts.chain.append(lowered)
            names.insert(lowered)
            current = lowered
        }

        // Credited: A/AAAA of class IN whose owner is the qname or a chain target.
        for record in message.answers where record.dnsClass == .in && names.contains(record.name) {
            switch record.rdata {
            case .a(let address), .aaaa(let address):
                facts.credited.append(CreditedAddress(address: address, ttl: record.effectiveTTL))
            default:
                break
            }
        }
        return facts
    }
}
