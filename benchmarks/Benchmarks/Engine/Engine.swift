// PatchbayEngine benchmarks: 20 ms of a shard holding 50 calls (16 kHz caller with DTMF detection <-> 8 kHz
// service), including the I/O side's ring writes and reads: on the direct route (two legs: each frame
// forwarded as it is received) and on the mixing tick (a third, silent leg in every call).
//
// "*-Tick-50-calls" reports one 20 ms period per iteration (scalingFactor .one). The allocation-slope pairs
// run 1 and 10 periods per iteration; equal malloc counts mean the media path allocates nothing
// (package-benchmark's counter has a constant per-iteration overhead, see DSP.swift).
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

    for route in [EngineTickLoad.Route.direct, .mixing] {
        let name = route == .direct ? "Direct" : "Mixing"
        Benchmark("\(name)-Tick-50-calls") { benchmark, load in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { load.tick() }
            blackHole(load.samplesOut)
        } setup: {
            EngineTickLoad(calls: 50, route: route, fixture: fixture)
        }

        Benchmark("\(name)-AllocationSlope-1-tick-per-iteration") { benchmark, load in
            benchmark.startMeasurement()
            load.run(ticks: 1)
            blackHole(load.samplesOut)
        } setup: {
            EngineTickLoad(calls: 5, route: route, fixture: fixture)
        }

        Benchmark("\(name)-AllocationSlope-10-ticks-per-iteration") { benchmark, load in
            benchmark.startMeasurement()
            load.run(ticks: 10)
            blackHole(load.samplesOut)
        } setup: {
            EngineTickLoad(calls: 5, route: route, fixture: fixture)
        }
    }
}
