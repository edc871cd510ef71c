import ArgumentParser
import DNSWire
import FQDNKernel
import Foundation

/// `decode --kernel` / `decode --compare`: the in-kernel parser (parser_test through
/// BPF_PROG_TEST_RUN) next to DNSWire. Called from Decode.run().
enum DecodeKernel {
    /// `--kernel`: the kernel's facts in decode's JSON (no `answers`: the kernel reports facts only).
    static func kernel(_ message: [UInt8], framing: KernelParser.Framing?) throws {
        let facts = try KernelParser().facts(for: message, framing: framing)
        print(FactsJSON.render(facts, answers: nil))
    }

    /// `--compare`: one JSON line when both parsers agree byte for byte; otherwise both lines
    /// (DNSWire first), the differing fields on stderr, and exit code 1.
    static func compare(_ message: [UInt8], framing: KernelParser.Framing?) throws {
        let swift = ResponseFacts.extract(from: message)
        let kernel = try KernelParser().facts(for: message, framing: framing)
        let answers = swift.error == nil ? (try? DNSMessage.decode(message))?.answers ?? [] : []
        let differences = ParserComparison.differences(swift: swift, kernel: kernel)
        if differences.isEmpty {
            print(FactsJSON.render(swift, answers: answers))
            return
        }
        print(FactsJSON.render(swift, answers: answers))
        print(FactsJSON.render(kernel, answers: nil))
        FileHandle.standardError.write(Data(("parsers disagree: " + differences.joined(separator: "; ") + "\n").utf8))
        throw ExitCode(1)
    }
}

extension KernelParser.Framing: ExpressibleByArgument {}

struct VerifierReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier-report",
        abstract: "Load every embedded BPF object and print, per program, the instructions the verifier processed.",
        discussion: """
            verified insns is bpf_prog_info.verified_insns (0 before Linux 5.16) against the verifier's \
            1,000,000-instruction limit; xlated insns is the program's size after verification and \
            jited bytes its machine code. An object that does not load is retried one program at a time; \
            a rejected program shows the last lines of its verifier log. Needs root and BPF.
            """
    )

    @Option(name: .long, help: "Only these objects (comma-separated names).")
    var objects: String?

    @Flag(name: .long, help: "One JSON object per program instead of the table.")
    var json = false

    @Flag(name: .customLong("check-budget"), help: "Exit 1 when a program needs more than the project's budget of verified instructions (FQDN_VERIFIER_BUDGET) or is rejected, naming it on stderr.")
    var checkBudget = false

    func run() throws {
        let names = objects.map { $0.split(separator: ",").map(String.init) }
        let entries = names.map { VerifierReport.run(objects: $0) } ?? VerifierReport.run()

        if json {
            for e in entries {
                let verified = e.verifiedInstructions.map(String.init) ?? "null"
                let rejection = e.rejection.map { FactsJSON.string($0) } ?? "null"
                print("{\"object\":\(FactsJSON.string(e.object)),\"program\":\(FactsJSON.string(e.program)),"
                    + "\"section\":\(FactsJSON.string(e.section)),\"verified_insns\":\(verified),\"limit\":\(VerifierReport.limit),"
                    + "\"xlated_insns\":\(e.xlatedInstructions),\"jited_bytes\":\(e.jitedBytes),\"rejection\":\(rejection)}")
            }
        } else {
            print(VerifierReport.table(entries))
        }
        if checkBudget {
            let over = VerifierReport.overBudget(entries)
            for line in over { log("over budget: \(line)") }
            if !over.isEmpty { throw ExitCode(1) }
        }
    }
}

/// The corpus directory in the source tree, when fqdnctl runs from the package root.
enum CorpusDirectory {
    static let defaultPath = "Tests/Fixtures/dns-corpus/knot"

    /// (file name, DNS message) of every `.bin` file; `.tcp.bin` files lose their prefix.
    static func messages(_ path: String) throws -> [(String, [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".bin") }.sorted()
        return try names.map { name in
            guard let data = FileManager.default.contents(atPath: path + "/" + name) else {
                throw ValidationError("\(path)/\(name): cannot read")
            }
            let bytes = [UInt8](data)
            return (name, name.hasSuffix(".tcp.bin") ? Array(bytes.dropFirst(2)) : bytes)
        }
    }
}

struct BenchParser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-parser",
        abstract: "Time the in-kernel DNS parser on each corpus message against a trivial program (BPF_PROG_TEST_RUN).",
        discussion: """
            For each message: the parser program (Ethernet/IP/UDP framing + parse + facts) and a program that \
            returns at once, each run --repeat times per round on the same packet, rounds interleaved; the \
            minimum mean of the rounds is printed (ns per message) with the ratio to the floor. Needs root and BPF.
            """
    )

    @Option(name: .long, help: "Directory of .bin DNS messages.")
    var corpus = CorpusDirectory.defaultPath

    @Option(name: .long, help: "Runs per round (>= 1000 for stable numbers).")
    var `repeat` = 10_000

    @Option(name: .long, help: "Rounds per message (the fastest is kept).")
    var rounds = 5

    @Option(name: .long, help: "udp4, udp6, tcp4, tcp6 or buffer.")
    var framing: KernelParser.Framing = .udp4

    @Flag(name: .long, help: "Include the .query.bin and .tcp.bin files (by default: UDP responses and TCP messages).")
    var all = false

    func run() throws {
        let parser = try KernelParser()
        var messages = try CorpusDirectory.messages(corpus)
        if !all { messages = messages.filter { !$0.0.hasSuffix(".query.bin") && !$0.0.hasSuffix(".tcp.bin") } }
        var rows = [["message", "bytes", "verdict", "parser ns", "floor ns", "ratio", "parser - floor"]]
        for (name, message) in messages {
            let facts = try parser.facts(for: message, framing: framing)
            let t = try parser.timing(message, framing: framing, repeat: `repeat`, rounds: rounds)
            rows.append([name, String(message.count), facts.error.map { $0.reason.name } ?? "ok",
                         String(Int(t.parser.rounded())), String(Int(t.floor.rounded())),
                         String(format: "%.1f", t.parser / t.floor), String(Int((t.parser - t.floor).rounded()))])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
        for (i, row) in rows.enumerated() {
            let line = row.enumerated().map { c, cell in
                c == 0 || c == 2 ? cell + String(repeating: " ", count: widths[c] - cell.count)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: " | ")
            print("| " + line + " |")
            if i == 0 { print("|" + widths.enumerated().map { c, w in String(repeating: "-", count: w + 1) + (c == 0 || c == 2 ? "-" : ":") }.joined(separator: "|") + "|") }
        }
    }
}

struct FuzzCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz-compare",
        abstract: "Run N seeded random and mutated DNS messages through DNSWire and the in-kernel parser; report disagreements.",
        discussion: """
            Case i of seed S is reproducible on its own (--seed S --start i --cases 1). Framings rotate over \
            UDP/TCP on IPv4/IPv6; messages too large for a test-run packet go through the buffer program. \
            Exits 1 on any disagreement (each printed with both results and the message in hex). Needs root and BPF.
            """
    )

    @Option(name: .long, help: "Number of cases.")
    var cases = 1_000_000

    @Option(name: .long, help: "Seed (default: random, printed).")
    var seed: UInt64?

    @Option(name: .long, help: "First case index.")
    var start: UInt64 = 0

    @Option(name: .long, help: "Directory of .bin messages to mutate (skipped when missing).")
    var corpus = CorpusDirectory.defaultPath

    @Option(name: .long, help: "Stop after this many disagreements.")
    var maxDisagreements = 20

    func run() throws {
        let parser = try KernelParser()
        let seed = self.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let seeds = (try? CorpusDirectory.messages(corpus).map(\.1)) ?? []
        let generator = DifferentialCases(seed: seed, corpus: seeds)
        FileHandle.standardError.write(Data("fuzz-compare: seed \(seed), cases \(start)..<\(start + UInt64(cases)), \(seeds.count) corpus messages\n".utf8))
        var total = DifferentialRun()
        let began = Date()
        var done = 0
        while done < cases {
            let n = min(100_000, cases - done)
            var run = DifferentialRun()
            run.run(parser, generator, start: start + UInt64(done), count: n, maxDisagreements: maxDisagreements - total.disagreements.count)
            total.merge(run)
            done += n
            let rate = Double(done) / Date().timeIntervalSince(began)
            FileHandle.standardError.write(Data("  \(done) cases, \(total.disagreements.count) disagreements, \(Int(rate)) cases/s\n".utf8))
            if total.disagreements.count >= maxDisagreements { break }
        }
        for d in total.disagreements { print(d) }
        print("seed \(seed): \(total.report)")
        if !total.disagreements.isEmpty { throw ExitCode(1) }
    }
}
