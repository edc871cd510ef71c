import Synchronization

/// A FIFO async mutex: `withLock` suspends (does not block a thread) while another task
/// holds it.
public final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                if s.locked {
                    s.waiters.append(continuation)
                    return false
                }
                s.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    public func unlock() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.locked = false
                return nil
            }
            return s.waiters.removeFirst()  // ownership passes to the next waiter
        }
        next?.resume()
    }

    public func withLock<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> sending T
    ) async rethrows -> sending T {
        await lock()
        defer { unlock() }
        return try await body()
    }
}

/// The process-wide lock every test that creates network namespaces, veths, tc hooks or
/// cgroups holds, so such tests never interleave (in addition to `.serialized` suites).
public let netnsLock = AsyncLock()

/// Runs `body` holding the process-wide `netnsLock`.
public func withNetnsLock<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> sending T
) async rethrows -> sending T {
    await netnsLock.lock()
    defer { netnsLock.unlock() }
    return try await body()
}
