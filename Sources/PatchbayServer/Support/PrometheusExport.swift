import CoreMetrics
import PatchbayEngine
import Prometheus

/// The gateway's `/metrics`: a swift-prometheus registry of its own (not the process-wide default, so
/// several gateways in one process — the tests — never share counts) behind a swift-metrics factory
/// that gives every metric the help line and histogram buckets its `MetricDescription` names.
/// swift-prometheus' own factory registers metrics without help text, and a registry refuses two
/// different help texts for one name, so the factory is ours; the metrics are swift-prometheus'.
final class PrometheusExport: MetricsFactory, Sendable {
    let registry = PrometheusCollectorRegistry()
    private let descriptions: [String: MetricDescription]

    init(descriptions: [MetricDescription]) {
        self.descriptions = Dictionary(descriptions.map { ($0.label, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The text exposition format (0.0.4) of every metric registered.
    func render() -> [UInt8] { registry.emitToBuffer() }

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: descriptions[label]?.help ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        let description = descriptions[label]
        let buckets = description?.valueBuckets ?? (description?.buckets ?? Self.defaultBuckets).map { $0 / .seconds(1) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(label), labels: dimensions, buckets: descriptions[label]?.buckets ?? Self.defaultBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }

    /// Buckets for a histogram nobody described: 1 ms to 10 s.
    private static let defaultBuckets: [Duration] = [1, 5, 10, 50, 100, 500, 1000, 5000, 10_000].map { .milliseconds($0) }
}
