import Foundation
import Testing

@testable import PolicyEngine

/// `fqdnctl metrics` (Prometheus text, written by swift-prometheus): label values and help
/// values escaped as the exposition format requires (backslash, double quote, line feed), so an
/// endpoint name chosen by the user cannot break or forge a sample line.
@Suite struct MetricsTextTests {
    @Test func userTextIsEscaped() {
        var m = MetricsSnapshot()
        m.counters = [("fqdnpolicy_x_total", "one\\two\nthree \"q\"", 5)]
        m.gauges = [("fqdnpolicy_learned_addresses", "per endpoint", [([("endpoint", "p\"} 1\nfake 2")], 7), ([("endpoint", "web")], 0)])]
        let lines = m.text.split(separator: "\n").map(String.init)
        // The exposition format (text 0.0.4): label values escape \\, \" and \n. Help texts
        // (ours, constants) escape \\; swift-prometheus drops a line feed in help rather than
        // writing \n: either way no line is added.
        #expect(lines.contains { $0.hasPrefix(#"# HELP fqdnpolicy_x_total one\\two"#) }, "\(lines)")
        #expect(!lines.contains { $0.hasPrefix("three") })
        #expect(lines.contains("# TYPE fqdnpolicy_x_total counter"))
        #expect(lines.contains("fqdnpolicy_x_total 5"))
        #expect(lines.contains(#"fqdnpolicy_learned_addresses{endpoint="p\"} 1\nfake 2"} 7.0"#), "\(lines)")
        #expect(lines.contains(#"fqdnpolicy_learned_addresses{endpoint="web"} 0.0"#))
        #expect(!lines.contains { $0.hasPrefix("fake") }, "a name with a line feed must not add a sample line")
        #expect(lines.count == 7, "HELP, TYPE and one sample per series: \(lines)")
        #expect(lines.firstIndex(of: "# TYPE fqdnpolicy_x_total counter")! < lines.firstIndex(of: "# TYPE fqdnpolicy_learned_addresses gauge")!,
                "metrics in the snapshot's order")
    }
}

extension MetricsTextTests {
    /// The metric names operators scrape (Datapath.md, TCP.md): one camelCase-to-snake rule.
    @Test func metricNames() {
        #expect(Counter.dnsQueriesRefused.prometheusName == "fqdnpolicy_dns_queries_refused_total")
        #expect(Counter.egressDeniedSpoofed.prometheusName == "fqdnpolicy_egress_denied_spoofed_total")
        #expect(TCPCounter.rxSplitPrefix.prometheusName == "fqdnpolicy_tcp_rx_split_prefix_total")
        #expect(TCPCounter.txWriteDenied.prometheusName == "fqdnpolicy_tcp_tx_write_denied_total")
        #expect(MetricsSnapshot.snakeCase("egressAllowedCIDR") == "egress_allowed_cidr")
    }
}

/// The embedding snippet a user copies from the README and the DocC overview is the file CI
/// compiles (`Examples/ReadmeSnippet/main.swift`, a target of the package).
@Suite struct SnippetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The ```swift blocks of a Markdown file.
    static func swiftBlocks(_ relativePath: String) throws -> [String] {
        let text = try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
        var blocks: [String] = [], current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" { current = [] } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else if current != nil { current!.append(line) }
        }
        return blocks
    }

    @Test func readmeAndDocCShowTheCompiledSnippet() throws {
        let compiled = try String(contentsOf: Self.root.appendingPathComponent("Examples/ReadmeSnippet/main.swift"), encoding: .utf8)
        for doc in ["README.md", "Sources/PolicyEngine/PolicyEngine.docc/PolicyEngine.md"] {
            let embedding = try Self.swiftBlocks(doc).filter { $0.contains("PolicyAgent(") }
            #expect(embedding == [compiled], "\(doc): its embedding snippet differs from Examples/ReadmeSnippet/main.swift")
        }
    }
}
