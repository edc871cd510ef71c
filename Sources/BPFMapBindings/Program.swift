internal import CLibbpf
import Glibc

/// A kernel program type (`enum bpf_prog_type`).
public struct BPFProgramType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let schedCls = BPFProgramType(rawValue: BPF_PROG_TYPE_SCHED_CLS.rawValue)
    public static let cgroupSKB = BPFProgramType(rawValue: BPF_PROG_TYPE_CGROUP_SKB.rawValue)
    public static let sockOps = BPFProgramType(rawValue: BPF_PROG_TYPE_SOCK_OPS.rawValue)
    public static let skSKB = BPFProgramType(rawValue: BPF_PROG_TYPE_SK_SKB.rawValue)
    public static let skMsg = BPFProgramType(rawValue: BPF_PROG_TYPE_SK_MSG.rawValue)
    public static let cgroupSockAddr = BPFProgramType(rawValue: BPF_PROG_TYPE_CGROUP_SOCK_ADDR.rawValue)
    public static let socketFilter = BPFProgramType(rawValue: BPF_PROG_TYPE_SOCKET_FILTER.rawValue)

    public var description: String {
        if let s = libbpf_bpf_prog_type_str(bpf_prog_type(rawValue)) { return String(cString: s) }
        return "program type \(rawValue)"
    }
}

/// What one `testRun` returned.
public struct BPFTestRunResult: Sendable, Equatable {
    /// The program's return value (for tc: `TC_ACT_*`).
    public var returnValue: UInt32
    /// The packet as the program left it.
    public var data: [UInt8]
    /// Mean run time of one run as the kernel measured it (total / repeat).
    public var duration: Duration
}

/// A loaded program. Keeps its object alive.
public final class BPFProgram: @unchecked Sendable {
    public let name: String
    /// The program fd (owned by the object).
    public let fd: Int32
    public let type: BPFProgramType
    /// The ELF section (`SEC("tc")`, `SEC("cgroup_skb/egress")`, ...).
    public let section: String
    let object: BPFObject
    let raw: OpaquePointer

    init(object: BPFObject, raw: OpaquePointer, fd: Int32) {
        self.object = object
        self.raw = raw
        self.fd = fd
        self.name = String(cString: bpf_program__name(raw))
        self.type = BPFProgramType(rawValue: bpf_program__type(raw).rawValue)
        self.section = String(cString: bpf_program__section_name(raw))
    }

    /// Runs the program on `data` in the kernel (`BPF_PROG_TEST_RUN`), `repeat` times.
    ///
    /// - Parameters:
    ///   - data: the packet (for tc/cgroup_skb: starting at the Ethernet header, >= 14 bytes).
    ///   - count: (label `repeat`) number of runs; the duration is the mean. Use >= 1000 for timing (one cold run
    ///     costs ~300 ns more).
    ///   - context: optional context in (`struct __sk_buff` for skb programs).
    ///   - dataOutCapacity: room for the packet out (default: input + 512 bytes).
    public func testRun(data: [UInt8], repeat count: Int = 1, context: [UInt8]? = nil,
                        dataOutCapacity: Int? = nil) throws(BPFError) -> BPFTestRunResult {
        var output = [UInt8](repeating: 0, count: dataOutCapacity ?? data.count + 512)
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.`repeat` = Int32(clamping: max(count, 1))
        var ctx = context ?? []
        let r = data.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                ctx.withUnsafeMutableBytes { c in
                    opts.data_in = input.baseAddress
                    opts.data_size_in = UInt32(input.count)
                    opts.data_out = out.baseAddress
                    opts.data_size_out = UInt32(out.count)
                    if context != nil {
                        opts.ctx_in = UnsafeRawPointer(c.baseAddress)
                        opts.ctx_size_in = UInt32(c.count)
                    }
                    return bpf_prog_test_run_opts(fd, &opts)
                }
            }
        }
        if r < 0 {
            let e = BPFErrno(-r)
            if e == .notSupported || e == .kernelNotSupported {
                throw .notSupported(feature: "BPF_PROG_TEST_RUN for \(type)", minimumKernel: "4.12")
            }
            throw .syscall(op: "bpf_prog_test_run_opts(\(name))", errno: e)
        }
        return BPFTestRunResult(
            returnValue: opts.retval,
            data: Array(output.prefix(Int(opts.data_size_out))),
            duration: .nanoseconds(Int64(opts.duration))
        )
    }

    /// A `struct __sk_buff` context for ``testRun(data:repeat:context:dataOutCapacity:)`` of a tc
    /// or cgroup_skb program, as if the packet crossed interface `ifindex`.
    public static func skbContext(ifindex: UInt32) -> [UInt8] {
        var ctx = __sk_buff()
        ctx.ifindex = ifindex
        return withUnsafeBytes(of: ctx) { Array($0) }
    }

    /// Pins the program at `path` (bpffs).
    public func pin(at path: String) throws(BPFError) {
        try check(bpf_obj_pin(fd, path), "bpf_obj_pin(program \(name), \(path))")
    }

    /// What the kernel reports of the program now (`bpf_prog_info`).
    public func info() throws(BPFError) -> BPFProgramInfo {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        try check(bpf_obj_get_info_by_fd(fd, &info, &length), "bpf_obj_get_info_by_fd(program \(name))")
        return BPFProgramInfo(id: info.id, verifiedInstructions: Int(info.verified_insns),
                              translatedBytes: Int(info.xlated_prog_len), jitedBytes: Int(info.jited_prog_len),
                              runTimeNanoseconds: info.run_time_ns, runCount: info.run_cnt)
    }
}

/// What the kernel reports of a loaded program.
public struct BPFProgramInfo: Sendable, Equatable {
    /// Kernel id of the program.
    public var id: UInt32
    /// Instructions the verifier processed to accept it (`verified_insns`, Linux 5.16+; 0 before).
    public var verifiedInstructions: Int
    /// Size after the verifier's rewriting, and of the JIT's machine code.
    public var translatedBytes: Int
    public var jitedBytes: Int
    /// Total time in the program and number of runs, counted only while BPF run-time stats
    /// are on (`kernel.bpf_stats_enabled`); take differences around what is measured.
    public var runTimeNanoseconds: UInt64
    public var runCount: UInt64
}
