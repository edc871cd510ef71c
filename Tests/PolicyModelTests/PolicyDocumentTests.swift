import Testing
@testable import PolicyModel

@Suite("CiliumNetworkPolicy documents")
struct PolicyDocumentTests {
    static let full = """
    apiVersion: cilium.io/v2
    kind: CiliumNetworkPolicy
    metadata:
      name: web-egress
      annotations:
        fqdnpolicy.io/refused-query-action: nxdomain
        fqdnpolicy.io/min-ttl: "30"
        fqdnpolicy.io/max-ips-per-name: "16"
    spec:
      endpointSelector:
        matchLabels:
          k8s:app: web
        matchExpressions:
        - key: tier
          operator: NotIn
          values: [db]
      egress:
      - toEndpoints:
        - matchLabels:
            k8s:k8s-app: kube-dns
        toPorts:
        - ports:
          - port: "53"
            protocol: ANY
          rules:
            dns:
            - matchPattern: "*.example.test"
            - matchName: api.github.com
      - toFQDNs:
        - matchName: api.github.com.
        - matchPattern: "**.github.io"
        toPorts:
        - ports:
          - port: "443"
            protocol: TCP
          - port: 8000
            endPort: 8080
      - toCIDRSet:
        - cidr: 10.0.0.0/8
          except: [10.1.0.0/16]
      - toCIDR: ["2001:db8::/32"]
    """

    @Test func parsesAFullPolicy() throws {
        let policies = try PolicyDocument.parse(yaml: Self.full, file: "p.yaml")
        #expect(policies.count == 1)
        let p = try #require(policies.first)
        #expect(p.name == "web-egress")
        #expect(p.refusedQueryAction == .nxdomain)
        #expect(p.minTTL == 30)
        #expect(p.maxIPsPerName == 16)
        #expect(p.dnsRules == [.matchPattern("*.example.test"), .matchName("api.github.com")])
        #expect(p.egress.count == 3)
        #expect(p.egress[0].toFQDNs == [.matchName("api.github.com."), .matchPattern("**.github.io")])
        #expect(p.egress[0].toPorts == [PortRule(port: 443, proto: .tcp), PortRule(port: 8000, endPort: 8080, proto: .any)])
        #expect(p.egress[1].toCIDR == [CIDRRule(network: IPNetwork("10.0.0.0/8")!, except: [IPNetwork("10.1.0.0/16")!])])
        #expect(p.egress[1].toPorts.isEmpty)
        #expect(p.egress[2].toCIDR.first?.network.description == "2001:db8::/32")
        #expect(p.endpointSelector.matches(["app": "web", "tier": "frontend"]))
        #expect(!p.endpointSelector.matches(["app": "web", "tier": "db"]))
        #expect(!p.endpointSelector.matches(["app": "api"]))
    }

    @Test func defaultsWithoutAnnotations() throws {
        let yaml = """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: p}
        spec:
          endpointSelector: {}
          egress:
          - toFQDNs: [{matchName: a.example}]
        """
        let p = try #require(try PolicyDocument.parse(yaml: yaml).first)
        #expect(p.refusedQueryAction == .refused)
        #expect(p.maxIPsPerName == 1000)
        #expect(p.minTTL == 0)
        #expect(p.dnsRules.isEmpty)
        #expect(p.endpointSelector.matches([:]))
    }

    @Test func severalDocumentsAndSpecs() throws {
        let yaml = """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: one}
        spec:
          endpointSelector: {matchLabels: {app: a}}
          egress: [{toFQDNs: [{matchName: a.example}]}]
        ---
        apiVersion: cilium.io/v2
        kind: CiliumClusterwideNetworkPolicy
        metadata: {name: two}
        specs:
        - endpointSelector: {matchLabels: {app: b}}
          egress: [{toFQDNs: [{matchPattern: "*.b.example"}]}]
        - endpointSelector: {matchLabels: {app: c}}
          egress: [{toCIDR: [192.0.2.0/24]}]
        """
        let names = try PolicyDocument.parse(yaml: yaml).map(\.name)
        #expect(names == ["one", "two[0]", "two[1]"])
    }

    /// Each bad document must fail with the path of the offending field, its line, and a reason
    /// that says what is wrong.
    @Test(arguments: [
        ("spec:\n  endpointSelector: {}\n  egress:\n  - toFQDNs:\n    - matchPattern: \"a.*.**.x\"\n", "spec.egress[0].toFQDNs[0].matchPattern", "matchPattern"),
        ("spec:\n  endpointSelector: {}\n  egress:\n  - toFQDNs:\n    - matchName: \"bad name.x\"\n", "spec.egress[0].toFQDNs[0].matchName", "character ' '"),
        ("spec:\n  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchName: a.x}]\n    toPorts: [{ports: [{port: https}]}]\n", "spec.egress[0].toPorts[0].ports[0].port", "named ports"),
        ("spec:\n  endpointSelector: {}\n  egress:\n  - toCIDR: [10.0.0.0/33]\n", "spec.egress[0].toCIDR[0]", "not a CIDR"),
        ("spec:\n  endpointSelector: {}\n  egress:\n  - toCIDRSet: [{cidr: 10.0.0.0/8, except: [11.0.0.0/16]}]\n", "spec.egress[0].toCIDRSet[0].except[0]", "not inside"),
        ("spec:\n  endpointSelector: {}\n  egres:\n  - toCIDR: [10.0.0.0/8]\n", "spec.egres", "unknown field 'egres'"),
        ("spec:\n  endpointSelector: {}\n  egress:\n  - toEntities: [world]\n", "spec.egress[0].toEntities", "not supported"),
        ("spec:\n  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchName: a.x}]\n    toPorts: [{ports: [{port: \"80\"}], rules: {http: [{}]}}]\n", "spec.egress[0].toPorts[0].rules.http", "L7"),
        ("spec:\n  endpointSelector: {}\n  ingress: []\n", "spec.ingress", "egress"),
        ("spec:\n  egress: []\n", "spec", "endpointSelector"),
    ] as [(String, String, String)])
    func badDocumentsNameTheField(spec: String, path: String, reason: String) throws {
        let yaml = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n" + spec
        do {
            _ = try PolicyDocument.parse(yaml: yaml, file: "bad.yaml")
            Issue.record("expected an error at \(path)")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.path == path)
            #expect(error.line != nil)
            #expect(error.reason.contains(reason), "reason: \(error.reason)")
            #expect(error.description.hasPrefix("bad.yaml:"))
        }
    }

    @Test func invalidYAMLReportsTheLine() {
        let yaml = "apiVersion: cilium.io/v2\nkind: [unclosed\n"
        #expect {
            _ = try PolicyDocument.parse(yaml: yaml, file: "x.yaml")
        } throws: { error in
            guard let e = error as? PolicyError else { return false }
            return e.line != nil && e.reason.hasPrefix("invalid YAML")
        }
    }

    @Test func oneBadDocumentRejectsTheWholeFile() {
        let yaml = """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: good}
        spec: {endpointSelector: {}, egress: [{toFQDNs: [{matchName: a.example}]}]}
        ---
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: bad}
        spec: {endpointSelector: {}, egress: [{toFQDNs: [{matchName: "a b"}]}]}
        """
        #expect(throws: PolicyError.self) { try PolicyDocument.parse(yaml: yaml) }
    }

    @Test func wrongKindAndVersion() {
        #expect(throws: PolicyError.self) {
            try PolicyDocument.parse(yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec: {}\n")
        }
    }
}

@Suite("Addresses and networks")
struct IPNetworkTests {
    @Test(arguments: [
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("192.0.2.1", "192.0.2.1/32"),
        ("2001:db8::1/32", "2001:db8::/32"),
        ("::/0", "::/0"),
        ("::ffff:192.0.2.1", "::ffff:c000:201/128"),
        ("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1/128"),
        ("fe80::1:2:3:4:5:6", "fe80:0:1:2:3:4:5:6/128"),
    ])
    func parsesAndFormats(input: String, expected: String) {
        #expect(IPNetwork(input)?.description == expected)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4/33", "1.2.3.4/-1", "::1::2", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "1.2.3.4/+8"])
    func rejectsGarbage(input: String) {
        #expect(IPNetwork(input) == nil)
    }
}
