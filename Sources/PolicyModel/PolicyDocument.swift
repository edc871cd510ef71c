import Foundation
import Yams

/// An error in a policy document: which file, where in the document, and why.
///
/// Loading is all-or-nothing: when any document in a file has an error, no policy from that
/// file is returned, so nothing is partially applied.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file name (or `<input>` for text given directly).
    public var file: String
    /// Path in the document, e.g. `spec.egress[1].toFQDNs[0].matchPattern`; for a file with
    /// several YAML documents it starts with the document index, e.g. `[2].spec`.
    public var path: String
    /// 1-based line and column of the offending node, when known.
    public var line: Int?
    public var column: Int?
    public var reason: String

    public var description: String {
        var where_ = file
        if let line { where_ += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        return "\(where_): \(path.isEmpty ? "document" : path): \(reason)"
    }
}

/// Reads CiliumNetworkPolicy documents (`apiVersion: cilium.io/v2`) into ``FQDNPolicy`` values.
///
/// Supported: `metadata.name`, `spec`/`specs` with `endpointSelector` (`matchLabels`,
/// `matchExpressions`), `egress[]` with `toFQDNs` (`matchName`/`matchPattern`), `toCIDR`,
/// `toCIDRSet` (`cidr`, `except`), `toPorts[].ports[]` (`port`, `endPort`, `protocol`) and
/// `toPorts[].rules.dns[]` (the names that may be queried). `toEndpoints` is accepted only on a
/// rule that carries `rules.dns` (the usual "allow DNS to kube-dns" rule): which DNS servers are
/// trusted is the agent's configuration, not the policy's. Anything else is an error naming
/// the field, never silently ignored.
///
/// FQDNPolicy settings without a CiliumNetworkPolicy field are annotations:
/// `fqdnpolicy.io/refused-query-action` (`refused`, `nxdomain`, `drop`),
/// `fqdnpolicy.io/min-ttl` (seconds), `fqdnpolicy.io/max-ips-per-name`.
public enum PolicyDocument {
    public static let refusedActionAnnotation = "fqdnpolicy.io/refused-query-action"
    public static let minTTLAnnotation = "fqdnpolicy.io/min-ttl"
    public static let maxIPsAnnotation = "fqdnpolicy.io/max-ips-per-name"

    /// Loads every policy in a YAML file (several documents separated by `---` allowed).
    public static func load(contentsOf path: String) throws(PolicyError) -> [FQDNPolicy] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PolicyError(file: path, path: "", reason: "cannot read file: \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses policies from YAML text. `file` names the source in errors.
    public static func parse(yaml: String, file: String = "<input>") throws(PolicyError) -> [FQDNPolicy] {
        var nodes: [Node] = []
        do {
            // Parser.nextRoot throws on a syntax error (compose_all's sequence would stop
            // silently and keep the error to itself).
            let parser = try Parser(yaml: yaml)
            while let node = try parser.nextRoot() { nodes.append(node) }
        } catch let error as YamlError {
            throw PolicyError(file: file, path: "", line: error.line, column: error.column, reason: "invalid YAML: \(error.summary)")
        } catch {
            throw PolicyError(file: file, path: "", reason: "invalid YAML: \(error)")
        }
        if nodes.isEmpty { throw PolicyError(file: file, path: "", reason: "no policy document in the file") }
        var policies: [FQDNPolicy] = []
        var names: [String: String] = [:]
        for (i, node) in nodes.enumerated() {
            let prefix = nodes.count > 1 ? "[\(i)]" : ""
            let cursor = Cursor(node: node, path: prefix, file: file)
            for policy in try document(cursor) {
                if let earlier = names[policy.name] {
                    throw cursor.error("duplicate policy name '\(policy.name)' (also at \(earlier.isEmpty ? "document 0" : earlier))")
                }
                names[policy.name] = prefix
                policies.append(policy)
            }
        }
        return policies
    }

    // MARK: - Document structure

    private static func document(_ doc: Cursor) throws(PolicyError) -> [FQDNPolicy] {
        let top = try doc.mapping(allowed: ["apiVersion", "kind", "metadata", "spec", "specs"])
        let apiCursor = try top.required("apiVersion")
        let api = try apiCursor.string()
        guard api == "cilium.io/v2" else {
            throw apiCursor.error("unsupported apiVersion '\(api)' (expected cilium.io/v2)")
        }
        let kindCursor = try top.required("kind")
        let kind = try kindCursor.string()
        guard kind == "CiliumNetworkPolicy" || kind == "CiliumClusterwideNetworkPolicy" else {
            throw kindCursor.error("unsupported kind '\(kind)' (expected CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy)")
        }
        let meta = try top.required("metadata").mapping(allowed: ["name", "namespace", "annotations", "labels", "uid", "resourceVersion", "generation", "creationTimestamp"])
        let nameCursor = try meta.required("name")
        let name = try nameCursor.string()
        guard !name.isEmpty else { throw nameCursor.error("must not be empty") }

        var settings = (action: RefusedQueryAction.refused, minTTL: FQDNPolicy.defaultMinTTL, maxIPs: FQDNPolicy.defaultMaxIPsPerName)
        if let ann = meta.optional("annotations") {
            let annotations = try ann.mapping(allowed: nil)
            if let a = annotations.optional(refusedActionAnnotation) {
                let v = try a.string()
                guard let action = RefusedQueryAction(rawValue: v.lowercased()) else {
                    throw a.error("must be one of \(RefusedQueryAction.allCases.map(\.rawValue).joined(separator: ", ")), not '\(v)'")
                }
                settings.action = action
            }
            if let t = annotations.optional(minTTLAnnotation) {
                settings.minTTL = try t.integer(in: 0...604_800, what: "min TTL in seconds")
            }
            if let m = annotations.optional(maxIPsAnnotation) {
                settings.maxIPs = try m.integer(in: 1...65_536, what: "max IPs per name")
            }
        }

        var specs: [Cursor] = []
        switch (top.optional("spec"), top.optional("specs")) {
        case (let s?, nil): specs = [s]
        case (nil, let s?): specs = try s.sequence()
        case (_?, _?): throw top.error("has both 'spec' and 'specs': use one")
        case (nil, nil): throw top.error("missing 'spec'")
        }
        var out: [FQDNPolicy] = []
        for (i, specCursor) in specs.enumerated() {
            var policy = try spec(specCursor, name: specs.count > 1 ? "\(name)[\(i)]" : name)
            policy.refusedQueryAction = settings.action
            policy.minTTL = settings.minTTL
            policy.maxIPsPerName = settings.maxIPs
            out.append(policy)
        }
        return out
    }

    private static func spec(_ c: Cursor, name: String) throws(PolicyError) -> FQDNPolicy {
        let spec = try c.mapping(allowed: ["endpointSelector", "egress", "description", "ingress", "ingressDeny", "egressDeny", "nodeSelector", "labels", "enableDefaultDeny"])
        for unsupported in ["ingress", "ingressDeny", "egressDeny", "nodeSelector"] {
            if let u = spec.optional(unsupported) {
                throw u.error("not supported by FQDNPolicy (it enforces egress allow rules of endpoints only)")
            }
        }
        guard let sel = spec.optional("endpointSelector") else { throw spec.error("missing 'endpointSelector'") }
        let selector = try labelSelector(sel)
        var egress: [EgressRule] = []
        var dnsRules: [FQDNSelector] = []
        if let e = spec.optional("egress") {
            for r in try e.sequence() {
                let (rule, dns) = try egressRule(r)
                if let rule { egress.append(rule) }
                dnsRules += dns
            }
        }
        return FQDNPolicy(name: name, endpointSelector: selector, egress: egress, dnsRules: dnsRules)
    }

    private static func labelSelector(_ c: Cursor) throws(PolicyError) -> LabelSelector {
        let m = try c.mapping(allowed: ["matchLabels", "matchExpressions"])
        var labels: [String: String] = [:]
        if let ml = m.optional("matchLabels") {
            for (k, v) in try ml.pairs() { labels[k] = try v.string() }
        }
        var exprs: [LabelSelector.Requirement] = []
        if let me = m.optional("matchExpressions") {
            for e in try me.sequence() {
                let em = try e.mapping(allowed: ["key", "operator", "values"])
                let key = try em.required("key").string()
                let opCursor = try em.required("operator")
                let opText = try opCursor.string()
                guard let op = LabelSelector.Operator(rawValue: opText) else {
                    throw opCursor.error("unknown operator '\(opText)' (In, NotIn, Exists, DoesNotExist)")
                }
                let values = try em.optional("values").map { v throws(PolicyError) in try v.sequence().map { c throws(PolicyError) in try c.string() } } ?? []
                if (op == .in || op == .notIn), values.isEmpty { throw em.error("operator \(opText) needs values") }
                if (op == .exists || op == .doesNotExist), !values.isEmpty { throw em.error("operator \(opText) takes no values") }
                exprs.append(.init(key: key, op: op, values: values))
            }
        }
        return LabelSelector(matchLabels: labels, matchExpressions: exprs)
    }

    /// One `egress[]` entry: an allow rule (nil when the entry only carries DNS rules) and the
    /// DNS query rules it contributes.
    private static func egressRule(_ c: Cursor) throws(PolicyError) -> (EgressRule?, [FQDNSelector]) {
        let m = try c.mapping(allowed: ["toFQDNs", "toPorts", "toCIDR", "toCIDRSet", "toEndpoints", "toEntities", "toServices", "toGroups", "toRequires", "toNodes", "icmps", "authentication"])
        for unsupported in ["toEntities", "toServices", "toGroups", "toRequires", "toNodes", "icmps", "authentication"] {
            if let u = m.optional(unsupported) { throw u.error("not supported by FQDNPolicy (use toFQDNs, toCIDR or toCIDRSet)") }
        }
        var fqdns: [FQDNSelector] = []
        if let f = m.optional("toFQDNs") {
            for s in try f.sequence() { fqdns.append(try selector(s)) }
            if fqdns.isEmpty { throw f.error("toFQDNs is empty") }
        }
        var cidrs: [CIDRRule] = []
        if let t = m.optional("toCIDR") {
            for s in try t.sequence() { cidrs.append(CIDRRule(network: try network(s))) }
        }
        if let t = m.optional("toCIDRSet") {
            for s in try t.sequence() {
                let sm = try s.mapping(allowed: ["cidr", "except", "cidrGroupRef"])
                if let g = sm.optional("cidrGroupRef") { throw g.error("cidrGroupRef is not supported (write the CIDR)") }
                let net = try network(sm.required("cidr"))
                var except: [IPNetwork] = []
                if let e = sm.optional("except") {
                    for x in try e.sequence() {
                        let ex = try network(x)
                        guard net.contains(ex) else { throw x.error("except \(ex) is not inside \(net)") }
                        except.append(ex)
                    }
                }
                cidrs.append(CIDRRule(network: net, except: except))
            }
        }
        var ports: [PortRule] = []
        var dns: [FQDNSelector] = []
        var sawDNSRules = false
        if let tp = m.optional("toPorts") {
            for p in try tp.sequence() {
                let pm = try p.mapping(allowed: ["ports", "rules", "listener", "originatingTLS", "terminatingTLS", "serverNames"])
                for unsupported in ["listener", "originatingTLS", "terminatingTLS", "serverNames"] {
                    if let u = pm.optional(unsupported) { throw u.error("not supported by FQDNPolicy") }
                }
                if let ps = pm.optional("ports") {
                    for port in try ps.sequence() { ports.append(try portRule(port)) }
                }
                if let rules = pm.optional("rules") {
                    let rm = try rules.mapping(allowed: ["dns", "http", "kafka", "l7proto", "l7"])
                    for unsupported in ["http", "kafka", "l7proto", "l7"] {
                        if let u = rm.optional(unsupported) { throw u.error("L7 '\(unsupported)' rules are not supported (only 'dns')") }
                    }
                    if let d = rm.optional("dns") {
                        sawDNSRules = true
                        for s in try d.sequence() { dns.append(try selector(s)) }
                    }
                }
            }
        }
        if let te = m.optional("toEndpoints") {
            guard sawDNSRules, fqdns.isEmpty, cidrs.isEmpty else {
                throw te.error("toEndpoints is accepted only on a DNS rule (toPorts with rules.dns); trusted DNS servers are set on the agent")
            }
        }
        if sawDNSRules, fqdns.isEmpty, cidrs.isEmpty {
            // A pure DNS rule: it allows DNS to the trusted servers (always allowed) and
            // restricts which names may be queried.
            return (nil, dns)
        }
        if fqdns.isEmpty, cidrs.isEmpty {
            throw c.error("egress rule has no destination (toFQDNs, toCIDR or toCIDRSet)")
        }
        return (EgressRule(toFQDNs: fqdns, toCIDR: cidrs, toPorts: ports), dns)
    }

    private static func selector(_ c: Cursor) throws(PolicyError) -> FQDNSelector {
        let m = try c.mapping(allowed: ["matchName", "matchPattern"])
        switch (m.optional("matchName"), m.optional("matchPattern")) {
        case (let n?, nil):
            let name = try n.string()
            if let problem = PatternCheck.nameProblem(name) { throw n.error(problem) }
            return .matchName(name)
        case (nil, let p?):
            let pattern = try p.string()
            if let problem = PatternCheck.patternProblem(pattern) { throw p.error(problem) }
            return .matchPattern(pattern)
        case (_?, _?): throw m.error("has both matchName and matchPattern: use one per entry")
        case (nil, nil): throw m.error("needs matchName or matchPattern")
        }
    }

    private static func network(_ c: Cursor) throws(PolicyError) -> IPNetwork {
        let text = try c.string()
        guard let net = IPNetwork(text) else { throw c.error("'\(text)' is not a CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)") }
        return net
    }

    private static func portRule(_ c: Cursor) throws(PolicyError) -> PortRule {
        let m = try c.mapping(allowed: ["port", "endPort", "protocol"])
        let portCursor = try m.required("port")
        let portText = try portCursor.string()
        guard let port = UInt16(portText) else {
            throw portCursor.error("port '\(portText)' is not a number 0-65535 (named ports are not supported)")
        }
        var endPort: UInt16?
        if let e = m.optional("endPort") {
            let v: UInt32 = try e.integer(in: UInt32(port)...65535, what: "endPort (>= port)")
            endPort = UInt16(v)
        }
        var proto = TransportProtocol.any
        if let p = m.optional("protocol") {
            let t = try p.string()
            guard let parsed = TransportProtocol(rawValue: t.uppercased()) else {
                throw p.error("protocol '\(t)' is not supported (TCP, UDP or ANY)")
            }
            proto = parsed
        }
        return PortRule(port: port, endPort: endPort, proto: proto)
    }
}

/// Syntax checks of names and patterns, done when a document is read so that the error points
/// at the line. The same rules are enforced again by the trie compiler.
enum PatternCheck {
    static func nameProblem(_ name: String) -> String? {
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        if trimmed.isEmpty { return "matchName is empty" }
        for (i, ch) in trimmed.enumerated() where !(ch.isASCII && (ch.isLetter || ch.isNumber || ch == "-" || ch == "_" || ch == ".")) {
            return "matchName '\(name)': character '\(ch)' at position \(i) is not allowed ([-a-zA-Z0-9_.])"
        }
        return labelProblem(trimmed, what: "matchName", original: name)
    }

    static func patternProblem(_ pattern: String) -> String? {
        let trimmed = pattern.hasSuffix(".") ? String(pattern.dropLast()) : pattern
        if trimmed.isEmpty { return "matchPattern is empty" }
        if trimmed.allSatisfy({ $0 == "*" }) { return nil }
        for (i, ch) in trimmed.enumerated() where !(ch.isASCII && (ch.isLetter || ch.isNumber || ch == "-" || ch == "_" || ch == "." || ch == "*")) {
            return "matchPattern '\(pattern)': character '\(ch)' at position \(i) is not allowed ([-a-zA-Z0-9_.*])"
        }
        let labels = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        for (i, label) in labels.enumerated() where label.contains("**") {
            if label != "**" || i != 0 || labels.count < 2 {
                return "matchPattern '\(pattern)': '**' is allowed only as the whole first label followed by a domain ('**.example.com')"
            }
        }
        return labelProblem(trimmed, what: "matchPattern", original: pattern)
    }

    private static func labelProblem(_ s: String, what: String, original: String) -> String? {
        var position = 0
        for label in s.split(separator: ".", omittingEmptySubsequences: false) {
            if label.isEmpty { return "\(what) '\(original)': empty label at position \(position)" }
            if label.count > 63 { return "\(what) '\(original)': label at position \(position) is longer than 63 characters" }
            position += label.count + 1
        }
        if s.utf8.count + 2 > 255 { return "\(what) '\(original)' is longer than a DNS name can be (253 characters)" }
        return nil
    }
}

/// A position in a YAML document with its path, for precise errors.
struct Cursor {
    let node: Node
    let path: String
    let file: String

    func error(_ reason: String) -> PolicyError {
        PolicyError(file: file, path: path, line: node.mark?.line, column: node.mark?.column, reason: reason)
    }

    func child(_ key: String, _ node: Node) -> Cursor {
        Cursor(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    func string() throws(PolicyError) -> String {
        guard case .scalar(let s) = node else { throw error("expected a scalar value") }
        return s.string
    }

    func integer<T: FixedWidthInteger>(in range: ClosedRange<T>, what: String) throws(PolicyError) -> T {
        let text = try string()
        guard let v = T(text), range.contains(v) else { throw error("\(what): '\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    func sequence() throws(PolicyError) -> [Cursor] {
        guard case .sequence(let seq) = node else { throw error("expected a list") }
        return seq.enumerated().map { Cursor(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    func pairs() throws(PolicyError) -> [(String, Cursor)] {
        guard case .mapping(let map) = node else { throw error("expected a mapping") }
        var out: [(String, Cursor)] = []
        for (k, v) in map {
            guard case .scalar(let key) = k else { throw error("mapping keys must be scalars") }
            out.append((key.string, child(key.string, v)))
        }
        return out
    }

    /// A mapping whose keys must all be in `allowed` (nil: any key).
    func mapping(allowed: Set<String>?) throws(PolicyError) -> MappingCursor {
        var entries: [String: Cursor] = [:]
        for (k, v) in try pairs() {
            if let allowed, !allowed.contains(k) {
                throw v.error("unknown field '\(k)' (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            if entries[k] != nil { throw v.error("duplicate key '\(k)'") }
            entries[k] = v
        }
        return MappingCursor(cursor: self, entries: entries)
    }
}

struct MappingCursor {
    let cursor: Cursor
    let entries: [String: Cursor]

    func optional(_ key: String) -> Cursor? { entries[key] }

    func required(_ key: String) throws(PolicyError) -> Cursor {
        guard let c = entries[key] else { throw cursor.error("missing '\(key)'") }
        return c
    }

    func error(_ reason: String) -> PolicyError { cursor.error(reason) }
}

extension YamlError {
    fileprivate var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    fileprivate var column: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.column
        default: nil
        }
    }

    fileprivate var summary: String {
        switch self {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
            [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        default: "\(self)"
        }
    }
}
