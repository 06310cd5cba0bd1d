// What a metric update costs on the media path: swift-metrics' API backed by swift-prometheus (what the
// gateway reports through) against a leg's own tally (one relaxed atomic add, the floor). Before the
// gateway moved to swift-metrics this also timed its own bucket histogram (34 ns per observation against
// 89 ns for the swift-prometheus timer: BENCHMARKS.md). Each iteration makes 1,000 updates
// (scalingFactor .kilo): the figures are per update.
// The media path makes a handful of counter updates per frame (frames in/out, per leg and in total) and
// two histogram observations per shard wake-up.
import Benchmark
import CoreMetrics
import PatchbayEngine
import Prometheus

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )
    let registry = PrometheusCollectorRegistry()
    let factory = PrometheusMetricsFactory(registry: registry)

    Benchmark("Counter-Patchbay") { benchmark, counter in
        for _ in benchmark.scaledIterations { counter.add() }
        blackHole(counter.value)
    } setup: {
        PatchbayEngine.Counter()
    }

    Benchmark("Counter-swift-metrics-Prometheus") { benchmark, counter in
        for _ in benchmark.scaledIterations { counter.increment() }
    } setup: {
        CoreMetrics.Counter(label: "patchbay_frames_in_total", factory: factory)
    }

    Benchmark("Histogram-swift-metrics-Prometheus-Timer") { benchmark, timer in
        var v: Int64 = 0
        for _ in benchmark.scaledIterations {
            timer.recordNanoseconds(v)
            v = v < 20_000_000 ? v + 370_000 : 0
        }
    } setup: {
        CoreMetrics.Timer(label: "patchbay_tick_lateness_seconds", factory: factory)
    }
}
