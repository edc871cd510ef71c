internal import CLibbpf
internal import CSysShims
import Glibc

/// The BPF filesystem, where maps, programs and links are pinned to outlive their process.
public enum BPFFS {
    public static let defaultMountPoint = "/sys/fs/bpf"

    /// Whether `path` is on a mounted bpffs.
    public static func isMounted(at path: String = defaultMountPoint) -> Bool {
        fqdn_statfs_type(path) == fqdn_bpf_fs_magic()
    }

    /// Mounts bpffs at `path` when nothing is mounted there (`mount -t bpf bpf PATH`).
    public static func ensureMounted(at path: String = defaultMountPoint) throws(BPFError) {
        if isMounted(at: path) { return }
        if mkdir(path, 0o755) != 0 && Glibc.errno != EEXIST {
            throw .syscall(op: "mkdir(\(path))", errno: .current)
        }
        guard fqdn_mount_bpffs(path) == 0 else {
            throw .syscall(op: "mount -t bpf bpf \(path)", errno: .current)
        }
    }

    /// `mkdir -p` on bpffs (the parent must be on a mounted bpffs).
    public static func makeDirectory(_ path: String) throws(BPFError) {
        var built = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            built += "/" + part
            if mkdir(built, 0o700) != 0 && Glibc.errno != EEXIST {
                throw .syscall(op: "mkdir(\(built))", errno: .current)
            }
        }
    }

    /// Whether something is pinned (or a directory exists) at `path`.
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Removes one pin. The object lives on while something else holds it. Missing: no error.
    public static func unpin(_ path: String) throws(BPFError) {
        if unlink(path) != 0 && Glibc.errno != ENOENT {
            throw .syscall(op: "unlink(\(path))", errno: .current)
        }
    }

    /// Removes every pin under `directory` (recursively) and the directory itself.
    public static func removeTree(_ directory: String) throws(BPFError) {
        guard let dir = opendir(directory) else {
            if Glibc.errno == ENOENT { return }
            throw .syscall(op: "opendir(\(directory))", errno: .current)
        }
        var children: [(String, Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            children.append((name, entry.pointee.d_type == UInt8(DT_DIR)))
        }
        closedir(dir)
        for (name, isDirectory) in children {
            let path = directory + "/" + name
            if isDirectory { try removeTree(path) } else { try unpin(path) }
        }
        if rmdir(directory) != 0 && Glibc.errno != ENOENT {
            throw .syscall(op: "rmdir(\(directory))", errno: .current)
        }
    }

    /// Names of the entries directly under `directory` (empty when it does not exist).
    public static func contents(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

extension BPFObject {
    /// Pins every map (internal ones excluded) as `<directory>/<map name>`, creating the
    /// directory. Maps already pinned there by an earlier `adoptPinnedMaps` are skipped.
    @discardableResult
    public func pinMaps(in directory: String, only names: [String]? = nil) throws(BPFError) -> [String] {
        try BPFFS.makeDirectory(directory)
        var pinned: [String] = []
        for name in names ?? userMapNames {
            let path = directory + "/" + name
            let map = try self.map(name)
            if BPFFS.exists(path), let existing = try? BPFMap.openPinned(path), existing.id == map.id { continue }
            try map.pin(at: path)
            pinned.append(name)
        }
        return pinned
    }

    /// Before load: makes every map that has a pin `<directory>/<map name>` use the pinned
    /// kernel map instead of a new one (the kernel checks type, sizes and flags at load).
    /// Returns the adopted names. This is how a restarted agent keeps what it learned.
    @discardableResult
    public func adoptPinnedMaps(in directory: String) throws(BPFError) -> [String] {
        var adopted: [String] = []
        for name in userMapNames where BPFFS.exists(directory + "/" + name) {
            let pinned = try BPFMap.openPinned(directory + "/" + name)
            try reuseMap(name, pinned)  // libbpf dups the fd
            adopted.append(name)
        }
        return adopted
    }
}
