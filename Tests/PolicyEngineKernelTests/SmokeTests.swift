import FQDNPolicyTesting
import PolicyEngine
import Testing

@Suite(.serialized) struct SmokeTests {
    @Test(.kernel) func resolveThenConnect() async throws {
        let yaml = policyYAML(egress: """
            - toFQDNs:
                - matchName: web1.demo.test
              toPorts:
                - ports:
                    - port: "80"
                      protocol: TCP
            - toPorts:
                - ports:
                    - port: "53"
                      protocol: ANY
                  rules:
                    dns:
                      - matchPattern: "*.demo.test"
        """)
        try await Environment.with(policyYAML: yaml) { env in
            #expect(try env.connects(env.web1.ipv4) == false)
            let r = try #require(try env.resolve("web1.demo.test"))
            #expect(r.addresses == ["10.220.1.2"])
            #expect(try env.connects(env.web1.ipv4))
            #expect(try env.connects(env.web2.ipv4) == false)
            print(try await env.counters().filter { $0.value > 0 })
            print(try await env.agent.snapshot())
        }
    }
}
