internal import CLibbpf
import Glibc

/// What the running kernel supports of what FQDNPolicy's programs need, probed once per
/// process with libbpf's probes (tiny programs and maps loaded and freed at once).
///
/// The requirements and minimum versions come from the kernel matrix
/// (`Scripts/kernel-matrix.sh`, Documentation/KernelMatrix.md: Debian 5.10, 6.1, 6.12, 7.2
/// under qemu and the host). An embedding agent can log or export ``current``; loading checks
/// it with ``requireDatapath()``, ``requireVethEndpoints()`` and ``requireTCP()`` and throws ``KernelUnsupported`` naming
/// the feature, the minimum kernel and this kernel's release.
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

    /// One requirement of the programs and whether this kernel meets it.
    public struct Requirement: Sendable, Codable, Equatable {
        /// What is needed, e.g. "bpf_loop".
        public var feature: String
        /// Which part of FQDNPolicy needs it.
        public var neededBy: String
        /// Which check enforces it: ``requireDatapath()`` (`datapath`),
        /// ``requireVethEndpoints()`` (`veth`) or ``requireTCP()`` (`tcp`).
        public var scope: Scope
        /// The first kernel (upstream version, as measured) that has it.
        public var minimum: KernelVersion
        public var met: Bool
    }

    /// The part of FQDNPolicy a requirement belongs to.
    public enum Scope: String, Sendable, Codable {
        /// Every use: the programs and maps of the UDP datapath (cgroup endpoints need nothing more).
        case datapath
        /// Veth endpoints (tc programs attached through tcx).
        case veth
        /// DNS over TCP (sock_ops, sockmap).
        case tcp
    }

    /// Every requirement, for `fqdnctl features` and logs.
    public var requirements: [Requirement] {
        [
            Requirement(feature: "bpf_loop", neededBy: "DNS parser, trie walk, datapath", scope: .datapath,
                        minimum: KernelVersion(5, 17), met: bpfLoop),
            Requirement(feature: "ring buffer", neededBy: "datapath events", scope: .datapath, minimum: KernelVersion(5, 8), met: ringBuffer),
            // Measured: every datapath program loads on 6.1, 6.12, 6.18 and 7.2 (the oldest
            // kernel with bpf_loop in the matrix is 6.1; 5.17-6.0 were not measured).
            Requirement(feature: "a verifier that accepts the datapath (measured from 6.1)", neededBy: "datapath (veth and cgroup endpoints)",
                        scope: .datapath, minimum: KernelVersion(6, 1), met: version >= KernelVersion(6, 1)),
            // No legacy-tc fallback: a cls_bpf filter cannot be pinned as a link, so adoption by
            // a restarted agent and in-place program updates would need a second mechanism
            // (KernelMatrix.md, "How the library should adapt").
            Requirement(feature: "tcx", neededBy: "veth endpoints", scope: .veth, minimum: KernelVersion(6, 6), met: tcx),
            Requirement(feature: "bpf_get_current_cgroup_id in sock_ops", neededBy: "DNS over TCP", scope: .tcp,
                        minimum: KernelVersion(6, 12), met: cgroupIDInSockOps),
        ]
    }

    private func require(_ scopes: Set<Scope>) throws(KernelUnsupported) {
        for r in requirements where scopes.contains(r.scope) && !r.met { throw KernelUnsupported(r, release: release) }
    }

    /// Throws when the UDP datapath cannot load on this kernel.
    public func requireDatapath() throws(KernelUnsupported) { try require([.datapath]) }

    /// Throws when veth endpoints cannot be attached on this kernel (the datapath's own
    /// requirements included).
    public func requireVethEndpoints() throws(KernelUnsupported) { try require([.datapath, .veth]) }

    /// Throws when DNS over TCP cannot load on this kernel.
    public func requireTCP() throws(KernelUnsupported) { try require([.datapath, .tcp]) }
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

/// The running kernel lacks a feature FQDNPolicy needs.
public struct KernelUnsupported: Error, Sendable, CustomStringConvertible {
    public var requirement: KernelFeatures.Requirement
    public var release: String
    init(_ requirement: KernelFeatures.Requirement, release: String) {
        self.requirement = requirement
        self.release = release
    }
    public var description: String {
        "FQDNPolicy needs Linux >= \(requirement.minimum) for \(requirement.feature) (\(requirement.neededBy)); this kernel is \(release)"
    }
}
