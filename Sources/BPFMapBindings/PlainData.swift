/// Opt-in marker for types whose bytes go to and come from the kernel unchanged: map keys,
/// map values, ring buffer events, `const volatile` settings.
///
/// Conform only types whose C layout the project owns (the structs of
/// `BPFPrograms/include/fqdn_shared.h` imported through `CFQDNShared`), with padding written
/// as explicit fields: hash map keys compare every byte, padding included. Like aya's
/// `unsafe trait Pod`, conforming is a promise the compiler cannot check beyond
/// `BitwiseCopyable`; sizes are checked against the kernel's map when a typed view is made.
///
/// ```swift
/// extension fqdn_facts: BPFPlainData {}
/// ```
public protocol BPFPlainData: BitwiseCopyable {}

extension UInt8: BPFPlainData {}
extension UInt16: BPFPlainData {}
extension UInt32: BPFPlainData {}
extension UInt64: BPFPlainData {}
extension Int8: BPFPlainData {}
extension Int16: BPFPlainData {}
extension Int32: BPFPlainData {}
extension Int64: BPFPlainData {}

extension BPFPlainData {
    /// The size the kernel must agree with.
    @inlinable static var byteCount: Int { MemoryLayout<Self>.size }

    /// An all-zero value (every plain-data type has one).
    @inlinable static var zeroed: Self {
        withUnsafeTemporaryAllocation(of: Self.self, capacity: 1) { buffer in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            return raw.loadUnaligned(as: Self.self)
        }
    }

    /// Reads a value from (possibly unaligned) kernel bytes.
    @inlinable static func load(from raw: UnsafeRawPointer) -> Self {
        raw.loadUnaligned(as: Self.self)
    }

    /// The value's bytes.
    @inlinable var bytes: [UInt8] {
        withUnsafeBytes(of: self) { Array($0) }
    }

    /// Reads a value from exactly `byteCount` bytes, or nil when the count differs.
    @inlinable init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        let array = Array(bytes)
        self = array.withUnsafeBytes { $0.loadUnaligned(as: Self.self) }
    }
}
