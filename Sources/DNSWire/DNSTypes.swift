import CFQDNShared

/// A resource record type (RFC 1035 TYPE), any 16-bit value.
public struct DNSType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The 16-bit TYPE value.
    public var rawValue: UInt16
    /// The type with this number.
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The type with this number.
    @inlinable public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    // The numbers come from fqdn_shared.h (FQDN_TYPE_*).

    public static let a = DNSType(UInt16(FQDN_TYPE_A))
    public static let ns = DNSType(UInt16(FQDN_TYPE_NS))
    public static let cname = DNSType(UInt16(FQDN_TYPE_CNAME))
    public static let soa = DNSType(UInt16(FQDN_TYPE_SOA))
    public static let ptr = DNSType(UInt16(FQDN_TYPE_PTR))
    public static let mx = DNSType(UInt16(FQDN_TYPE_MX))
    public static let txt = DNSType(UInt16(FQDN_TYPE_TXT))
    public static let aaaa = DNSType(UInt16(FQDN_TYPE_AAAA))
    public static let srv = DNSType(UInt16(FQDN_TYPE_SRV))
    public static let opt = DNSType(UInt16(FQDN_TYPE_OPT))

    /// The mnemonic for the types this module knows, `TYPEnnn` (RFC 3597) otherwise.
    public var description: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .ptr: "PTR"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .srv: "SRV"
        case .opt: "OPT"
        default: "TYPE\(rawValue)"
        }
    }
}

/// A resource record class (RFC 1035 CLASS). For OPT records the field holds the requestor's
/// UDP payload size instead.
public struct DNSClass: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The 16-bit CLASS value.
    public var rawValue: UInt16
    /// The class with this number.
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The class with this number.
    @inlinable public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let `in` = DNSClass(UInt16(FQDN_CLASS_IN))
    public static let ch = DNSClass(3)
    public static let hs = DNSClass(4)
    public static let none = DNSClass(254)
    public static let any = DNSClass(255)

    public var description: String {
        switch self {
        case .in: "IN"
        case .ch: "CH"
        case .hs: "HS"
        case .none: "NONE"
        case .any: "ANY"
        default: "CLASS\(rawValue)"
        }
    }
}

/// The 4-bit header OPCODE.
public struct DNSOpcode: RawRepresentable, Sendable, Hashable {
    /// The opcode, 0...15.
    public var rawValue: UInt8
    /// Keeps the low 4 bits.
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }

    public static let query = DNSOpcode(rawValue: 0)
    public static let iquery = DNSOpcode(rawValue: 1)
    public static let status = DNSOpcode(rawValue: 2)
    public static let notify = DNSOpcode(rawValue: 4)
    public static let update = DNSOpcode(rawValue: 5)
}

/// A response code: the header's 4 bits, or the 12-bit extended code when an OPT record adds
/// its upper 8 bits (RFC 6891).
public struct DNSResponseCode: RawRepresentable, Sendable, Hashable {
    /// The code, 0...4095.
    public var rawValue: UInt16
    /// The response code with this number.
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let formErr = DNSResponseCode(rawValue: 1)
    public static let servFail = DNSResponseCode(rawValue: 2)
    public static let nxDomain = DNSResponseCode(rawValue: 3)
    public static let notImp = DNSResponseCode(rawValue: 4)
    public static let refused = DNSResponseCode(rawValue: 5)
    public static let yxDomain = DNSResponseCode(rawValue: 6)
    public static let yxRRSet = DNSResponseCode(rawValue: 7)
    public static let nxRRSet = DNSResponseCode(rawValue: 8)
    public static let notAuth = DNSResponseCode(rawValue: 9)
    public static let notZone = DNSResponseCode(rawValue: 10)
    public static let badVers = DNSResponseCode(rawValue: 16)
}
