import BPFMapBindings
import CFQDNShared
import Glibc

// The datapath's map keys, values and events (fqdn_shared.h section 4) go to and come from
// the kernel unchanged: plain data for BPFMapBindings' typed maps, whose sizes are checked
// against the kernel map when a view is made.
extension fqdn_endpoint: BPFPlainData {}
extension fqdn_endpoint_info: BPFPlainData {}
extension fqdn_ep_addr_key: BPFPlainData {}
extension fqdn_policy_settings: BPFPlainData {}
extension fqdn_ports_key: BPFPlainData {}
extension fqdn_rule_ports: BPFPlainData {}
extension fqdn_cidr4_key: BPFPlainData {}
extension fqdn_cidr6_key: BPFPlainData {}
extension fqdn_cidr: BPFPlainData {}
extension fqdn_server_key: BPFPlainData {}
extension fqdn_inflight_key: BPFPlainData {}
extension fqdn_inflight_head: BPFPlainData {}
extension fqdn_allow4_key: BPFPlainData {}
extension fqdn_allow6_key: BPFPlainData {}
extension fqdn_allow: BPFPlainData {}
extension fqdn_name_key: BPFPlainData {}
extension fqdn_name: BPFPlainData {}
extension fqdn_slot_key: BPFPlainData {}
extension fqdn_slot: BPFPlainData {}
extension fqdn_flow_key: BPFPlainData {}
extension fqdn_flow: BPFPlainData {}
extension fqdn_inbound_key: BPFPlainData {}
extension fqdn_tcp_tx_key: BPFPlainData {}
extension fqdn_tcp_tx_head: BPFPlainData {}
extension fqdn_secret: BPFPlainData {}
extension fqdn_meta: BPFPlainData {}
extension fqdn_tcp_sock: BPFPlainData {}
extension fqdn_event: BPFPlainData {}

/// Reads and writes fixed-size C arrays (imported as tuples) as byte arrays.
enum CBytes {
    static func get<T>(_ tuple: T, count: Int? = nil) -> [UInt8] {
        withUnsafeBytes(of: tuple) { Array($0.prefix(count ?? $0.count)) }
    }

    static func set<T>(_ tuple: inout T, _ bytes: [UInt8]) {
        withUnsafeMutableBytes(of: &tuple) { raw in
            for i in 0..<raw.count { raw[i] = i < bytes.count ? bytes[i] : 0 }
        }
    }

    /// A NUL-terminated C string field.
    static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}

/// CLOCK_BOOTTIME, the clock of every expiry in the maps (`bpf_ktime_get_boot_ns`).
public enum BootClock {
    public static var nanoseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

extension fqdn_wire_name {
    /// The wire bytes (len of them).
    var wireBytes: [UInt8] { CBytes.get(wire, count: min(Int(len), 256)) }

    /// Presentation form: labels joined by dots, no trailing dot, root is ".". Bytes outside
    /// `!`..`~` and `.`/`\` inside labels are escaped the way DNSWire does.
    var text: String { WireName.text(wireBytes) }
}

/// Helpers for wire-form names.
enum WireName {
    static func text(_ wire: [UInt8]) -> String {
        var labels: [String] = []
        var i = 0
        while i < wire.count {
            let n = Int(wire[i])
            if n == 0 || i + 1 + n > wire.count { break }
            var label = ""
            for b in wire[(i + 1)...(i + n)] {
                switch b {
                case UInt8(ascii: "."), UInt8(ascii: "\\"): label += "\\" + String(UnicodeScalar(b))
                case 0x21...0x7E: label += String(UnicodeScalar(b))
                default: label += "\\" + String(format3(b))
                }
            }
            labels.append(label)
            i += 1 + n
        }
        return labels.isEmpty ? "." : labels.joined(separator: ".")
    }

    private static func format3(_ b: UInt8) -> String {
        let s = String(b)
        return String(repeating: "0", count: 3 - s.count) + s
    }

    /// FNV-1a 64 of the wire bytes (the kernel's `dp_name_hash`).
    static func hash(_ wire: [UInt8]) -> UInt64 {
        var h: UInt64 = FQDN_FNV64_OFFSET
        for b in wire {
            h ^= UInt64(b)
            h = h &* FQDN_FNV64_PRIME
        }
        return h
    }
}

extension fqdn_event: @retroactive @unchecked Sendable {}
