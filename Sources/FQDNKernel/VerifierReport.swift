import BPFMapBindings
import BPFObjects
import BPFTestObjects
import CFQDNShared

/// What the verifier did with every program of the embedded BPF objects on this kernel:
/// instructions processed (`bpf_prog_info.verified_insns`) against the 1,000,000 limit, and the
/// program's size after verification (xlated) and after JIT.
public enum VerifierReport {
    /// The verifier's per-program complexity limit for privileged loaders (BPF_COMPLEXITY_LIMIT_INSNS).
    public static let limit = 1_000_000
    /// The project's budget per program (`FQDN_VERIFIER_BUDGET` in fqdn_shared.h).
    public static let budget = Int(FQDN_VERIFIER_BUDGET)

    /// Programs over the budget, or rejected where the object is not a test of rejection:
    /// one line each, naming the object and program.
    public static func overBudget(_ entries: [Entry]) -> [String] {
        entries.compactMap { e in
            if let n = e.verifiedInstructions {
                return n > budget ? "\(e.object)/\(e.program): \(n) verified instructions (budget \(budget))" : nil
            }
            return e.object == "verifier_reject_test" ? nil : "\(e.object)/\(e.program): rejected (\(e.rejection ?? "?"))"
        }
    }

    public struct Entry: Sendable, Hashable {
        public var object: String
        public var program: String
        public var section: String
        /// nil when the program was rejected.
        public var verifiedInstructions: Int?
        public var xlatedBytes: Int = 0
        public var jitedBytes: Int = 0
        /// The first lines of the verifier log (or the load error) when rejected.
        public var rejection: String?

        /// Instructions after verification (xlated bytes / 8).
        public var xlatedInstructions: Int { xlatedBytes / 8 }
        public var percentOfLimit: Double { Double(verifiedInstructions ?? 0) * 100 / Double(VerifierReport.limit) }
    }

    /// Every embedded object: the library's, then the test harnesses.
    public static var allObjects: [String] { BPFObjects.names + BPFTestObjects.names }

    static func bytes(_ name: String) -> [UInt8]? { BPFObjects.named(name) ?? BPFTestObjects.named(name) }

    /// Loads every embedded object (or `objects`) and reports each program. An object that does
    /// not load as a whole is loaded again one program at a time, so each program gets its own
    /// verdict (libbpf's object load is all-or-nothing).
    public static func run(objects: [String] = allObjects) -> [Entry] {
        var out: [Entry] = []
        for name in objects {
            guard let bytes = bytes(name) else { continue }
            do {
                let object = try BPFObject(bytes: bytes, name: name)
                try object.load()
                for program in object.programNames {
                    out.append(try entry(object, name, program))
                }
            } catch {
                // One program at a time.
                let programs = (try? BPFObject(bytes: bytes, name: name).programNames) ?? []
                if programs.isEmpty {
                    out.append(Entry(object: name, program: "-", section: "-", rejection: firstLines("\(error)")))
                }
                for program in programs {
                    do {
                        let object = try BPFObject(bytes: bytes, name: name)
                        for other in programs where other != program { try object.setAutoload(other, false) }
                        try object.load()
                        out.append(try entry(object, name, program))
                    } catch {
                        out.append(Entry(object: name, program: program, section: "?", rejection: firstLines(reason(error))))
                    }
                }
            }
        }
        return out
    }

    static func entry(_ object: BPFObject, _ name: String, _ program: String) throws(BPFError) -> Entry {
        let p = try object.program(program)
        let info = try p.info()
        return Entry(object: name, program: program, section: p.section, verifiedInstructions: info.verifiedInstructions,
                     xlatedBytes: info.translatedBytes, jitedBytes: info.jitedBytes)
    }

    /// The verifier's own words: the last lines of its log hold the reason.
    static func reason(_ error: any Error) -> String {
        if let e = error as? BPFError, case let .verifier(_, log) = e {
            let lines = log.split(separator: "\n").map(String.init)
            let interesting = lines.filter { !$0.hasPrefix(";") && !$0.first!.isNumber }
            return interesting.suffix(4).joined(separator: " | ")
        }
        return "\(error)"
    }

    static func firstLines(_ s: String) -> String {
        s.split(separator: "\n").prefix(4).joined(separator: " | ")
    }

    /// A fixed-width table.
    public static func table(_ entries: [Entry]) -> String {
        var rows = [["object", "program", "section", "verified insns", "% of 1M", "xlated insns", "jited bytes"]]
        for e in entries {
            if let v = e.verifiedInstructions {
                rows.append([e.object, e.program, e.section, String(v), String(format1(e.percentOfLimit)),
                             String(e.xlatedInstructions), String(e.jitedBytes)])
            } else {
                rows.append([e.object, e.program, e.section, "REJECTED", "-", "-", e.rejection ?? ""])
            }
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c >= 3 && c < 6 ? String(repeating: " ", count: widths[c] - cell.count) + cell
                    : cell + String(repeating: " ", count: c == row.count - 1 ? 0 : widths[c] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func format1(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
