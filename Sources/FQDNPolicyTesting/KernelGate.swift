import BPFMapBindings
import Glibc
import Testing

/// Whether this process can run kernel tests: root (CAP_BPF/CAP_NET_ADMIN) and a kernel that
/// loads a BPF program. Checked once per process.
public enum KernelGate {
    /// nil when kernel tests can run; otherwise why not.
    public static let unavailableReason: String? = probe()

    public static var isAvailable: Bool { unavailableReason == nil }

    /// `CI=true` (or `1`): kernel tests must run; when they cannot, they fail with the reason.
    public static var isCI: Bool {
        guard let v = getenv("CI") else { return false }
        let s = String(cString: v).lowercased()
        return s == "true" || s == "1" || s == "yes"
    }

    static func probe() -> String? {
        if let v = getenv("FQDN_KERNEL_TESTS_DISABLE"), v.pointee != 0 {
            // Lets one check the gate itself: the tests then skip (or fail under CI).
            return "disabled by FQDN_KERNEL_TESTS_DISABLE"
        }
        guard geteuid() == 0 else { return "not root (uid \(geteuid()))" }
        return KernelFeatures.programLoadProblem()
    }

    /// The condition behind `.kernel`: true runs the test, false skips it with the trait's
    /// comment, a throw fails it (only under CI).
    static func shouldRun() throws -> Bool {
        guard let reason = unavailableReason else { return true }
        if isCI { throw KernelTestsUnavailable(reason: reason) }
        return false
    }

    static var comment: Comment {
        if let reason = unavailableReason {
            return Comment(rawValue: "kernel test needs root and BPF: \(reason)\(isCI ? " (CI=true: failing instead of skipping)" : "")")
        }
        return "kernel test (root and BPF available)"
    }
}

/// Thrown (and so recorded as a test failure) when a kernel test cannot run under CI=true.
public struct KernelTestsUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public var description: String {
        "kernel test cannot run under CI=true: \(reason). Run as root on a kernel with BPF (Scripts/setup.sh)."
    }
}

extension Trait where Self == ConditionTrait {
    /// Gate for tests that load BPF programs or touch network namespaces.
    ///
    /// Runs the test when the process is root and can load BPF. Otherwise the test is
    /// reported as skipped with the reason, except under `CI=true`, where it fails with the
    /// reason: a kernel test can never silently pass in CI.
    ///
    /// ```swift
    /// @Test(.kernel) func loads() throws { ... }
    /// ```
    public static var kernel: Self {
        .enabled(KernelGate.comment) { try KernelGate.shouldRun() }
    }
}
