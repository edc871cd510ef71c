import BPFMapBindings
import Foundation
import Synchronization

private let pinCounter = Atomic<Int>(0)

/// Runs `body` with a fresh directory on bpffs (`/sys/fs/bpf/fqdn-test-<pid>-<n>`, bpffs
/// mounted when missing) and removes every pin under it afterwards, also when `body` throws.
public func withBPFFSDirectory<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (String) async throws -> sending T
) async throws -> sending T {
    try BPFFS.ensureMounted()
    let n = pinCounter.add(1, ordering: .relaxed).newValue
    let directory = "\(BPFFS.defaultMountPoint)/fqdn-test-\(ProcessInfo.processInfo.processIdentifier)-\(n)"
    try BPFFS.makeDirectory(directory)
    defer { try? BPFFS.removeTree(directory) }
    return try await body(directory)
}
