import CFQDNShared

/// The 12-byte message header without its four counts (those follow from the sections of
/// ``DNSMessage``).
///
/// Every bit of the flags word has a property, so ``flags`` round-trips exactly.
public struct DNSHeader: Sendable, Hashable {
    /// Message ID.
    public var id: UInt16
    /// QR: this is a response.
    public var isResponse: Bool
    /// OPCODE.
    public var opcode: DNSOpcode
    /// AA: authoritative answer.
    public var isAuthoritative: Bool
    /// TC: the message was truncated.
    public var isTruncated: Bool
    /// RD: recursion desired.
    public var recursionDesired: Bool
    /// RA: recursion available.
    public var recursionAvailable: Bool
    /// Z: the reserved bit (0x0040), kept as read.
    public var z: Bool
    /// AD: authentic data (RFC 4035).
    public var authenticData: Bool
    /// CD: checking disabled (RFC 4035).
    public var checkingDisabled: Bool
    /// The header's 4-bit RCODE. The full response code of a message with an OPT record is
    /// ``DNSMessage/rcode``.
    public var rcode: UInt8

    /// A header from its fields (all clear by default); `rcode` keeps its low 4 bits.
    public init(
        id: UInt16 = 0, isResponse: Bool = false, opcode: DNSOpcode = .query,
        isAuthoritative: Bool = false, isTruncated: Bool = false, recursionDesired: Bool = false,
        recursionAvailable: Bool = false, z: Bool = false, authenticData: Bool = false,
        checkingDisabled: Bool = false, rcode: UInt8 = 0
    ) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.isAuthoritative = isAuthoritative
        self.isTruncated = isTruncated
        self.recursionDesired = recursionDesired
        self.recursionAvailable = recursionAvailable
        self.z = z
        self.authenticData = authenticData
        self.checkingDisabled = checkingDisabled
        self.rcode = rcode & 0x0F
    }

    /// A header from its ID and raw 16-bit flags word.
    public init(id: UInt16, flags: UInt16) {
        self.init(
            id: id,
            isResponse: flags & UInt16(FQDN_FLAG_QR) != 0,
            opcode: DNSOpcode(rawValue: UInt8((flags >> 11) & 0x0F)),
            isAuthoritative: flags & UInt16(FQDN_FLAG_AA) != 0,
            isTruncated: flags & UInt16(FQDN_FLAG_TC) != 0,
            recursionDesired: flags & UInt16(FQDN_FLAG_RD) != 0,
            recursionAvailable: flags & UInt16(FQDN_FLAG_RA) != 0,
            z: flags & 0x0040 != 0,
            authenticData: flags & 0x0020 != 0,
            checkingDisabled: flags & 0x0010 != 0,
            rcode: UInt8(flags & 0x000F)
        )
    }

    /// The raw 16-bit flags word.
    public var flags: UInt16 {
        var f = UInt16(opcode.rawValue & 0x0F) << 11 | UInt16(rcode & 0x0F)
        if isResponse { f |= UInt16(FQDN_FLAG_QR) }
        if isAuthoritative { f |= UInt16(FQDN_FLAG_AA) }
        if isTruncated { f |= UInt16(FQDN_FLAG_TC) }
        if recursionDesired { f |= UInt16(FQDN_FLAG_RD) }
        if recursionAvailable { f |= UInt16(FQDN_FLAG_RA) }
        if z { f |= 0x0040 }
        if authenticData { f |= 0x0020 }
        if checkingDisabled { f |= 0x0010 }
        return f
    }
}
