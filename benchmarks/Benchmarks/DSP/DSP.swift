// PatchbayDSP hot-path benchmarks: each step and the whole per-call pipeline, per 20 ms frame at 16 kHz.
//
// State lives in a setup closure (allocated once, before warm-up) and persists across iterations, so the
// resamplers and the detector run as a continuous stream. Step benchmarks use scalingFactor .kilo: one
// iteration is 1000 frames and the scaled (*) figures are per frame. The two "allocation slope" benchmarks
// run 1 and 100 frames per iteration at scalingFactor .one, so their malloc counts are per iteration and
// must be equal: the counter's own overhead is constant (docs/QUALITY.md), anything that grows is ours.
// Names have no spaces or slashes: package-benchmark 1.38.1 writes threshold files with those replaced by
// "_" but looks them up by the raw name, so `thresholds check` would find nothing.
import Benchmark
import PatchbayBenchSupport
import PatchbayDSP

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput]
    // Regression gates for `benchmark thresholds check` (Thresholds/swift-6.3). A static check treats a metric
    // with no tolerance here as exact, so every metric gets one. Wall clock and throughput p90 may move 50%
    // (a shared 2-core VM is noisy: this catches a 2x regression, not a 10% one); the malloc count only by
    // the counter's own jitter; cpuTotal ticks in 10 ms steps on Linux, coarser than one iteration, so it
    // is allowed two ticks.
    let thresholds: [BenchmarkMetric: BenchmarkThresholds] = [
        .wallClock: .init(relative: [.p90: 50]),
        .throughput: .init(relative: [.p90: 50]),
        .cpuTotal: .init(absolute: [.p90: 20_000_000]),
        .mallocCountTotal: .init(absolute: [.p90: 2]),
    ]
    Benchmark.defaultConfiguration = .init(
        metrics: metrics,
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 10_000,
        thresholds: thresholds
    )
    let fixture = FixtureBuffers()

    // MARK: Steps, per 16 kHz frame (320 samples)

    Benchmark("Step1-PCM16LE-decode-into-ring-and-readFrame") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.sink)
    } setup: {
        Box(DecodeRingStep(fixture))
    }

    Benchmark("Step2-DTMF-detection") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.digits)
    } setup: {
        Box(DetectStep(fixture))
    }

    Benchmark("Step3-resample-16k-to-8k") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.sink)
    } setup: {
        Box(try DownsampleStep(fixture))
    }

    Benchmark("Step4-resample-8k-to-16k") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.sink)
    } setup: {
        Box(try UpsampleStep(fixture))
    }

    Benchmark("Step5-level-Q16-with-frame-copy") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.sink)
    } setup: {
        Box(try LevelStep(fixture))
    }

    Benchmark("Step6-mix-of-3-sources") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.sink)
    } setup: {
        Box(try MixStep(fixture))
    }

    Benchmark("Step7-DTMF-generation") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.sink)
    } setup: {
        Box(try GenerateStep())
    }

    // MARK: The whole call

    Benchmark("Pipeline-16k-call-both-directions") { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: benchmark.scaledIterations.count)
        blackHole(box.value.digits)
    } setup: {
        Box(try CallPipeline(fixture))
    }

    // MARK: Allocation slope: malloc count per iteration at 1 and at 100 frames

    Benchmark(
        "AllocationSlope-pipeline-1-frame-per-iteration",
        configuration: .init(scalingFactor: .one, maxDuration: .seconds(1))
    ) { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: 1)
        blackHole(box.value.digits)
    } setup: {
        Box(try CallPipeline(fixture))
    }

    Benchmark(
        "AllocationSlope-pipeline-100-frames-per-iteration",
        configuration: .init(scalingFactor: .one, maxDuration: .seconds(1))
    ) { benchmark, box in
        benchmark.startMeasurement()
        box.value.run(frames: 100)
        blackHole(box.value.digits)
    } setup: {
        Box(try CallPipeline(fixture))
    }
}
