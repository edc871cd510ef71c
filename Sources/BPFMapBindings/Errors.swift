import Glibc

/// Everything BPFMapBindings throws. Cases carry what a caller can act on: the operation and
/// errno of a failed syscall, the program and verifier log of a rejected program, the feature
/// and minimum kernel of something this kernel lacks, the sizes of a layout mismatch.
public enum BPFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A bpf(2) or other system call (or the libbpf call wrapping it) failed.
    case syscall(op: String, errno: BPFErrno)
    /// The verifier rejected `program`; `log` is the verifier's full log.
    case verifier(program: String, log: String)
    /// Loading an object failed for a reason other than the verifier (map creation, BTF,
    /// relocation); `message` is what libbpf said about it.
    case load(object: String, errno: BPFErrno, message: String)
    /// The kernel lacks `feature`; it exists from `minimumKernel` on.
    case notSupported(feature: String, minimumKernel: String)
    /// A Swift key/value/variable type does not have the kernel's size (`map` names the map
    /// and which part: "counts (key)", "counts (value)", ".rodata:limit").
    case sizeMismatch(map: String, expected: Int, actual: Int)
    /// A typed view was asked of a map whose kernel type is different.
    case wrongMapType(map: String, expected: String, actual: String)
    /// No program, map or global variable of that name in the object.
    case notFound(kind: String, name: String)
    /// The call is not valid in the object's current state (e.g. settings after load).
    case invalidState(String)
    /// The ELF bytes are not a BPF object libbpf can open.
    case invalidObject(name: String, errno: BPFErrno, message: String)

    public var description: String {
        switch self {
        case let .syscall(op, errno): "\(op): \(errno)"
        case let .verifier(program, log): "verifier rejected program \(program) on Linux \(KernelFeatures.unameRelease()):\n\(Self.verifierSummary(log))"
        case let .load(object, errno, message): "loading \(object) failed: \(errno)\(message.isEmpty ? "" : "\n" + message)"
        case let .notSupported(feature, minimumKernel): "\(feature) is not supported by this kernel (needs Linux \(minimumKernel) or later)"
        case let .sizeMismatch(map, expected, actual): "size mismatch for \(map): kernel has \(actual) bytes, Swift type has \(expected)"
        case let .wrongMapType(map, expected, actual): "map \(map) is a \(actual), expected \(expected)"
        case let .notFound(kind, name): "no \(kind) named \(name)"
        case let .invalidState(message): message
        case let .invalidObject(name, errno, message): "cannot open BPF object \(name): \(errno)\(message.isEmpty ? "" : "\n" + message)"
        }
    }

    /// The end of a verifier log, which is where the verifier says why: the last `lines`
    /// lines before its statistics (the rejected instruction and the reason), then the
    /// `processed N insns` line. A full log runs to megabytes; the whole of it stays in
    /// `.verifier(program:log:)`.
    public static func verifierSummary(_ log: String, lines: Int = 4) -> String {
        var all = log.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        var stats: [String] = []
        while let last = all.last, last.hasPrefix("processed ") || last.hasPrefix("verification time") || last.hasPrefix("stack depth") {
            stats.insert(all.removeLast(), at: 0)
        }
        let tail = all.suffix(lines)
        let skipped = all.count - tail.count
        return ((skipped > 0 ? ["(\(skipped) earlier lines of the log omitted)"] : []) + tail + stats.filter { $0.hasPrefix("processed ") })
            .map { "  " + $0 }.joined(separator: "\n")
    }

    /// The errno of `.syscall`, `.load` and `.invalidObject`.
    public var errno: BPFErrno? {
        switch self {
        case let .syscall(_, e), let .load(_, e, _), let .invalidObject(_, e, _): e
        default: nil
        }
    }
}

/// An errno value (swift-system's `Errno` shape, without the dependency).
public struct BPFErrno: RawRepresentable, Hashable, Sendable, CustomStringConvertible, Error {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The thread's current `errno`.
    public static var current: BPFErrno { BPFErrno(Glibc.errno) }

    public static let noEntry = BPFErrno(ENOENT)
    public static let exists = BPFErrno(EEXIST)
    public static let permissionDenied = BPFErrno(EPERM)
    public static let invalidArgument = BPFErrno(EINVAL)
    public static let noSpace = BPFErrno(ENOSPC)
    public static let notSupported = BPFErrno(EOPNOTSUPP)
    /// The kernel-internal ENOTSUPP (524) some bpf commands return.
    public static let kernelNotSupported = BPFErrno(524)
    public static let busy = BPFErrno(EBUSY)
    public static let interrupted = BPFErrno(EINTR)
    public static let noMemory = BPFErrno(ENOMEM)
    public static let tooBig = BPFErrno(E2BIG)

    public var description: String {
        if rawValue == 524 { return "ENOTSUPP (524): operation not supported" }
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        return "\(String(cString: text)) (errno \(rawValue))"
    }
}

/// libbpf 1.x returns `-errno` from int-returning calls.
@inline(__always)
func check(_ result: Int32, _ op: @autoclosure () -> String) throws(BPFError) {
    if result < 0 { throw .syscall(op: op(), errno: BPFErrno(-result)) }
}

/// fd-returning calls: >= 0 is the fd, < 0 is `-errno`.
@inline(__always)
func checkFD(_ result: Int32, _ op: @autoclosure () -> String) throws(BPFError) -> Int32 {
    if result < 0 { throw .syscall(op: op(), errno: BPFErrno(-result)) }
    return result
}
