/// One entry of the question section.
public struct DNSQuestion: Sendable, Hashable {
    /// QNAME.
    public var name: DNSName
    /// QTYPE.
    public var type: DNSType
    /// QCLASS.
    public var dnsClass: DNSClass

    /// A question; the class defaults to IN.
    public init(name: DNSName, type: DNSType, dnsClass: DNSClass = .in) {
        self.name = name
        self.type = type
        self.dnsClass = dnsClass
    }
}

/// The fields of an SOA record (RFC 1035 section 3.3.13).
public struct SOAData: Sendable, Hashable {
    /// The primary name server.
    public var mname: DNSName
    /// The responsible mailbox, as a name.
    public var rname: DNSName
    /// Zone serial number.
    public var serial: UInt32
    /// Seconds between refreshes.
    public var refresh: UInt32
    /// Seconds before retrying a failed refresh.
    public var retry: UInt32
    /// Seconds until the zone is no longer authoritative.
    public var expire: UInt32
    /// Negative-caching TTL (RFC 2308).
    public var minimum: UInt32

    /// SOA data from its fields.
    public init(
        mname: DNSName, rname: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32,
        expire: UInt32, minimum: UInt32
    ) {
        self.mname = mname
        self.rname = rname
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }
}

/// One EDNS option of an OPT record (RFC 6891): code and opaque data.
public struct EDNSOption: Sendable, Hashable {
    /// OPTION-CODE.
    public var code: UInt16
    /// OPTION-DATA.
    public var data: [UInt8]

    /// An option from its code and data.
    public init(code: UInt16, data: [UInt8]) {
        self.code = code
        self.data = data
    }
}

/// Typed record data. The decoder picks the case from the record's type; every type it does not
/// know stays raw in ``other(_:)``.
public enum DNSRData: Sendable, Hashable {
    /// A: an IPv4 address (4 bytes).
    case a(IPAddress)
    /// AAAA: an IPv6 address (16 bytes).
    case aaaa(IPAddress)
    /// NS: a name server.
    case ns(DNSName)
    /// CNAME: the canonical name the owner is an alias of.
    case cname(DNSName)
    /// PTR: a name the owner points to.
    case ptr(DNSName)
    /// MX: a mail exchange and its preference.
    case mx(preference: UInt16, exchange: DNSName)
    /// SRV (RFC 2782): a service location.
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
    /// TXT: one or more character strings, each at most 255 bytes.
    case txt([[UInt8]])
    /// SOA: start of authority.
    case soa(SOAData)
    /// OPT: EDNS options.
    case opt([EDNSOption])
    /// Any other type: the rdata bytes as they are.
    case other([UInt8])

    /// Presentation text of the data, as `fqdnctl decode` prints it: dnspython's format with
    /// names in the facts' form (no trailing dot). Unknown types use RFC 3597's `\# LEN HEX`.
    public var presentation: String {
        switch self {
        case .a(let address), .aaaa(let address):
            return address.description
        case .ns(let name), .cname(let name), .ptr(let name):
            return name.description
        case .mx(let preference, let exchange):
            return "\(preference) \(exchange)"
        case .srv(let priority, let weight, let port, let target):
            return "\(priority) \(weight) \(port) \(target)"
        case .txt(let strings):
            return strings.map(DNSRData.quoted).joined(separator: " ")
        case .soa(let soa):
            return "\(soa.mname) \(soa.rname) \(soa.serial) \(soa.refresh) \(soa.retry) \(soa.expire) \(soa.minimum)"
        case .opt(let options):
            return options.map { "\($0.code):\(DNSRData.hex($0.data))" }.joined(separator: " ")
        case .other(let bytes):
            return bytes.isEmpty ? "\\# 0" : "\\# \(bytes.count) \(DNSRData.hex(bytes))"
        }
    }

    /// dnspython's quoted character string: `"` and `\` escaped with a backslash, bytes outside
    /// 0x20...0x7E as `\DDD`.
    static func quoted(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for c in bytes {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(c)
            case 0x20..<0x7F:
                out.append(c)
            default:
                DNSName.decimalEscape(c, into: &out)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A resource record of the answer, authority or additional section.
///
/// For OPT records `dnsClass` carries the UDP payload size and `ttl` the extended RCODE, version
/// and flags (RFC 6891); ``DNSMessage/rcode`` combines them with the header.
public struct DNSResourceRecord: Sendable, Hashable {
    /// The owner name.
    public var name: DNSName
    /// TYPE; decides which ``DNSRData`` case the decoder produces.
    public var type: DNSType
    /// CLASS (for OPT: the UDP payload size).
    public var dnsClass: DNSClass
    /// The TTL as on the wire (use ``effectiveTTL`` for caching decisions).
    public var ttl: UInt32
    /// The typed record data.
    public var rdata: DNSRData

    /// A record with an explicit type (needed for ``DNSRData/other(_:)`` data).
    public init(name: DNSName, type: DNSType, dnsClass: DNSClass = .in, ttl: UInt32, rdata: DNSRData) {
        self.name = name
        self.type = type
        self.dnsClass = dnsClass
        self.ttl = ttl
        self.rdata = rdata
    }

    /// A record whose type follows from its data (`.other` data needs the explicit initializer).
    public init(name: DNSName, dnsClass: DNSClass = .in, ttl: UInt32, rdata: DNSRData) {
        let type: DNSType
        switch rdata {
        case .a: type = .a
        case .aaaa: type = .aaaa
        case .ns: type = .ns
        case .cname: type = .cname
        case .ptr: type = .ptr
        case .mx: type = .mx
        case .srv: type = .srv
        case .txt: type = .txt
        case .soa: type = .soa
        case .opt: type = .opt
        case .other: preconditionFailure("DNSResourceRecord: .other rdata needs an explicit type")
        }
        self.init(name: name, type: type, dnsClass: dnsClass, ttl: ttl, rdata: rdata)
    }

    /// The TTL with RFC 2181 section 8 applied: a value with the top bit set counts as 0.
    @inlinable
    public var effectiveTTL: UInt32 { ttl & 0x8000_0000 != 0 ? 0 : ttl }
}
