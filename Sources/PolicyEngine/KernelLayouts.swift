import BPFMapBindings
import CFQDNShared
import CLibbpf
import Glibc

// The datapath's map keys and values (fqdn_shared.h section 4) are used through
// `KernelMap`, a typed view that checks key/value sizes against the kernel map when made.
// (BPFMapBindings' typed maps need `BPFPlainData`, which refines `BitwiseCopyable`; Swift 6
// refuses to declare that conformance for a type imported from C in another module, so the
// C structs cannot conform. `KernelMap` takes any trivial type instead.)

/// A typed view of a hash, LRU hash, LPM trie or array map whose key and value are C structs
/// of the shared header (trivial types: their bytes go to the kernel unchanged). Sizes are
/// checked against the kernel map when the view is made.
struct KernelMap<Key, Value>: @unchecked Sendable {
    let map: BPFMap
    /// `Value` is only the first bytes of the kernel's value (a struct every layout starts
    /// with): lookups read it, updates are refused.
    let valueIsPrefix: Bool

    init(_ map: BPFMap, valueIsPrefix: Bool = false) throws(BPFError) {
        guard _isPOD(Key.self), _isPOD(Value.self) else {
            throw .invalidState("KernelMap \(map.name): key and value must be plain C data")
        }
        if MemoryLayout<Key>.size != map.keySize {
            throw .sizeMismatch(map: "\(map.name) (key)", expected: MemoryLayout<Key>.size, actual: map.keySize)
        }
        if valueIsPrefix ? MemoryLayout<Value>.size > map.valueSize : MemoryLayout<Value>.size != map.valueSize {
            throw .sizeMismatch(map: "\(map.name) (value)", expected: MemoryLayout<Value>.size, actual: map.valueSize)
        }
        self.map = map
        self.valueIsPrefix = valueIsPrefix
    }

    func lookup(_ key: Key) throws(BPFError) -> Value? {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(map.valueSize, 1), alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: max(map.valueSize, 1))
        let fd = map.fd
        let r = withUnsafeBytes(of: key) { k in bpf_map_lookup_elem(fd, k.baseAddress, buffer) }
        if r == 0 { return buffer.load(as: Value.self) }
        if -r == ENOENT { return nil }
        throw .syscall(op: "bpf_map_lookup_elem(\(map.name))", errno: BPFErrno(-r))
    }

    func update(_ key: Key, _ value: Value, policy: BPFUpdatePolicy = .any) throws(BPFError) {
        guard !valueIsPrefix else { throw .invalidState("KernelMap \(map.name): a value prefix cannot be written") }
        let fd = map.fd
        let r = withUnsafeBytes(of: key) { k in
            withUnsafeBytes(of: value) { v in bpf_map_update_elem(fd, k.baseAddress, v.baseAddress, policy.rawValue) }
        }
        if r < 0 { throw .syscall(op: "bpf_map_update_elem(\(map.name))", errno: BPFErrno(-r)) }
    }

    /// False when the key was not there.
    @discardableResult
    func delete(_ key: Key) throws(BPFError) -> Bool {
        let fd = map.fd
        let r = withUnsafeBytes(of: key) { k in bpf_map_delete_elem(fd, k.baseAddress) }
        if r == 0 { return true }
        if -r == ENOENT { return false }
        throw .syscall(op: "bpf_map_delete_elem(\(map.name))", errno: BPFErrno(-r))
    }

    func keys() throws(BPFError) -> [Key] {
        try RawMap.keys(map).map { bytes in bytes.withUnsafeBytes { $0.loadUnaligned(as: Key.self) } }
    }

    /// Every entry (keys, then one lookup each; keys deleted meanwhile are skipped).
    func entries() throws(BPFError) -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        for k in try keys() {
            if let v = try lookup(k) { out.append((k, v)) }
        }
        return out
    }
}

/// A ring buffer record as BPFMapBindings reads it: the bytes of one `struct fqdn_event`.
struct RawEvent: BPFPlainData, Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    var event: fqdn_event { withUnsafeBytes(of: words) { $0.loadUnaligned(as: fqdn_event.self) } }
}

/// Reads and writes fixed-size C arrays (imported as tuples) as byte arrays.
enum CBytes {
    static func get<T>(_ tuple: T, count: Int? = nil) -> [UInt8] {
        withUnsafeBytes(of: tuple) { Array($0.prefix(count ?? $0.count)) }
    }

    static func set<T>(_ tuple: inout T, _ bytes: [UInt8]) {
        withUnsafeMutableBytes(of: &tuple) { raw in
            for i in 0..<raw.count { raw[i] = i < bytes.count ? bytes[i] : 0 }
        }
    }

    /// A NUL-terminated C string field.
    static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}

/// CLOCK_BOOTTIME, the clock of every expiry in the maps (`bpf_ktime_get_boot_ns`).
public enum BootClock {
    public static var nanoseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

extension fqdn_wire_name {
    /// The wire bytes (len of them).
    var wireBytes: [UInt8] { CBytes.get(wire, count: min(Int(len), 256)) }

    /// Presentation form: labels joined by dots, no trailing dot, root is ".". Bytes outside
    /// `!`..`~` and `.`/`\` inside labels are escaped the way DNSWire does.
    var text: String { WireName.text(wireBytes) }
}

/// Helpers for wire-form names.
enum WireName {
    static func text(_ wire: [UInt8]) -> String {
        var labels: [String] = []
        var i = 0
        while i < wire.count {
            let n = Int(wire[i])
            if n == 0 || i + 1 + n > wire.count { break }
            var label = ""
            for b in wire[(i + 1)...(i + n)] {
                switch b {
                case UInt8(ascii: "."), UInt8(ascii: "\\"): label += "\\" + String(UnicodeScalar(b))
                case 0x21...0x7E: label += String(UnicodeScalar(b))
                default: label += "\\" + String(format3(b))
                }
            }
            labels.append(label)
            i += 1 + n
        }
        return labels.isEmpty ? "." : labels.joined(separator: ".")
    }

    private static func format3(_ b: UInt8) -> String {
        let s = String(b)
        return String(repeating: "0", count: 3 - s.count) + s
    }

    /// FNV-1a 64 of the wire bytes (the kernel's `dp_name_hash`).
    static func hash(_ wire: [UInt8]) -> UInt64 {
        var h: UInt64 = FQDN_FNV64_OFFSET
        for b in wire {
            h ^= UInt64(b)
            h = h &* FQDN_FNV64_PRIME
        }
        return h
    }
}

extension fqdn_event: @retroactive @unchecked Sendable {}
