import DNSWire

/// libFuzzer entry point: any input must produce a verdict, and every invariant below must hold.
/// A violation traps (`fatalError`), which libFuzzer reports with the input saved under
/// Fuzz/artifacts/.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzInvariants.check(bytes)
    return 0
}

enum FuzzInvariants {
    static let lifted: ParserLimits = {
        var limits = ParserLimits.kernel
        limits.maxMessageLength = Int.max
        return limits
    }()

    static func require(_ condition: Bool, _ what: @autoclosure () -> String, _ bytes: [UInt8]) {
        if !condition {
            fatalError("invariant broken: \(what()) on \(bytes.map { String($0, radix: 16) }.joined(separator: " "))")
        }
    }

    static func check(_ bytes: [UInt8]) {
        let facts = ResponseFacts.extract(from: bytes)
        let message: DNSMessage
        do {
            message = try DNSMessage.decode(bytes)
        } catch {
            // Same verdict both ways; an error verdict carries nothing else.
            require(facts == ResponseFacts(error: error), "facts differ from decode error \(error)", bytes)
            require(error.offset >= 0 && error.offset <= bytes.count, "offset \(error.offset) outside 0...\(bytes.count)", bytes)
            return
        }
        require(facts.error == nil, "decode ok but facts error \(String(describing: facts.error))", bytes)
        require(facts == ResponseFacts.extract(from: message), "facts of bytes != facts of message", bytes)
        require(facts.chain.count <= ParserLimits.kernel.maxCNAMEChain, "chain too long", bytes)
        require(facts.credited.count <= ParserLimits.kernel.maxRecordsPerSection, "too many credited", bytes)
        if !facts.credits {
            require(facts.chain.isEmpty && facts.credited.isEmpty, "non-crediting response credited", bytes)
        }

        // Every name is a well-formed name whose text form parses back to it.
        var names: [DNSName] = message.questions.map(\.name)
        for record in message.answers + message.authority + message.additional {
            names.append(record.name)
            switch record.rdata {
            case .ns(let n), .cname(let n), .ptr(let n): names.append(n)
            case .mx(_, let n), .srv(_, _, _, let n): names.append(n)
            case .soa(let soa): names += [soa.mname, soa.rname]
            default: break
            }
        }
        for name in names {
            require(DNSName(validatingWire: name.wire) != nil, "malformed name \(name.wire)", bytes)
            require(DNSName(name.description)?.wire == name.wire, "text form \(name) does not parse back", bytes)
            require(name.labelCount <= ParserLimits.kernel.maxLabels, "too many labels", bytes)
        }

        // Re-encoding gives the same message, with and without compression; compressed output
        // is stable under a second round.
        for compress in [true, false] {
            let encoded = message.encode(compress: compress)
            guard let again = try? DNSMessage.decode(encoded, limits: lifted) else {
                require(false, "re-encoded message (compress: \(compress)) does not decode", bytes)
                return
            }
            require(again == message, "round trip (compress: \(compress)) changed the message", bytes)
            require(again.encode(compress: compress) == encoded, "second encoding differs (compress: \(compress))", bytes)
            if encoded.count <= ParserLimits.kernel.maxMessageLength {
                require(ResponseFacts.extract(from: encoded) == facts, "facts changed by re-encoding", bytes)
            }
        }
    }
}
