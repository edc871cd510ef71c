internal import CLibbpf
import Glibc

/// BPF features of the running kernel, probed once per process with libbpf's probes (tiny
/// programs and maps loaded and freed at once) and the kernel's BTF.
///
/// Only facts about the kernel live here; which of them a set of programs needs, and from
/// which version, belongs to the layer that owns those programs.
public struct KernelFeatures: Sendable, Codable, Equatable {
    /// `uname -r`.
    public var release: String
    /// Major and minor version parsed from `release` (0, 0 when unparsable).
    public var version: KernelVersion
    /// The `bpf_loop` helper (5.17+): the DNS parser's and trie walk's driver loop.
    public var bpfLoop: Bool
    /// BPF ring buffer maps (5.8+): the datapath's events.
    public var ringBuffer: Bool
    /// `bpf_get_current_cgroup_id` in sock_ops programs (measured: 6.12; absent on 6.1):
    /// DNS over TCP tracks client sockets by cgroup.
    public var cgroupIDInSockOps: Bool
    /// tcx links (`BPF_TCX_INGRESS`/`EGRESS`, 6.6+): how veth endpoints are attached. Read from
    /// the kernel's BTF (`bpf_attach_type`), so probing attaches nothing anywhere.
    public var tcx: Bool

    public init(release: String, version: KernelVersion, bpfLoop: Bool, ringBuffer: Bool, cgroupIDInSockOps: Bool, tcx: Bool) {
        self.release = release
        self.version = version
        self.bpfLoop = bpfLoop
        self.ringBuffer = ringBuffer
        self.cgroupIDInSockOps = cgroupIDInSockOps
        self.tcx = tcx
    }

    /// The running kernel's features (probed on first use; needs CAP_BPF or root, without
    /// which every probe reads as unsupported).
    public static let current: KernelFeatures = probe()

    /// Nil when this process can load a BPF program (a two-instruction socket filter, loaded
    /// and freed at once); otherwise why not (not root, no CAP_BPF, BPF disabled).
    public static func programLoadProblem() -> String? {
        // r0 = 0; exit
        var insns = [
            bpf_insn(code: 0xb7, dst_reg: 0, src_reg: 0, off: 0, imm: 0),
            bpf_insn(code: 0x95, dst_reg: 0, src_reg: 0, off: 0, imm: 0),
        ]
        let fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "fqdn_probe", "GPL", &insns, insns.count, nil)
        guard fd >= 0 else { return "cannot load a BPF program: \(String(cString: strerror(-fd))) (errno \(-fd))" }
        close(fd)
        return nil
    }

    /// `uname -r` of the running kernel.
    static func unameRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func probe() -> KernelFeatures {
        let release = unameRelease()
        return KernelFeatures(
            release: release, version: KernelVersion(release: release),
            bpfLoop: libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_loop, nil) == 1,
            ringBuffer: libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nil) == 1,
            cgroupIDInSockOps: libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_get_current_cgroup_id, nil) == 1,
            tcx: clibbpf_vmlinux_enum_has("bpf_attach_type", "BPF_TCX_INGRESS") == 1)
    }
}

/// A kernel version `major.minor`, ordered.
public struct KernelVersion: Sendable, Codable, Equatable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(_ major: Int, _ minor: Int) { self.major = major; self.minor = minor }
    /// From a release string such as `6.18.44-fc-v1252` or `5.10.0-46-amd64`.
    public init(release: String) {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).map { Int($0) ?? 0 }
        self.init(parts.first ?? 0, parts.count > 1 ? parts[1] : 0)
    }
    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    public var description: String { "\(major).\(minor)" }
}
