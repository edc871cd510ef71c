/// Opt-in marker for types whose bytes go to and come from the kernel unchanged: map keys,
/// map values, ring buffer events, `const volatile` settings.
///
/// Conform only types whose C layout the project owns (the structs of
/// `BPFPrograms/include/fqdn_shared.h` imported through `CFQDNShared`), with padding written
/// as explicit fields: hash map keys compare every byte, padding included. Like aya's
/// `unsafe trait Pod`, conforming is a promise the compiler cannot check; what can be checked
/// is, when a typed view is made: the type is trivial (no references, no Swift-managed
/// storage: ``BPFError/invalidState(_:)`` otherwise) and its size is the kernel map's.
///
/// The protocol does not refine `BitwiseCopyable` on purpose: Swift accepts a conformance to
/// that protocol only in the module that declares the type, so a C struct imported into
/// another module could never conform, and the project's map layouts are exactly such structs.
///
/// ```swift
/// extension fqdn_facts: BPFPlainData {}
/// ```
public protocol BPFPlainData {}

extension UInt8: BPFPlainData {}
extension UInt16: BPFPlainData {}
extension UInt32: BPFPlainData {}
extension UInt64: BPFPlainData {}
extension Int8: BPFPlainData {}
extension Int16: BPFPlainData {}
extension Int32: BPFPlainData {}
extension Int64: BPFPlainData {}

extension BPFPlainData {
    /// Whether the type is trivial (plain bytes). Checked when a typed view is made.
    @inlinable public static var isTrivial: Bool { _isPOD(Self.self) }

    /// Throws unless the type is trivial; `what` names the map or buffer for the message.
    static func requireTrivial(_ what: String) throws(BPFError) {
        guard isTrivial else { throw .invalidState("\(what): \(Self.self) is not plain data (it holds references)") }
    }

    /// The size the kernel must agree with.
    @inlinable public static var byteCount: Int { MemoryLayout<Self>.size }

    /// An all-zero value (every plain-data type has one).
    @inlinable public static var zeroed: Self {
        withUnsafeTemporaryAllocation(of: Self.self, capacity: 1) { buffer in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            return raw.loadUnaligned(as: Self.self)
        }
    }

    /// Reads a value from (possibly unaligned) kernel bytes.
    @inlinable public static func load(from raw: UnsafeRawPointer) -> Self {
        raw.loadUnaligned(as: Self.self)
    }

    /// The value's bytes.
    @inlinable public var bytes: [UInt8] {
        withUnsafeBytes(of: self) { Array($0) }
    }

    /// Reads a value from exactly `byteCount` bytes, or nil when the count differs.
    @inlinable public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        let array = Array(bytes)
        self = array.withUnsafeBytes { $0.loadUnaligned(as: Self.self) }
    }
}
