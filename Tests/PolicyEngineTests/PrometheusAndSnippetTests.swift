import Foundation
import Testing

@testable import PolicyEngine

/// `fqdnctl metrics` (Prometheus text): label values and help texts escaped as the exposition
/// format requires (backslash, double quote, line feed in label values; backslash and line feed
/// in help), so an endpoint name chosen by the user cannot break or forge a sample line.
@Suite struct PrometheusTextTests {
    @Test func labelValuesAreEscaped() {
        #expect(PrometheusText.labels([:]) == "")
        #expect(PrometheusText.labels(["endpoint": "web"]) == #"{endpoint="web"}"#)
        #expect(PrometheusText.labels(["endpoint": "a\"b\\c\nd"]) == #"{endpoint="a\"b\\c\nd"}"#)
        #expect(PrometheusText.labels(["b": "2", "a": "1"]) == #"{a="1",b="2"}"#)
        var text = PrometheusText()
        text.metric("x", type: "gauge", help: "one\\two\nthree \"q\"", [(PrometheusText.labels(["endpoint": "p\"} 1\nfake 2"]), 7)])
        #expect(text.text == """
            # HELP x one\\\\two\\nthree "q"
            # TYPE x gauge
            x{endpoint="p\\"} 1\\nfake 2"} 7

            """)
        #expect(text.lines.count == 3, "a name with a line feed must not add a sample line")
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
