import CFQDNShared

/// Why a DNS message was rejected.
///
/// The raw values are the C header's `enum fqdn_reason` (`BPFPrograms/include/fqdn_shared.h`),
/// which the kernel parser reports too; they are stable and part of the CLI's JSON.
/// `FQDN_OK` has no case: a ``ParseError`` always carries a real reason.
public enum ParseReason: Sendable, Hashable, CaseIterable, RawRepresentable, CustomStringConvertible {
    /// The message ends inside the header, a name, fixed fields or rdata.
    case truncated
    /// A label type 0x40 or 0x80 (extended/reserved), which also covers "label longer than 63".
    case reservedLabel
    /// A name longer than 255 bytes in wire form.
    case nameTooLong
    /// A compression pointer that does not point strictly before the label run that led to it.
    case pointerForward
    /// A compression pointer into the 12-byte header.
    case pointerIntoHeader
    /// An rdlength reaching past the end of the message.
    case rdataOverflow
    /// Typed rdata whose fields do not exactly fill rdlength (A != 4, AAAA != 16, ...).
    case rdataLength
    /// A section count larger than the records present.
    case countMismatch
    /// Bytes after the last record the counts announce.
    case trailingBytes
    /// An OPT record outside the additional section, with a non-root owner, or a second OPT.
    case badOPT
    /// More compression pointers in one name than ``ParserLimits/maxPointerHops``.
    case limitPointerHops
    /// More labels in one name than ``ParserLimits/maxLabels``.
    case limitLabels
    /// A section count above ``ParserLimits/maxRecordsPerSection``.
    case limitRecords
    /// A message longer than ``ParserLimits/maxMessageLength``.
    case limitMessageLength

    /// The number from `enum fqdn_reason`.
    @inlinable
    public var rawValue: UInt32 {
        switch self {
        case .truncated: FQDN_ERR_TRUNCATED.rawValue
        case .reservedLabel: FQDN_ERR_RESERVED_LABEL.rawValue
        case .nameTooLong: FQDN_ERR_NAME_TOO_LONG.rawValue
        case .pointerForward: FQDN_ERR_POINTER_FORWARD.rawValue
        case .pointerIntoHeader: FQDN_ERR_POINTER_INTO_HEADER.rawValue
        case .rdataOverflow: FQDN_ERR_RDATA_OVERFLOW.rawValue
        case .rdataLength: FQDN_ERR_RDATA_LENGTH.rawValue
        case .countMismatch: FQDN_ERR_COUNT_MISMATCH.rawValue
        case .trailingBytes: FQDN_ERR_TRAILING_BYTES.rawValue
        case .badOPT: FQDN_ERR_BAD_OPT.rawValue
        case .limitPointerHops: FQDN_ERR_LIMIT_POINTER_HOPS.rawValue
        case .limitLabels: FQDN_ERR_LIMIT_LABELS.rawValue
        case .limitRecords: FQDN_ERR_LIMIT_RECORDS.rawValue
        case .limitMessageLength: FQDN_ERR_LIMIT_MESSAGE_LENGTH.rawValue
        }
    }

    /// The reason with this `enum fqdn_reason` number; `nil` for `FQDN_OK` and unknown numbers.
    public init?(rawValue: UInt32) {
        guard let reason = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = reason
    }

    /// The stable name used in JSON: the C name without `FQDN_ERR_`, lowercased
    /// (`"truncated"`, `"limit_pointer_hops"`, ...).
    public var name: String {
        switch self {
        case .truncated: "truncated"
        case .reservedLabel: "reserved_label"
        case .nameTooLong: "name_too_long"
        case .pointerForward: "pointer_forward"
        case .pointerIntoHeader: "pointer_into_header"
        case .rdataOverflow: "rdata_overflow"
        case .rdataLength: "rdata_length"
        case .countMismatch: "count_mismatch"
        case .trailingBytes: "trailing_bytes"
        case .badOPT: "bad_opt"
        case .limitPointerHops: "limit_pointer_hops"
        case .limitLabels: "limit_labels"
        case .limitRecords: "limit_records"
        case .limitMessageLength: "limit_message_length"
        }
    }

    /// The same as ``name``.
    public var description: String { name }
}

/// A rejected message: the first check of `Documentation/ParserContract.md` that failed, and the
/// byte offset in the message (without a TCP length prefix) it failed at.
public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which rule was violated.
    public var reason: ParseReason
    /// Byte offset of the violation in the message.
    public var offset: Int

    /// An error for `reason` at byte `offset`.
    @inlinable
    public init(_ reason: ParseReason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// An error for `reason` at byte `offset` (the kernel facts' field names).
    public init(reason: ParseReason, offset: Int) {
        self.init(reason, at: offset)
    }

    /// `"<reason> at offset <n>"`.
    public var description: String { "\(reason.name) at offset \(offset)" }
}
