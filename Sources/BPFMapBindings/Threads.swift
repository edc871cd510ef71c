import Glibc

/// A closure run on its own OS thread (not a Swift concurrency thread): for blocking polls
/// and for `setns`, which changes only the calling thread.
final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts `body` on a new detached pthread.
func spawnThread(_ body: @escaping @Sendable () -> Void) throws(BPFError) {
    try startThread(body, join: false)
}

/// Runs `body` on a new pthread and waits for it (the caller's thread blocks meanwhile).
func runOnFreshThread(_ body: () -> Void) throws(BPFError) {
    try withoutActuallyEscaping(body) { (escapable) throws(BPFError) in
        try startThread(escapable, join: true)
    }
}

private func startThread(_ body: @escaping () -> Void, join: Bool) throws(BPFError) {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let r = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    guard r == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        throw .syscall(op: "pthread_create", errno: BPFErrno(r))
    }
    if join {
        pthread_join(thread, nil)
    } else {
        pthread_detach(thread)
    }
}
