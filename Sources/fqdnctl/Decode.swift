import ArgumentParser
import DNSWire
import FQDNKernel
import Foundation

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode one DNS message and print its verdict and response facts as JSON.",
        discussion: """
            Prints one JSON object (see FactsJSON.swift for the keys). A message the parser \
            rejects is still a successful run: verdict "error" with the reason and offset. \
            Unreadable input (missing file, bad hex, wrong TCP length prefix) exits non-zero.
            """
    )

    @Flag(name: .long, help: "The input starts with the 2-byte TCP length prefix (checked).")
    var tcp = false

    @Flag(name: .long, help: "The input is hex text (whitespace ignored).")
    var hex = false

    @Flag(name: .long, help: "Parse with the in-kernel parser (BPF_PROG_TEST_RUN; needs root and BPF). No answers.")
    var kernel = false

    @Flag(name: .long, help: "Parse with both; print one line if they agree, else both lines and exit 1.")
    var compare = false

    @Option(name: .long, help: "Packet around the message for --kernel/--compare: udp4, udp6, tcp4, tcp6, buffer.")
    var framing: KernelParser.Framing?

    @Argument(help: "File with the message, or - for standard input.")
    var file: String

    func run() throws {
        let message = try Self.readMessage(file: file, tcp: tcp, hex: hex)
        if compare { return try DecodeKernel.compare(message, framing: framing) }
        if kernel { return try DecodeKernel.kernel(message, framing: framing) }
        let facts = ResponseFacts.extract(from: message)
        let answers = facts.error == nil ? (try? DNSMessage.decode(message))?.answers ?? [] : []
        print(FactsJSON.render(facts, answers: answers))
    }

    struct InputError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads `file` (or stdin for `-`), undoes `--hex` and checks and strips the `--tcp` prefix.
    static func readMessage(file: String, tcp: Bool, hex: Bool) throws -> [UInt8] {
        let label = file == "-" ? "standard input" : file
        var bytes: [UInt8]
        if file == "-" {
            bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        } else {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw InputError(description: "\(label): cannot read file")
            }
            bytes = [UInt8](data)
        }
        if hex {
            bytes = try decodeHex(bytes, label: label)
        }
        if tcp {
            guard bytes.count >= 2 else {
                throw InputError(description: "\(label): \(bytes.count) bytes, too short for the 2-byte TCP length prefix")
            }
            let announced = Int(bytes[0]) << 8 | Int(bytes[1])
            guard announced == bytes.count - 2 else {
                throw InputError(description: "\(label): TCP length prefix says \(announced) bytes but \(bytes.count - 2) follow")
            }
            bytes.removeFirst(2)
        }
        return bytes
    }

    static func decodeHex(_ text: [UInt8], label: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var high: UInt8?
        for (i, c) in text.enumerated() {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): continue
            default:
                throw InputError(description: "\(label): not hex: byte \(c) at position \(i)")
            }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard high == nil else { throw InputError(description: "\(label): odd number of hex digits") }
        return out
    }
}
