import BPFMapBindings

// What FQDNPolicy's programs need of the kernel, on top of the facts BPFMapBindings probes.
// The minimum versions come from the kernel matrix (Scripts/kernel-matrix.sh,
// Documentation/KernelMatrix.md: Debian 5.10, 6.1, 6.12, 7.2 under qemu and the host). An
// embedding agent can log or export `KernelFeatures.current.requirements`; loading checks them
// with `requireDatapath()`, `requireVethEndpoints()` and `requireTCP()`, which throw
// `KernelUnsupported` naming the feature, the minimum kernel and this kernel's release.
extension KernelFeatures {
    /// One requirement of FQDNPolicy's programs and whether this kernel meets it.
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
