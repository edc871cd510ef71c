internal import CLibbpf

/// What the kernel checks when an object reuses an existing map: type, key and value sizes,
/// `max_entries` and flags. Two maps of the same shape are interchangeable for a program;
/// a different shape means the pinned map cannot be adopted as it is.
public struct BPFMapShape: Hashable, Sendable, CustomStringConvertible {
    public var type: BPFMapType
    public var keySize: Int
    public var valueSize: Int
    public var maxEntries: Int
    public var flags: UInt32

    public init(type: BPFMapType, keySize: Int, valueSize: Int, maxEntries: Int, flags: UInt32) {
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
    }

    public var description: String {
        "\(type) key \(keySize) value \(valueSize) max_entries \(maxEntries) flags 0x\(String(flags, radix: 16))"
    }

    /// The fields that differ from `other`, as "field self -> other" (empty when equal).
    public func differences(to other: BPFMapShape) -> [String] {
        var out: [String] = []
        if type != other.type { out.append("type \(type) -> \(other.type)") }
        if keySize != other.keySize { out.append("key size \(keySize) -> \(other.keySize)") }
        if valueSize != other.valueSize { out.append("value size \(valueSize) -> \(other.valueSize)") }
        if maxEntries != other.maxEntries { out.append("max_entries \(maxEntries) -> \(other.maxEntries)") }
        if flags != other.flags { out.append("flags 0x\(String(flags, radix: 16)) -> 0x\(String(other.flags, radix: 16))") }
        return out
    }
}

extension BPFMap {
    /// The live map's shape (from `bpf_obj_get_info_by_fd`).
    public var shape: BPFMapShape {
        BPFMapShape(type: type, keySize: keySize, valueSize: valueSize, maxEntries: maxEntries, flags: flags)
    }
}

extension BPFObject {
    /// The shape the object defines for its map `name` (before or after load), to compare
    /// with a pinned map before deciding to reuse it.
    public func mapShape(_ name: String) throws(BPFError) -> BPFMapShape {
        let m = try rawMap(name)
        return BPFMapShape(
            type: BPFMapType(rawValue: bpf_map__type(m).rawValue), keySize: Int(bpf_map__key_size(m)),
            valueSize: Int(bpf_map__value_size(m)), maxEntries: Int(bpf_map__max_entries(m)), flags: bpf_map__map_flags(m))
    }
}
