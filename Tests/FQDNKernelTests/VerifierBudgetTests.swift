import FQDNKernel
import FQDNPolicyTesting
import Testing

/// Every BPF program of the project (the library's objects and the test harnesses) loads on
/// this kernel within the budget of verified instructions (FQDN_VERIFIER_BUDGET); the kernel
/// matrix checks the other kernels (Scripts/kmatrix/report.py).
@Suite struct VerifierBudgetTests {
    @Test(.kernel, .timeLimit(.minutes(5)))
    func everyProgramIsWithinTheBudgetOnThisKernel() {
        let entries = VerifierReport.run()
        #expect(entries.filter { $0.verifiedInstructions != nil }.count >= 20, "the objects loaded: \(entries.count) entries")
        #expect(entries.contains { $0.program == "fqdn_veth_ingress" && ($0.verifiedInstructions ?? 0) > 0 })
        let over = VerifierReport.overBudget(entries)
        #expect(over.isEmpty, "\(over.joined(separator: "; "))")
        #expect(entries.contains { $0.object == "verifier_reject_test" && $0.verifiedInstructions == nil },
                "the program that must be rejected is")
    }
}
