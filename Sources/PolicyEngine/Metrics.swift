import Prometheus

/// What `fqdnctl metrics` (and later the agent's /metrics) exposes, read from the pinned maps
/// at one moment: every value is the kernel's, so each exposition is a fresh registry filled
/// once (swift-prometheus writes the text format and escapes label values).
struct MetricsSnapshot {
    /// Monotonic counters: name (`fqdnpolicy_..._total`), help, value.
    var counters: [(name: String, help: String, value: UInt64)] = []
    /// Gauges: name, help, and one sample per label set (empty labels: a single sample).
    var gauges: [(name: String, help: String, samples: [(labels: [(String, String)], value: UInt64)])] = []

    /// The Prometheus text exposition of the snapshot, metrics in the snapshot's order (one
    /// registry per metric: a registry writes its metrics in no fixed order, and an operator
    /// reading `fqdnctl metrics` twice should find each line where it was).
    var text: String {
        var out = ""
        for c in counters {
            let registry = PrometheusCollectorRegistry()
            registry.makeCounter(descriptor: Self.descriptor(c.name, c.help)).increment(by: Int64(clamping: c.value))
            out += registry.emitToString()
        }
        for g in gauges {
            let registry = PrometheusCollectorRegistry()
            for s in g.samples {
                registry.makeGauge(descriptor: Self.descriptor(g.name, g.help), labels: s.labels).set(to: Double(s.value))
            }
            out += registry.emitToString()
        }
        return out
    }

    /// camelCase to snake_case (a counter's case name to its metric name); a run of capitals
    /// is one word: `dnsQueriesRefused` -> `dns_queries_refused`, `egressAllowedCIDR` ->
    /// `egress_allowed_cidr`.
    static func snakeCase(_ camel: String) -> String {
        var snake = ""
        var previousLower = false
        for c in camel {
            if c.isUppercase && previousLower { snake += "_" }
            snake += c.lowercased()
            previousLower = c.isLowercase || c.isNumber
        }
        return snake
    }

    /// Our names are whole (`fqdnpolicy_..._total`): no namespace or unit is added.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
