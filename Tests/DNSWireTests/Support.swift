import DNSWire
import FQDNTestSupport
import Testing

/// Decode and facts must agree on the verdict (one shared walk); returns it.
func verdict(
    _ bytes: [UInt8], limits: ParserLimits = .kernel, sourceLocation: SourceLocation = #_sourceLocation
) -> ParseError? {
    let facts = ResponseFacts.extract(from: bytes, limits: limits)
    let decodeError: ParseError?
    do {
        _ = try DNSMessage.decode(bytes, limits: limits)
        decodeError = nil
    } catch {
        decodeError = error
    }
    #expect(facts.error == decodeError, "decode and facts disagree on \(bytes.hex)", sourceLocation: sourceLocation)
    return decodeError
}
