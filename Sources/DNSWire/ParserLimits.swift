import CFQDNShared

/// The limits every DNS parser in this project enforces.
///
/// The numbers are defined once, in `BPFPrograms/include/fqdn_shared.h`, and imported here, so
/// the Swift reference parser and the in-kernel BPF parser cannot drift apart. The defaults are
/// the kernel's; a caller may tighten them (tests do), never loosen them beyond what the kernel
/// parser can do if the two are to agree.
public struct ParserLimits: Sendable, Hashable, Codable {
    /// Most compression pointers followed while reading one name.
    public var maxPointerHops: Int
    /// Most labels in one name (root excluded).
    public var maxLabels: Int
    /// Longest name in wire form, root byte included (RFC 1035: 255).
    public var maxNameLength: Int
    /// Longest message parsed, in bytes (without a TCP length prefix).
    public var maxMessageLength: Int
    /// Most records in one section (questions, answers, authority or additional).
    public var maxRecordsPerSection: Int
    /// Most CNAME targets followed from the question name.
    public var maxCNAMEChain: Int

    public init(
        maxPointerHops: Int = Int(FQDN_MAX_PTR_HOPS),
        maxLabels: Int = Int(FQDN_MAX_LABELS),
        maxNameLength: Int = Int(FQDN_MAX_NAME_LEN),
        maxMessageLength: Int = Int(FQDN_MAX_MSG_LEN),
        maxRecordsPerSection: Int = Int(FQDN_MAX_RECORDS_PER_SECTION),
        maxCNAMEChain: Int = Int(FQDN_MAX_CNAME_CHAIN)
    ) {
        self.maxPointerHops = maxPointerHops
        self.maxLabels = maxLabels
        self.maxNameLength = maxNameLength
        self.maxMessageLength = maxMessageLength
        self.maxRecordsPerSection = maxRecordsPerSection
        self.maxCNAMEChain = maxCNAMEChain
    }

    /// The limits of the in-kernel parser, from the shared header.
    public static let kernel = ParserLimits()
}
