import ArgumentParser
import DNSWire
import Foundation

struct Limits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the DNS parser limits (shared by the Swift and kernel parsers) as JSON."
    )

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(ParserLimits.kernel)
        print(String(decoding: data, as: UTF8.self))
    }
}
