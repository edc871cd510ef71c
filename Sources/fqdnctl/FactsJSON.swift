import DNSWire

/// The JSON object `fqdnctl decode` prints, rendered from ``ResponseFacts`` so that the Swift
/// parser and the kernel parser (`decode --kernel`) print byte-identical output for the same
/// facts.
///
/// Keys, always all present and always in this order:
/// `verdict` ("ok"/"error"), `error` (reason name or null), `offset` (number or null), `id`,
/// `qr`, `rcode` (extended), `tc`, `qname` (null without a question), `qtype`, `chain`,
/// `credited` (list of {`address`, `ttl`}), `answers` (list of {`name`, `type`, `ttl`, `data`},
/// or null when the caller has no records to show).
/// Names are in the facts' presentation form (no trailing dot); the output is one line of ASCII.
enum FactsJSON {
    static func render(_ facts: ResponseFacts, answers: [DNSResourceRecord]?) -> String {
        var fields: [(String, String)] = []
        fields.append(("verdict", string(facts.error == nil ? "ok" : "error")))
        fields.append(("error", facts.error.map { string($0.reason.name) } ?? "null"))
        fields.append(("offset", facts.error.map { String($0.offset) } ?? "null"))
        fields.append(("id", String(facts.id)))
        fields.append(("qr", String(facts.qr)))
        fields.append(("rcode", String(facts.rcode)))
        fields.append(("tc", String(facts.tc)))
        fields.append(("qname", facts.qname.map { string($0.description) } ?? "null"))
        fields.append(("qtype", String(facts.qtype)))
        fields.append(("chain", array(facts.chain.map { string($0.description) })))
        fields.append(("credited", array(facts.credited.map {
            object([("address", string($0.address.description)), ("ttl", String($0.ttl))])
        })))
        fields.append(("answers", answers.map { records in
            array(records.map {
                object([
                    ("name", string($0.name.description)),
                    ("type", String($0.type.rawValue)),
                    ("ttl", String($0.ttl)),
                    ("data", string($0.rdata.presentation)),
                ])
            })
        } ?? "null"))
        return object(fields)
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    static func array(_ items: [String]) -> String {
        "[" + items.joined(separator: ",") + "]"
    }

    /// A JSON string literal; everything outside printable ASCII is a `\u` escape.
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case " "..."~": out.unicodeScalars.append(scalar)
            default:
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            }
        }
        return out + "\""
    }
}
