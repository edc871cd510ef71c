import Prometheus

/// What `fqdnctl metrics` (and later the agent's /metrics) exposes, read from the pinned maps
/// at one moment: every value is the kernel's, so each exposition is a fresh registry filled
/// once (swift-prometheus writes the text format, escaping label values and help texts).
struct MetricsSnapshot {
    /// Monotonic counters: name (`fqdnpolicy_..._total`), help, value.
    var counters: [(name: String, help: String, value: UInt64)] = []
    /// Gauges: name, help, and one sample per label set (empty labels: a single sample).
    var gauges: [(name: String, help: String, samples: [(labels: [(String, String)], value: UInt64)])] = []

    /// The Prometheus text exposition of the snapshot.
    var text: String {
        let registry = PrometheusCollectorRegistry()
        for c in counters {
            registry.makeCounter(descriptor: Self.descriptor(c.name, c.help)).increment(by: Int64(clamping: c.value))
        }
        for g in gauges {
            for s in g.samples {
                registry.makeGauge(descriptor: Self.descriptor(g.name, g.help), labels: s.labels).set(to: Double(s.value))
            }
        }
        return registry.emitToString()
    }

    /// Our names are whole (`fqdnpolicy_..._total`): no namespace or unit is added.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
