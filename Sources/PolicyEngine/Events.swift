import BPFMapBindings
import CFQDNShared
import Foundation

/// One event from the datapath's ring buffer (`struct fqdn_event`), decoded.
public struct PolicyEvent: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// An address was learned for a name (a refreshed one only with
        /// `PolicyAgent.Configuration.refreshEvents`).
        case learned
        /// A query was answered REFUSED/NXDOMAIN in the kernel, or dropped.
        case queryRefused = "query_refused"
        /// An egress packet was dropped.
        case denied
        /// A DNS message the parser rejected.
        case malformed
        /// A response taught nothing (no in-flight query, other question, untrusted server).
        case notLearned = "not_learned"
        /// An address was pushed out by the max-IPs-per-name limit.
        case evicted
        /// DNS toward a trusted server in a shape the rules cannot check (a response, another
        /// opcode, not one question, extra records, TCP Fast Open data, TCP not enabled): dropped.
        case queryRejected = "query_rejected"
        case unknown
    }

    public var kind: Kind
    /// CLOCK_BOOTTIME nanoseconds.
    public var time: UInt64
    public var endpointID: UInt32
    public var endpoint: String?
    public var policyID: UInt32
    /// The DNS name (learned, query_refused, evicted).
    public var name: String?
    /// learned/evicted: the address; denied: the destination; malformed/not_learned: the
    /// server; query_refused: the server asked.
    public var address: String?
    /// denied: destination port; query_refused: server port; not_learned/malformed: source port.
    public var port: UInt16?
    /// "tcp", "udp", "icmp", ... or the protocol number.
    public var proto: String?
    public var qtype: UInt16?
    public var ttl: UInt32?
    /// learned: seconds the entry is valid for (from the event's time).
    public var validFor: Double?
    /// Why: query_refused: "refused"/"nxdomain"/"drop"; denied: "not_allowed"/"expired"/"port"/
    /// "unclassified"/"neighbor"; malformed: the parser's reason; not_learned:
    /// "no_inflight"/"qname_mismatch"/"untrusted"; learned: "new"/"refreshed"; query_rejected:
    /// "response"/"opcode"/"qdcount"/"records"/"tcp_fastopen"/"tcp_unchecked"/
    /// "tcp_unwritten".
    public var reason: String?
    /// malformed: offset of the error in the message.
    public var offset: UInt32?

    public init(_ e: fqdn_event, endpointName: String? = nil) {
        time = e.ts_ns
        endpointID = e.endpoint_id
        endpoint = endpointName
        policyID = e.policy_id
        let addressBytes = CBytes.get(e.addr)
        let address = e.family == UInt8(FQDN_AF_INET) ? IPNetwork.format(Array(addressBytes.prefix(4)))
            : e.family == UInt8(FQDN_AF_INET6) ? IPNetwork.format(addressBytes) : nil
        let name = e.name.len > 0 ? e.name.text : nil
        let protoName: String? = switch e.proto {
        case 0: nil
        case 1: "icmp"
        case 6: "tcp"
        case 17: "udp"
        case 58: "icmpv6"
        default: String(e.proto)
        }
        switch Int32(e.type) {
        case Int32(FQDN_EV_LEARNED.rawValue):
            kind = .learned
            self.name = name
            self.address = address
            ttl = e.ttl
            qtype = e.qtype
            validFor = Double(Int64(bitPattern: e.expiry_ns &- e.ts_ns)) / 1e9
            reason = e.reason == 0 ? "new" : "refreshed"
        case Int32(FQDN_EV_QUERY_REFUSED.rawValue):
            kind = .queryRefused
            self.name = name
            self.address = address
            port = e.port
            proto = protoName
            qtype = e.qtype
            reason = ["refused", "nxdomain", "drop"][Int(min(e.reason, 2))]
        case Int32(FQDN_EV_DENIED.rawValue):
            kind = .denied
            self.address = address
            port = e.port
            proto = protoName
            reason = switch Int32(e.reason) {
            case FQDN_DENY_EXPIRED: "expired"
            case FQDN_DENY_PORT: "port"
            case FQDN_DENY_UNCLASSIFIED: "unclassified"
            case FQDN_DENY_NEIGHBOR: "neighbor"
            case FQDN_DENY_SPOOFED: "spoofed"
            default: "not_allowed"
            }
        case Int32(FQDN_EV_MALFORMED.rawValue):
            kind = .malformed
            self.address = address
            port = e.port
            proto = protoName
            reason = PolicyEvent.parserReason(e.reason)
            offset = e.offset
        case Int32(FQDN_EV_NOT_LEARNED.rawValue):
            kind = .notLearned
            self.address = address
            port = e.port
            reason = switch Int32(e.reason) {
            case FQDN_NL_NO_INFLIGHT: "no_inflight"
            case FQDN_NL_QNAME_MISMATCH: "qname_mismatch"
            case FQDN_NL_UNTRUSTED: "untrusted"
            case FQDN_NL_ID_MISMATCH: "id_mismatch"
            default: String(e.reason)
            }
        case Int32(FQDN_EV_EVICTED.rawValue):
            kind = .evicted
            self.name = name
            self.address = address
        case Int32(FQDN_EV_QUERY_REJECTED.rawValue):
            kind = .queryRejected
            self.name = name
            self.address = address
            port = e.port
            proto = protoName
            qtype = name == nil ? nil : e.qtype
            reason = switch Int32(e.reason) {
            case FQDN_QREJ_RESPONSE: "response"
            case FQDN_QREJ_OPCODE: "opcode"
            case FQDN_QREJ_QDCOUNT: "qdcount"
            case FQDN_QREJ_RECORDS: "records"
            case FQDN_QREJ_TCP_FASTOPEN: "tcp_fastopen"
            case FQDN_QREJ_TCP_UNCHECKED: "tcp_unchecked"
            case FQDN_QREJ_TCP_UNWRITTEN: "tcp_unwritten"
            default: String(e.reason)
            }
        default:
            kind = .unknown
            reason = String(e.type)
        }
    }

    static func parserReason(_ r: UInt32) -> String {
        switch Int32(r) {
        case Int32(FQDN_ERR_TRUNCATED.rawValue): "truncated"
        case Int32(FQDN_ERR_RESERVED_LABEL.rawValue): "reserved_label"
        case Int32(FQDN_ERR_NAME_TOO_LONG.rawValue): "name_too_long"
        case Int32(FQDN_ERR_POINTER_FORWARD.rawValue): "pointer_forward"
        case Int32(FQDN_ERR_POINTER_INTO_HEADER.rawValue): "pointer_into_header"
        case Int32(FQDN_ERR_RDATA_OVERFLOW.rawValue): "rdata_overflow"
        case Int32(FQDN_ERR_RDATA_LENGTH.rawValue): "rdata_length"
        case Int32(FQDN_ERR_COUNT_MISMATCH.rawValue): "count_mismatch"
        case Int32(FQDN_ERR_TRAILING_BYTES.rawValue): "trailing_bytes"
        case Int32(FQDN_ERR_BAD_OPT.rawValue): "bad_opt"
        case Int32(FQDN_ERR_LIMIT_POINTER_HOPS.rawValue): "limit_pointer_hops"
        case Int32(FQDN_ERR_LIMIT_LABELS.rawValue): "limit_labels"
        case Int32(FQDN_ERR_LIMIT_RECORDS.rawValue): "limit_records"
        case Int32(FQDN_ERR_LIMIT_MESSAGE_LENGTH.rawValue): "limit_message_length"
        default: "reason_\(r)"
        }
    }

    /// One line of JSON (keys sorted, absent fields omitted).
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension DatapathMaps {
    /// Events as they arrive (one reader at a time: a ring buffer has one consumer position).
    ///
    /// Pulled: events are read ahead of the consumer by at most `bufferLimit`; beyond that
    /// the backlog stays in the kernel's ring (1 MiB), and what does not fit there is counted
    /// by the programs in `events_lost`. A slow consumer therefore holds bounded memory.
    public func eventStream(pollInterval: Duration = .milliseconds(50), bufferLimit: Int = 65_536) throws(DatapathError) -> AsyncThrowingStream<PolicyEvent, any Error> {
        let ring = try bpf { () throws(BPFError) in try BPFRingBuffer<fqdn_event>(events) }
        let raw = try bpf { () throws(BPFError) in try ring.events(pollInterval: pollInterval, bufferLimit: bufferLimit) }
        let pull = EventPull(raw.makeAsyncIterator(), info: epInfo)
        return AsyncThrowingStream { try await pull.next() }
    }
}

/// The consumer side of `eventStream`: one raw event per `next()`, with its endpoint's name.
/// Only the stream's single consumer calls `next()`, one call at a time.
private final class EventPull: @unchecked Sendable {
    var iterator: AsyncThrowingStream<fqdn_event, any Error>.AsyncIterator
    let info: BPFHashMap<UInt32, fqdn_endpoint_info>
    var names: [UInt32: String] = [:]

    init(_ iterator: AsyncThrowingStream<fqdn_event, any Error>.AsyncIterator, info: BPFHashMap<UInt32, fqdn_endpoint_info>) {
        self.iterator = iterator
        self.info = info
    }

    func next() async throws -> PolicyEvent? {
        guard let e = try await iterator.next() else { return nil }
        if names[e.endpoint_id] == nil, let i = try? info.lookup(e.endpoint_id) {
            names[e.endpoint_id] = CBytes.string(i.name)
        }
        return PolicyEvent(e, endpointName: names[e.endpoint_id])
    }
}
