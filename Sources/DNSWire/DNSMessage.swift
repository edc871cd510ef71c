/// A whole DNS message: header and the four sections.
///
/// ``decode(_:limits:)`` accepts exactly what `Documentation/ParserContract.md` accepts and
/// throws the contract's ``ParseError`` otherwise; ``encode(compress:maxPointerHops:)``
/// writes the message back, with name compression.
public struct DNSMessage: Sendable, Hashable {
    /// ID and flags; the counts follow from the sections.
    public var header: DNSHeader
    /// The question section.
    public var questions: [DNSQuestion]
    /// The answer section.
    public var answers: [DNSResourceRecord]
    /// The authority section.
    public var authority: [DNSResourceRecord]
    /// The additional section, including the OPT record if there is one.
    public var additional: [DNSResourceRecord]

    /// A message from its parts.
    public init(
        header: DNSHeader = DNSHeader(), questions: [DNSQuestion] = [],
        answers: [DNSResourceRecord] = [], authority: [DNSResourceRecord] = [],
        additional: [DNSResourceRecord] = []
    ) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authority = authority
        self.additional = additional
    }

    /// The OPT record of the additional section, if any.
    public var opt: DNSResourceRecord? {
        additional.first { $0.type == .opt }
    }

    /// The response code, extended by the OPT record's upper 8 bits when there is one:
    /// `header rcode | (OPT ttl >> 24) << 4`.
    public var rcode: DNSResponseCode {
        var value = UInt16(header.rcode & 0x0F)
        if let opt {
            value |= UInt16(opt.ttl >> 24) << 4
        }
        return DNSResponseCode(rawValue: value)
    }

    /// Decodes one message (for TCP: without the 2-byte length prefix).
    ///
    /// - Throws: ``ParseError`` with the reason and offset of the first rule of the parser
    ///   contract that the bytes break, in the contract's order.
    public static func decode(_ bytes: [UInt8], limits: ParserLimits = .kernel) throws(ParseError) -> DNSMessage {
        var parser = MessageParser(bytes, limits: limits)
        return try parser.parse()
    }
}
