internal import CLibbpf
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
        self.map = map
    }

    /// Turns raw samples into events for a closure; remembers a size failure.
    final class Sink {
        let name: String
        let deliver: (Event) -> Void
        var failure: BPFError?
        init(name: String, deliver: @escaping (Event) -> Void) {
            self.name = name
            self.deliver = deliver
        }
        func raw() -> RingSampleSink {
            RingSampleSink { [self] data, size in
                guard size >= Event.byteCount else {
                    failure = .sizeMismatch(map: "\(name) (event)", expected: Event.byteCount, actual: size)
                    return -EINVAL
                }
                deliver(Event.load(from: data))
                return 0
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
        let sink = Sink(name: map.name) { events.append($0) }
        let raw = sink.raw()
        let ring = try Self.makeRing(map, raw)
        defer { ring_buffer__free(ring) }
        let r = withExtendedLifetime(raw) { ring_buffer__consume(ring) }
        if let failure = sink.failure { throw failure }
        if r < 0 { throw .syscall(op: "ring_buffer__consume(\(map.name))", errno: BPFErrno(-r)) }
        return events
    }

    /// Events as they arrive, as an `AsyncSequence`. A dedicated thread polls the buffer
    /// (epoll, `pollInterval` timeout) until the consumer stops iterating or the task is
    /// cancelled. The map stays alive while the sequence runs.
    public func events(pollInterval: Duration = .milliseconds(100)) throws(BPFError) -> AsyncThrowingStream<Event, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Event, any Error>.makeStream(bufferingPolicy: .unbounded)
        let sink = Sink(name: map.name) { continuation.yield($0) }
        let raw = sink.raw()
        let ring = try Self.makeRing(map, raw)
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.flag.store(true, ordering: .relaxed) }
        let timeout = Int32(clamping: pollInterval.components.seconds * 1000
                            + pollInterval.components.attoseconds / 1_000_000_000_000_000)
        let state = PollState(ring: ring, sink: sink, raw: raw, map: map)
        do {
            try spawnThread {
                defer { ring_buffer__free(state.ring) }
                while !stop.flag.load(ordering: .relaxed) {
                    let r = ring_buffer__poll(state.ring, max(timeout, 1))
                    if let failure = state.sink.failure {
                        continuation.finish(throwing: failure)
                        return
                    }
                    if r < 0 && -r != EINTR {
                        continuation.finish(throwing: BPFError.syscall(op: "ring_buffer__poll(\(state.map.name))", errno: BPFErrno(-r)))
                        return
                    }
                }
                continuation.finish()
            }
        } catch {
            ring_buffer__free(ring)
            throw error
        }
        return stream
    }

    final class StopFlag: Sendable {
        let flag = Atomic<Bool>(false)
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
