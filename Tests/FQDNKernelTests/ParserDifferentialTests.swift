import DNSWire
import FQDNKernel
import FQDNPolicyTesting
import Foundation
import FQDNTestSupport
import Testing

/// The in-kernel DNS parser against DNSWire (the reference), through BPF_PROG_TEST_RUN:
/// verdict, reason, offset and every fact must be identical.
@Suite(.serialized) struct ParserDifferentialTests {
    static let framings = KernelParser.Framing.allCases

    /// Every corpus file (UDP, TCP with the prefix removed, TCP message, query) in every
    /// framing: UDP and TCP over IPv4 and IPv6, and the buffer program.
    @Test(.kernel) func corpus() throws {
        let parser = try KernelParser()
        var run = DifferentialRun()
        #expect(CorpusFixtures.corpusFiles.count >= 48)
        for file in CorpusFixtures.corpusFiles {
            let message = try CorpusFixtures.message(file)
            for framing in Self.framings {
                run.check(parser, message: message, framing: framing, kind: file)
            }
            let facts = try parser.facts(for: message)
            #expect(facts.error == nil, "\(file): \(ParserComparison.summary(facts))")
        }
        #expect(run.disagreements.isEmpty, "\(run.disagreements.prefix(5).map(\.description).joined(separator: "\n"))")
        #expect(run.credited >= 30 && run.withChain >= 10, "\(run.report)")
        print("parser corpus: \(run.report)")
    }

    /// Hand-built messages with hand-derived verdicts: every reason code, the limits, and the
    /// kernel's shortcuts. The kernel must give the stated verdict, and agree with DNSWire.
    @Test(.kernel) func adversarial() throws {
        let parser = try KernelParser()
        var run = DifferentialRun()
        var wrong: [String] = []
        for c in parserCases {
            let expected = c.reason.map { ParseError(reason: $0, offset: c.offset) }
            for framing in Self.framings {
                let kernel = try parser.facts(for: c.bytes, framing: framing)
                if kernel.error != expected {
                    wrong.append("\(c.label) (\(framing)): kernel \(ParserComparison.summary(kernel)), expected \(expected.map { "\($0)" } ?? "ok")")
                }
                run.check(parser, message: c.bytes, framing: framing, kind: c.label)
            }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(10).joined(separator: "\n"))")
        #expect(run.disagreements.isEmpty, "\(run.disagreements.prefix(5).map(\.description).joined(separator: "\n"))")
        let covered = Set(parserCases.compactMap(\.reason))
        #expect(covered == Set(ParseReason.allCases), "reasons without a case: \(Set(ParseReason.allCases).subtracting(covered))")
    }

    /// Chains and credited addresses follow the contract's rules on hand-built responses.
    @Test(.kernel) func factsRules() throws {
        let parser = try KernelParser()
        for c in factsCases {
            let swift = ResponseFacts.extract(from: c.bytes)
            for framing in Self.framings {
                let kernel = try parser.facts(for: c.bytes, framing: framing)
                #expect(kernel.error == nil, "\(c.label): \(ParserComparison.summary(kernel))")
                #expect(kernel.chain.map(\.description) == c.chain, "\(c.label) (\(framing)) chain")
                #expect(kernel.credited.map(\.address.description) == c.credited, "\(c.label) (\(framing)) credited")
                let diff = ParserComparison.differences(swift: swift, kernel: kernel)
                #expect(diff.isEmpty, "\(c.label) (\(framing)): \(diff)")
            }
        }
    }

    /// >= 20,000 seeded random and mutated messages per run (the seed changes daily and is
    /// printed; `PARSER_SEED` fixes it): zero disagreements.
    @Test(.kernel) func seeded() throws {
        let parser = try KernelParser()
        let seed = ProcessInfo.processInfo.environment["PARSER_SEED"].flatMap { UInt64($0) }
            ?? UInt64(Date().timeIntervalSince1970 / 86_400)
        let generator = DifferentialCases(seed: seed, corpus: try CorpusFixtures.corpusMessages())
        var run = DifferentialRun()
        run.run(parser, generator, count: 24_000)
        print("parser seeded (PARSER_SEED=\(seed)): \(run.report)")
        #expect(run.disagreements.isEmpty,
                "PARSER_SEED=\(seed): \(run.disagreements.prefix(5).map(\.description).joined(separator: "\n"))")
        #expect(run.cases >= 20_000)
        // The generator must reach every verdict and the facts, or the run proves little.
        #expect(Set(run.byVerdict.keys) == Set(ParseReason.allCases.map(\.name) + ["ok"]), "\(run.byVerdict)")
        #expect(run.byVerdict["ok", default: 0] >= run.cases / 5)
        #expect(run.credited >= run.cases / 20 && run.withChain >= run.cases / 50, "\(run.report)")
    }

    /// The same message through every framing gives the same facts (the parser does not
    /// depend on where the message starts in the packet).
    @Test(.kernel) func framingIndependence() throws {
        let parser = try KernelParser()
        let generator = DifferentialCases(seed: 42, corpus: try CorpusFixtures.corpusMessages())
        for i in 0..<500 as Range<UInt64> {
            let message = generator.message(i).bytes
            let all = try Self.framings.map { try parser.raw(for: message, framing: $0) }
            let first = try all[0].responseFacts()
            for (framing, raw) in zip(Self.framings, all) {
                #expect(try raw.responseFacts() == first, "case \(i) \(framing)")
            }
        }
    }
}
