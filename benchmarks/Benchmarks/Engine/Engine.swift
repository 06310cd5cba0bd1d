// PatchbayEngine tick benchmarks: one 20 ms tick of a shard holding many two-leg calls (16 kHz caller with
// DTMF detection <-> 8 kHz service), including the I/O side's ring writes and reads.
//
// "Tick-50-calls-100-legs" reports one tick per iteration (scalingFactor .one): divide by 100 for the cost
// per leg. The allocation-slope pair runs 1 and 10 ticks per iteration; equal malloc counts mean the tick
// allocates nothing (package-benchmark's counter has a constant per-iteration overhead, see DSP.swift).
import Benchmark
import PatchbayBenchSupport
import PatchbayEngine

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        timeUnits: .microseconds,
        warmupIterations: 5,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 2_000,
        thresholds: [
            .wallClock: .init(relative: [.p90: 50]),
            .throughput: .init(relative: [.p90: 50]),
            .cpuTotal: .init(absolute: [.p90: 20_000_000]),
            .mallocCountTotal: .init(absolute: [.p90: 2]),
        ]
    )
    let fixture = FixtureBuffers()

    Benchmark("Tick-50-calls-100-legs") { benchmark, load in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { load.tick() }
        blackHole(load.samplesOut)
    } setup: {
        EngineTickLoad(calls: 50, fixture: fixture)
    }

    Benchmark("Tick-AllocationSlope-1-tick-per-iteration") { benchmark, load in
        benchmark.startMeasurement()
        load.run(ticks: 1)
        blackHole(load.samplesOut)
    } setup: {
        EngineTickLoad(calls: 5, fixture: fixture)
    }

    Benchmark("Tick-AllocationSlope-10-ticks-per-iteration") { benchmark, load in
        benchmark.startMeasurement()
        load.run(ticks: 10)
        blackHole(load.samplesOut)
    } setup: {
        EngineTickLoad(calls: 5, fixture: fixture)
    }
}
