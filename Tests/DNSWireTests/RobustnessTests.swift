import DNSWire
import FQDNTestSupport
import Testing

/// Cut and damaged corpus messages: every outcome is a verdict, never a crash, and decode and
/// facts always agree.
@Suite struct RobustnessTests {
    @Test(arguments: CorpusFixtures.corpusFiles)
    func everyPrefixHasAReason(file: String) throws {
        let message = try CorpusFixtures.message(file)
        #expect(verdict(message) == nil)
        for length in 0..<message.count {
            let prefix = Array(message[..<length])
            let error = try #require(verdict(prefix), "a strict prefix (\(length) of \(message.count)) cannot be complete")
            // Cutting a valid message can only make it end early.
            #expect([.truncated, .countMismatch, .rdataOverflow].contains(error.reason), "\(file)[..<\(length)]: \(error)")
            #expect(error.offset <= length)
        }
    }

    @Test(arguments: CorpusFixtures.corpusFiles)
    func randomByteFlips(file: String) throws {
        let message = try CorpusFixtures.message(file)
        var rng = SeededRandom(seed: UInt64(truncatingIfNeeded: file.utf8.reduce(5381) { $0 &* 33 &+ Int($1) }))
        for _ in 0..<300 {
            var mutated = message
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<mutated.count, using: &rng)
                if Bool.random(using: &rng) {
                    mutated[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                } else {
                    mutated[i] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            checkInvariants(mutated)
        }
    }

    @Test func randomGarbage() {
        var rng = SeededRandom(seed: 0xD15EA5E)
        for _ in 0..<3000 {
            let length = Int.random(in: 0...300, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if bytes.count >= 12 {
                // Small counts so that parsing gets past the header more often.
                for field in [4, 6, 8, 10] {
                    bytes[field] = 0
                    bytes[field + 1] = UInt8.random(in: 0...3, using: &rng)
                }
            }
            checkInvariants(bytes)
        }
    }

    @Test func regressionInputs() {
        // Inputs kept from fuzzing runs (Scripts/fuzz.sh); see FuzzRegressions below.
        for input in FuzzRegressions.inputs {
            checkInvariants(input)
        }
    }

    /// What the fuzz target checks too: same verdict both ways, offsets inside the input,
    /// accepted messages re-encode to something that decodes to the same message.
    func checkInvariants(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let error = verdict(bytes, sourceLocation: sourceLocation)
        if let error {
            #expect(error.offset >= 0 && error.offset <= bytes.count, sourceLocation: sourceLocation)
            return
        }
        guard let message = try? DNSMessage.decode(bytes) else { return }
        // Re-encoding may come out longer than the input (pointers into opaque rdata are not
        // reused), so the second decode lifts only the message length limit.
        var lifted = ParserLimits.kernel
        lifted.maxMessageLength = Int.max
        for compress in [true, false] {
            let again = try? DNSMessage.decode(message.encode(compress: compress), limits: lifted)
            #expect(again == message, "\(bytes.hex)", sourceLocation: sourceLocation)
        }
    }
}

/// Inputs that once broke an invariant under the fuzzer.
enum FuzzRegressions {
    static let inputs: [[UInt8]] = []
}
