import BPFMapBindings
import PolicyEngine
import Testing

/// The requirement logic (which feature, which minimum, the message) for the kernels of the
/// matrix, from probe results written out as the matrix measured them.
@Suite struct KernelRequirementsTests {
    static func features(_ release: String, bpfLoop: Bool = true, ringBuffer: Bool = true, sockOpsCgroup: Bool = true, tcx: Bool = true) -> KernelFeatures {
        KernelFeatures(release: release, version: KernelVersion(release: release), bpfLoop: bpfLoop, ringBuffer: ringBuffer,
                       cgroupIDInSockOps: sockOpsCgroup, tcx: tcx)
    }

    /// What the matrix measured (Documentation/KernelMatrix.md): 5.10 has no bpf_loop; 6.1 loads
    /// the datapath (cgroup endpoints) but has no tcx (veth endpoints) and lacks the sock_ops
    /// helper (TCP); 6.12+ has everything.
    @Test func matrixKernels() {
        let k510 = Self.features("5.10.0-46-amd64", bpfLoop: false, sockOpsCgroup: false, tcx: false)
        #expect(throws: KernelUnsupported.self) { try k510.requireDatapath() }
        do { try k510.requireDatapath() } catch {
            #expect("\(error)" == "FQDNPolicy needs Linux >= 5.17 for bpf_loop (DNS parser, trie walk, datapath); this kernel is 5.10.0-46-amd64")
        }
        let k61 = Self.features("6.1.0-57-amd64", sockOpsCgroup: false, tcx: false)
        #expect(throws: Never.self) { try k61.requireDatapath() }
        do { try k61.requireVethEndpoints(); Issue.record("veth endpoints accepted on 6.1") } catch {
            #expect("\(error)" == "FQDNPolicy needs Linux >= 6.6 for tcx (veth endpoints); this kernel is 6.1.0-57-amd64")
        }
        do { try k61.requireTCP(); Issue.record("TCP accepted on 6.1") } catch {
            #expect(error.requirement.minimum == KernelVersion(6, 12))
            #expect("\(error)".contains("this kernel is 6.1.0-57-amd64"))
        }
        let k60 = Self.features("6.0.19")
        do { try k60.requireDatapath(); Issue.record("6.0 accepted") } catch {
            #expect(error.requirement.minimum == KernelVersion(6, 1), "below the oldest kernel measured")
        }
        let k612 = Self.features("6.12.118+deb13-amd64")
        #expect(throws: Never.self) { try k612.requireTCP() }
        let noSockOps = Self.features("6.18.0", sockOpsCgroup: false)
        #expect(throws: Never.self) { try noSockOps.requireDatapath() }
        #expect(throws: Never.self) { try noSockOps.requireVethEndpoints() }
        do { try noSockOps.requireTCP(); Issue.record("TCP accepted without the sock_ops helper") } catch {
            #expect(error.requirement.feature == "bpf_get_current_cgroup_id in sock_ops")
        }
    }

    /// Veth endpoints need tcx on top of the datapath; cgroup endpoints and TCP do not. A kernel
    /// whose datapath loads but that lacks tcx (a 6.1 backport, or tcx compiled out) refuses
    /// veth endpoints only, naming tcx and 6.6.
    @Test func tcxOnlyForVethEndpoints() {
        let noTCX = Self.features("6.12.0-custom", tcx: false)
        #expect(throws: Never.self) { try noTCX.requireDatapath() }
        #expect(throws: Never.self) { try noTCX.requireTCP() }
        do { try noTCX.requireVethEndpoints(); Issue.record("veth endpoints accepted without tcx") } catch {
            #expect("\(error)" == "FQDNPolicy needs Linux >= 6.6 for tcx (veth endpoints); this kernel is 6.12.0-custom")
        }
        let k510 = Self.features("5.10.0-46-amd64", bpfLoop: false, tcx: false)
        do { try k510.requireVethEndpoints() } catch {
            #expect(error.requirement.feature == "bpf_loop", "the datapath's own requirement comes first")
        }
        #expect(Set(noTCX.requirements.map(\.scope)) == [.datapath, .veth, .tcp])
    }
}
