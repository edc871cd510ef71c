import Yams

extension PolicyDocument {
    /// The CiliumNetworkPolicy documents (one per policy, separated by `---`) that
    /// ``parse(yaml:file:)`` reads back into exactly `policies`: what the agent holds, written
    /// as a file an operator (or a test) can read, keep and apply again.
    ///
    /// Each egress rule is one `egress[]` entry; the names that may be queried
    /// (``FQDNPolicy/dnsRules``) are one more entry, a DNS rule on port 53; settings that are not
    /// the defaults are annotations. Every string is double-quoted, so names and labels of any
    /// content come back unchanged.
    public static func yaml(_ policies: [FQDNPolicy]) -> String {
        policies.map { policy in
            // Serializing a tree made of scalars, sequences and mappings cannot fail.
            (try? Yams.serialize(node: document(policy), width: -1, allowUnicode: true)) ?? ""
        }.joined(separator: "---\n")
    }

    private static func document(_ p: FQDNPolicy) -> Node {
        var metadata: [(String, Node)] = [("name", text(p.name))]
        var annotations: [(String, Node)] = []
        if p.refusedQueryAction != .refused { annotations.append((refusedActionAnnotation, text(p.refusedQueryAction.rawValue))) }
        if p.minTTL != FQDNPolicy.defaultMinTTL { annotations.append((minTTLAnnotation, text(String(p.minTTL)))) }
        if p.maxIPsPerName != FQDNPolicy.defaultMaxIPsPerName { annotations.append((maxIPsAnnotation, text(String(p.maxIPsPerName)))) }
        if !annotations.isEmpty { metadata.append(("annotations", mapping(annotations))) }

        var egress = p.egress.map(rule)
        if !p.dnsRules.isEmpty {
            egress.append(mapping([("toPorts", .sequence(.init([mapping([
                ("ports", .sequence(.init([port(PortRule(port: 53, proto: .any))]))),
                ("rules", mapping([("dns", .sequence(.init(p.dnsRules.map(selector))))])),
            ])])))]))
        }
        var spec: [(String, Node)] = [("endpointSelector", labelSelector(p.endpointSelector))]
        if !egress.isEmpty { spec.append(("egress", .sequence(.init(egress)))) }
        return mapping([
            ("apiVersion", text("cilium.io/v2")),
            ("kind", text("CiliumNetworkPolicy")),
            ("metadata", mapping(metadata)),
            ("spec", mapping(spec)),
        ])
    }

    private static func labelSelector(_ s: LabelSelector) -> Node {
        var out: [(String, Node)] = []
        if !s.matchLabels.isEmpty {
            // Label keys are the user's: quoted like every value.
            out.append(("matchLabels", .mapping(.init(s.matchLabels.sorted { $0.key < $1.key }.map { (text($0.key), text($0.value)) }))))
        }
        if !s.matchExpressions.isEmpty {
            out.append(("matchExpressions", .sequence(.init(s.matchExpressions.map { r in
                var e: [(String, Node)] = [("key", text(r.key)), ("operator", text(r.op.rawValue))]
                if !r.values.isEmpty { e.append(("values", .sequence(.init(r.values.map(text))))) }
                return mapping(e)
            }))))
        }
        return mapping(out)
    }

    private static func rule(_ r: EgressRule) -> Node {
        var out: [(String, Node)] = []
        if !r.toFQDNs.isEmpty { out.append(("toFQDNs", .sequence(.init(r.toFQDNs.map(selector))))) }
        if !r.toCIDR.isEmpty {
            out.append(("toCIDRSet", .sequence(.init(r.toCIDR.map { c in
                var m: [(String, Node)] = [("cidr", text(c.network.description))]
                if !c.except.isEmpty { m.append(("except", .sequence(.init(c.except.map { text($0.description) })))) }
                return mapping(m)
            }))))
        }
        if !r.toPorts.isEmpty {
            out.append(("toPorts", .sequence(.init([mapping([("ports", .sequence(.init(r.toPorts.map(port))))])]))))
        }
        return mapping(out)
    }

    private static func port(_ p: PortRule) -> Node {
        var m: [(String, Node)] = [("port", text(String(p.port)))]
        if p.port != 0 && p.endPort != p.port { m.append(("endPort", Node(String(p.endPort)))) }
        m.append(("protocol", text(p.proto.rawValue)))
        return mapping(m)
    }

    private static func selector(_ s: FQDNSelector) -> Node {
        switch s {
        case .matchName(let n): mapping([("matchName", text(n))])
        case .matchPattern(let p): mapping([("matchPattern", text(p))])
        }
    }

    private static func text(_ s: String) -> Node { Node(s, Tag(.str), .doubleQuoted) }

    private static func mapping(_ pairs: [(String, Node)]) -> Node {
        .mapping(.init(pairs.map { (Node($0.0, Tag(.str), .plain), $0.1) }))
    }
}
