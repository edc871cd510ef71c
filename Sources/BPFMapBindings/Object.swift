internal import CLibbpf
import Glibc

/// A BPF ELF object, opened from bytes (usually `BPFObjects.named(...)`), configured, then
/// loaded into the kernel.
///
/// Lifecycle (cilium/ebpf's spec -> collection, in one value):
/// 1. `init(bytes:name:)` parses the ELF (nothing in the kernel yet);
/// 2. before `load()`: `setConstant` (`const volatile` settings), `setAutoload`,
///    `setMaxEntries`, `reuseMap` / `adoptPinnedMaps` (adopt live maps instead of creating);
/// 3. `load()` creates the maps and loads the programs; a verifier rejection throws
///    `.verifier(program:log:)` with the verifier's full log;
/// 4. `program(_:)`, `map(_:)`, typed views `map(_:as:)`.
///
/// Programs and maps keep their object alive; the kernel objects go away with the last
/// reference unless pinned or attached through a link that is pinned.
///
/// Configure an object from one task; after `load()` it may be shared freely.
public final class BPFObject: @unchecked Sendable {
    public let name: String
    let raw: OpaquePointer
    private let elf: UnsafeMutableRawBufferPointer
    private let logBuffers: [UnsafeMutablePointer<CChar>]
    /// Every map with the name the object declares, in ELF order. libbpf renames a map
    /// adopted with `bpf_map__reuse_fd` to the kernel map's name; a map keeps the name its
    /// program gives it here, so an adopted map made under an older name (a layout renamed
    /// since) is still found, reported and pinned under the name this object uses.
    private let declaredMaps: [(raw: OpaquePointer, name: String)]
    public private(set) var isLoaded = false

    /// Size of each program's verifier log buffer (the log is only requested after a failed
    /// load; the memory is touched only then).
    public static let verifierLogSize = 8 << 20

    /// Opens (parses) an object; nothing is loaded into the kernel yet.
    public init(bytes: some Collection<UInt8>, name: String) throws(BPFError) {
        let elf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        _ = elf.initializeMemory(as: UInt8.self, from: bytes)
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        let (result, message) = LibbpfLog.capture { () throws(BPFError) -> OpaquePointer in
            let opened = name.withCString { cName -> OpaquePointer? in
                opts.object_name = cName  // libbpf copies it
                return bpf_object__open_mem(elf.baseAddress, bytes.count, &opts)
            }
            guard let opened else { throw .syscall(op: "bpf_object__open_mem", errno: .current) }
            return opened
        }
        switch result {
        case .success(let raw):
            self.raw = raw
        case .failure(let error):
            elf.deallocate()
            throw .invalidObject(name: name, errno: error.errno ?? .invalidArgument, message: message)
        }
        self.name = name
        self.elf = elf
        var buffers: [UnsafeMutablePointer<CChar>] = []
        var prog = bpf_object__next_program(raw, nil)
        while let p = prog {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.verifierLogSize)
            buffer.initialize(to: 0)
            bpf_program__set_log_buf(p, buffer, Self.verifierLogSize)
            buffers.append(buffer)
            prog = bpf_object__next_program(raw, p)
        }
        logBuffers = buffers
        var maps: [(raw: OpaquePointer, name: String)] = []
        var map = bpf_object__next_map(raw, nil)
        while let m = map {
            maps.append((m, String(cString: bpf_map__name(m))))
            map = bpf_object__next_map(raw, m)
        }
        declaredMaps = maps
    }

    deinit {
        bpf_object__close(raw)
        elf.deallocate()
        for b in logBuffers { b.deallocate() }
    }

    // MARK: - Inventory

    /// Names of the programs (functions) in the object, in ELF order.
    public var programNames: [String] {
        var names: [String] = []
        var prog = bpf_object__next_program(raw, nil)
        while let p = prog {
            names.append(String(cString: bpf_program__name(p)))
            prog = bpf_object__next_program(raw, p)
        }
        return names
    }

    /// Names of the maps, including libbpf's internal ones (`.rodata`, `.bss`, ...).
    public var mapNames: [String] { declaredMaps.map(\.name) }

    /// The names of the maps that are not libbpf's internal ones.
    public var userMapNames: [String] { declaredMaps.filter { !bpf_map__is_internal($0.raw) }.map(\.name) }

    func rawProgram(_ name: String) throws(BPFError) -> OpaquePointer {
        guard let p = bpf_object__find_program_by_name(raw, name) else {
            throw .notFound(kind: "program", name: "\(name) in \(self.name)")
        }
        return p
    }

    func rawMap(_ name: String) throws(BPFError) -> OpaquePointer {
        // Declared names first; libbpf's lookup also knows the internal maps by their section
        // (".rodata" for "<object>.rodata").
        let internalMap = bpf_object__find_map_by_name(raw, name).flatMap { bpf_map__is_internal($0) ? $0 : nil }
        guard let m = declaredMaps.first(where: { $0.name == name })?.raw ?? internalMap else {
            throw .notFound(kind: "map", name: "\(name) in \(self.name)")
        }
        return m
    }

    // MARK: - Before load

    private func requireNotLoaded(_ what: String) throws(BPFError) {
        if isLoaded { throw .invalidState("\(what) must happen before \(name) is loaded") }
    }

    /// Sets a `const volatile` global (in `.rodata`; `.data`/`.bss` globals work too) before
    /// load. The value's size must equal the variable's.
    public func setConstant<T: BPFPlainData>(_ variable: String, to value: T) throws(BPFError) {
        try requireNotLoaded("setConstant(\(variable))")
        guard let btf = bpf_object__btf(raw) else {
            throw .notFound(kind: "BTF (compile with -g)", name: name)
        }
        // Find the DATASEC holding the variable, and its offset and size there.
        let count = btf__type_cnt(btf)
        var id: UInt32 = 1
        while id < count {
            defer { id += 1 }
            guard let t = btf__type_by_id(btf, id), btf_is_datasec(t) else { continue }
            let section = String(cString: btf__name_by_offset(btf, t.pointee.name_off))
            let infos = btf_var_secinfos(t)!
            for i in 0..<Int(btf_vlen(t)) {
                let info = infos[i]
                guard let v = btf__type_by_id(btf, info.type),
                      String(cString: btf__name_by_offset(btf, v.pointee.name_off)) == variable
                else { continue }
                guard Int(info.size) == T.byteCount else {
                    throw .sizeMismatch(map: "\(section):\(variable)", expected: T.byteCount, actual: Int(info.size))
                }
                let map = try rawMap(section)
                var size = 0
                guard let initial = bpf_map__initial_value(map, &size) else {
                    throw .notFound(kind: "initial value of section", name: section)
                }
                var image = Array(UnsafeRawBufferPointer(start: initial, count: size))
                withUnsafeBytes(of: value) { bytes in
                    for (j, b) in bytes.enumerated() { image[Int(info.offset) + j] = b }
                }
                try check(bpf_map__set_initial_value(map, image, image.count), "bpf_map__set_initial_value(\(section))")
                return
            }
        }
        throw .notFound(kind: "global variable", name: "\(variable) in \(name)")
    }

    /// Whether `load()` loads this program (all do by default). Loading one program at a time
    /// gives one verifier verdict per program (`load()` is all-or-nothing).
    public func setAutoload(_ program: String, _ enabled: Bool) throws(BPFError) {
        try requireNotLoaded("setAutoload(\(program))")
        try check(bpf_program__set_autoload(try rawProgram(program), enabled), "bpf_program__set_autoload(\(program))")
    }

    /// Overrides a map's `max_entries` before load.
    public func setMaxEntries(_ map: String, _ count: UInt32) throws(BPFError) {
        try requireNotLoaded("setMaxEntries(\(map))")
        try check(bpf_map__set_max_entries(try rawMap(map), count), "bpf_map__set_max_entries(\(map))")
    }

    /// Makes the object use an existing kernel map (e.g. opened from a pin) for its map
    /// `name` instead of creating one. The kernel checks type and sizes at load.
    public func reuseMap(_ name: String, _ map: BPFMap) throws(BPFError) {
        try requireNotLoaded("reuseMap(\(name))")
        try check(bpf_map__reuse_fd(try rawMap(name), map.fd), "bpf_map__reuse_fd(\(name))")
    }

    // MARK: - Load

    /// Creates the maps and loads every program (with autoload) into the kernel.
    ///
    /// Throws `.verifier(program:log:)` when the verifier rejects a program (the log is the
    /// verifier's), `.load(object:errno:message:)` for other failures.
    public func load() throws(BPFError) {
        try requireNotLoaded("load()")
        let (result, message) = LibbpfLog.capture { () throws(BPFError) in
            try check(bpf_object__load(raw), "bpf_object__load(\(name))")
        }
        if case .failure(let error) = result {
            // libbpf stops at the first program it cannot load; that one has the log.
            var index = 0
            var prog = bpf_object__next_program(raw, nil)
            while let p = prog {
                if bpf_program__autoload(p), bpf_program__fd(p) < 0, logBuffers[index].pointee != 0 {
                    let log = String(cString: logBuffers[index])
                    throw .verifier(program: String(cString: bpf_program__name(p)), log: log)
                }
                index += 1
                prog = bpf_object__next_program(raw, p)
            }
            throw .load(object: name, errno: error.errno ?? .invalidArgument, message: message)
        }
        isLoaded = true
    }

    // MARK: - After load

    /// A loaded program by its C function name.
    public func program(_ name: String) throws(BPFError) -> BPFProgram {
        let p = try rawProgram(name)
        guard isLoaded else { throw .invalidState("program \(name): \(self.name) is not loaded") }
        let fd = bpf_program__fd(p)
        guard fd >= 0 else { throw .invalidState("program \(name) was not loaded (autoload off?)") }
        return BPFProgram(object: self, raw: p, fd: fd)
    }

    /// A created map by its C name (`SEC(".maps")` variable name).
    public func map(_ name: String) throws(BPFError) -> BPFMap {
        let m = try rawMap(name)
        guard isLoaded else { throw .invalidState("map \(name): \(self.name) is not loaded") }
        let fd = bpf_map__fd(m)
        guard fd >= 0 else { throw .invalidState("map \(name) has no fd") }
        return try BPFMap(fd: fd, name: name, owner: self)
    }

    /// A typed view of a map: `try object.map("counts", as: BPFArrayMap<UInt64>.self)`.
    /// Key and value sizes are checked against the kernel's map here.
    public func map<View: BPFMapView>(_ name: String, as: View.Type) throws(BPFError) -> View {
        try View(try map(name))
    }
}
