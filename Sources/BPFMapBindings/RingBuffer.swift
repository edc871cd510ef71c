internal import CLibbpf
import Dispatch
import Glibc
import Synchronization

/// A ring buffer map (`BPF_MAP_TYPE_RINGBUF`) read as typed events.
///
/// ```swift
/// let ring = try object.map("events", as: BPFRingBuffer<Event>.self)
/// for try await event in try ring.events() { ... }
/// ```
///
/// Each record must be at least `Event`'s size (a shorter one ends the sequence with
/// `.sizeMismatch`); longer records are read up to `Event`'s size.
public final class BPFRingBuffer<Event: BPFPlainData & Sendable>: BPFMapView, Sendable {
    public let map: BPFMap

    public init(_ map: BPFMap) throws(BPFError) {
        try Self.checkType(map, [.ringBuffer])
        try Event.requireTrivial("\(map.name) (event)")
        self.map = map
    }

    /// Turns raw samples into events for a closure; remembers a size failure. `deliver`
    /// returns false to stop consuming after this event: the rest stays in the kernel's ring
    /// (the poll returns `-EBUSY`).
    final class Sink {
        let name: String
        let deliver: (Event) -> Bool
        var failure: BPFError?
        init(name: String, deliver: @escaping (Event) -> Bool) {
            self.name = name
            self.deliver = deliver
        }
        func raw() -> RingSampleSink {
            RingSampleSink { [self] data, size in
                guard size >= Event.byteCount else {
                    failure = .sizeMismatch(map: "\(name) (event)", expected: Event.byteCount, actual: size)
                    return -EINVAL
                }
                return deliver(Event.load(from: data)) ? 0 : -EBUSY
            }
        }
    }

    private static func makeRing(_ map: BPFMap, _ sink: RingSampleSink) throws(BPFError) -> OpaquePointer {
        let ctx = Unmanaged.passUnretained(sink).toOpaque()
        let ring = ring_buffer__new(map.fd, { ctx, data, size in
            guard let ctx, let data else { return -EINVAL }
            return Unmanaged<RingSampleSink>.fromOpaque(ctx).takeUnretainedValue().handle(data, size)
        }, ctx, nil)
        guard let ring else { throw .syscall(op: "ring_buffer__new(\(map.name))", errno: .current) }
        return ring
    }

    /// Everything in the buffer now, without waiting.
    public func drain() throws(BPFError) -> [Event] {
        var events: [Event] = []
        let sink = Sink(name: map.name) { events.append($0); return true }
        let raw = sink.raw()
        let ring = try Self.makeRing(map, raw)
        defer { ring_buffer__free(ring) }
        let r = withExtendedLifetime(raw) { ring_buffer__consume(ring) }
        if let failure = sink.failure { throw failure }
        if r < 0 { throw .syscall(op: "ring_buffer__consume(\(map.name))", errno: BPFErrno(-r)) }
        return events
    }

    /// Events as they arrive, as an `AsyncSequence`. A dedicated thread polls the buffer
    /// (epoll, `pollInterval` timeout) until the consumer stops iterating, drops the sequence
    /// or is cancelled. The map stays alive while the sequence runs.
    ///
    /// At most `bufferLimit` events wait in the process: when the consumer has that many to
    /// read, the thread stops taking events from the kernel's ring, which holds the backlog
    /// (once it is full, the programs' reservations fail, which they can count). Memory stays
    /// bounded however fast the kernel produces, and no event is dropped in userspace.
    public func events(pollInterval: Duration = .milliseconds(100), bufferLimit: Int = 65_536) throws(BPFError) -> AsyncThrowingStream<Event, any Error> {
        let queue = EventQueue<Event>(limit: max(bufferLimit, 1))
        let sink = Sink(name: map.name) { queue.push($0) }
        let raw = sink.raw()
        let ring = try Self.makeRing(map, raw)
        let timeout = Int32(clamping: pollInterval.components.seconds * 1000
                            + pollInterval.components.attoseconds / 1_000_000_000_000_000)
        let state = PollState(ring: ring, sink: sink, raw: raw, map: map)
        do {
            try spawnThread {
                defer { ring_buffer__free(state.ring) }
                while !queue.stopped {
                    guard queue.hasRoom else {
                        // The consumer is bufferLimit behind: the backlog stays in the kernel
                        // until the consumer takes an event (or stops).
                        queue.waitForRoom(timeout: pollInterval)
                        continue
                    }
                    let r = ring_buffer__poll(state.ring, max(timeout, 1))
                    if let failure = state.sink.failure {
                        queue.finish(throwing: failure)
                        return
                    }
                    if r < 0 && -r != EINTR && -r != EBUSY {
                        queue.finish(throwing: BPFError.syscall(op: "ring_buffer__poll(\(state.map.name))", errno: BPFErrno(-r)))
                        return
                    }
                }
                queue.finish(throwing: nil)
            }
        } catch {
            ring_buffer__free(ring)
            throw error
        }
        // The consumer's side: `token` lives as long as the stream (and its iterators) does;
        // when the last of them goes, the poll thread stops.
        let token = EventQueue<Event>.Token(queue)
        return AsyncThrowingStream { try await token.queue.next() }
    }

    /// Owned by the poll thread alone once started.
    final class PollState: @unchecked Sendable {
        let ring: OpaquePointer
        let sink: Sink
        let raw: RingSampleSink
        let map: BPFMap
        init(ring: OpaquePointer, sink: Sink, raw: RingSampleSink, map: BPFMap) {
            self.ring = ring
            self.sink = sink
            self.raw = raw
            self.map = map
        }
    }
}

/// The non-generic object libbpf's C callback reaches through its context pointer.
final class RingSampleSink {
    let handle: (UnsafeRawPointer, Int) -> Int32
    init(_ handle: @escaping (UnsafeRawPointer, Int) -> Int32) { self.handle = handle }
}

/// The events between the poll thread (producer) and the stream's one consumer: at most
/// `limit` of them, the consumer waiting when there is none.
final class EventQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var head = 0
        var waiter: CheckedContinuation<Element?, any Error>?
        var finished: (any Error)?? = nil  // .some(nil): ended normally
        var stopped = false
        var count: Int { items.count - head }
    }
    private let state = Mutex(State())
    let limit: Int
    /// Signalled when a full queue gets room again or the consumer stops: the producer
    /// sleeps on it instead of polling.
    private let room = DispatchSemaphore(value: 0)

    init(limit: Int) { self.limit = limit }

    /// Keeps the poll thread running while the stream exists.
    final class Token: Sendable {
        let queue: EventQueue
        init(_ queue: EventQueue) { self.queue = queue }
        deinit { queue.stop() }
    }

    /// Producer: hands `e` to a waiting consumer or queues it. False when the queue is now
    /// full (stop taking events from the kernel).
    func push(_ e: Element) -> Bool {
        let (waiter, room) = state.withLock { s -> (CheckedContinuation<Element?, any Error>?, Bool) in
            if let w = s.waiter {
                s.waiter = nil
                return (w, true)
            }
            s.items.append(e)
            return (nil, s.count < limit)
        }
        waiter?.resume(returning: e)
        return room
    }

    var hasRoom: Bool { state.withLock { $0.count < limit } }

    /// Producer: waits until the consumer frees a place or stops (or `timeout` passes).
    func waitForRoom(timeout: Duration) {
        let ns = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        _ = room.wait(timeout: .now() + .nanoseconds(Int(clamping: max(ns, 1_000_000))))
    }
    var stopped: Bool { state.withLock { $0.stopped } }

    /// Producer: no more events (after the queued ones), or an error.
    func finish(throwing error: (any Error)?) {
        let waiter = state.withLock { s -> CheckedContinuation<Element?, any Error>? in
            s.finished = .some(error)
            defer { s.waiter = nil }
            return s.count == 0 ? s.waiter : nil
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }

    /// The consumer is gone or cancelled: the poll thread ends, a waiting `next()` returns nil.
    func stop() {
        let waiter = state.withLock { s -> CheckedContinuation<Element?, any Error>? in
            s.stopped = true
            defer { s.waiter = nil }
            return s.waiter
        }
        room.signal()
        waiter?.resume(returning: nil)
    }

    private enum Next { case value(Element), end((any Error)?), wait }

    /// Consumer: the next event, waiting for one; nil at the end (or when cancelled).
    func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Element?, any Error>) in
                let (next, freed) = state.withLock { s -> (Next, Bool) in
                    if s.count > 0 {
                        let wasFull = s.count >= limit
                        let e = s.items[s.head]
                        s.head += 1
                        if s.head > 1024 && s.head * 2 > s.items.count {
                            s.items.removeFirst(s.head)
                            s.head = 0
                        }
                        return (.value(e), wasFull)
                    }
                    if let f = s.finished { return (.end(f), false) }
                    if s.stopped { return (.end(nil), false) }
                    s.waiter = c
                    return (.wait, false)
                }
                if freed { room.signal() }
                switch next {
                case let .value(e): c.resume(returning: e)
                case let .end(error?): c.resume(throwing: error)
                case .end(nil): c.resume(returning: nil)
                case .wait: break
                }
            }
        } onCancel: {
            stop()
        }
    }
}
