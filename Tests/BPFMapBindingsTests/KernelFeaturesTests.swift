import BPFMapBindings
import FQDNPolicyTesting
import Testing

/// Kernel versions and the probes on this machine's kernel (what FQDNPolicy requires of them
/// is tested in PolicyEngineTests' KernelRequirementsTests).
@Suite struct KernelFeaturesTests {

    @Test func versionsParse() {
        #expect(KernelVersion(release: "6.18.44-fc-v1252") == KernelVersion(6, 18))
        #expect(KernelVersion(release: "5.10.0-46-amd64") == KernelVersion(5, 10))
        #expect(KernelVersion(release: "7.2.13+deb14-amd64") == KernelVersion(7, 2))
        #expect(KernelVersion(6, 1) < KernelVersion(6, 12))
        #expect(KernelVersion(release: "garbage") == KernelVersion(0, 0))
    }

    /// The probes on this kernel agree with the C loader's probes of the kernel matrix on the
    /// host (6.18: bpf_loop, ring buffer and the sock_ops helper all present) and with the
    /// fact that the datapath loads here (the kernel tests load it).
    @Test(.kernel) func hostProbes() {
        let f = KernelFeatures.current
        #expect(f.version >= KernelVersion(6, 12), "\(f.release)")
        #expect(f.bpfLoop && f.ringBuffer && f.cgroupIDInSockOps && f.tcx, "\(f)")
    }
}
