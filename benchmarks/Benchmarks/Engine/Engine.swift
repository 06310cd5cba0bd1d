// PatchbayEngine benchmarks: 20 ms of a shard holding 50 calls (16 kHz caller with DTMF detection <-> 8 kHz
// service), including the I/O side's ring writes and reads: on the direct route (two legs: each frame
// forwarded as it is received) and on the mixing tick (a third, silent leg in every call).
//
// "*-Tick-50-calls" reports one 20 ms period per iteration (scalingFactor .one). The allocation-slope pairs
// run 1 and 10 periods per iteration; equal malloc counts mean the media path allocates nothing
// (package-benchmark's counter has a constant per-iteration overhead, see DSP.swift).
//
// "Recorded-*" are the direct route's 50 calls with every leg recorded as `split: conversation` takes it (two
// tracks a leg: its own audio and what it heard), the tracks drained each tick as the encoder would; set
// against "Direct-*" they give what recording costs the media path per leg-frame.
//
// "ServicePlayout-*" release a service's playout kept 60 s deep (16 kHz: 1.9 MB queued, another second
// appended every 50 frames, as a service that sends whole prompts does): equal malloc counts for 1 and 50
// frames per iteration mean releasing and appending copy nothing.
import Benchmark
import PatchbayBenchSupport
import PatchbayEngine

/// A service leg's playout as its driver holds it: in a class, mutated in place.
final class DeepPlayout {
    var playout = PacedPlayout(frameBytes: 640, capacityFrames: 3072)
    var now: Int64 = 1_000_000_000
    var frame = [UInt8](repeating: 0, count: 640)
    let second = [UInt8](repeating: 1, count: 32_000)
    var released = 0

    init() {
        for _ in 0..<60 { second.withUnsafeBytes { _ = playout.append($0, at: now) } }
    }

    func run(frames: Int) {
        for _ in 0..<frames {
            now += 20_000_000
            if released % 50 == 0 { second.withUnsafeBytes { _ = playout.append($0, at: now) } }
            _ = frame.withUnsafeMutableBytes { raw in playout.release(at: now, into: raw) { _ in released += 1 } }
        }
    }
}

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

    Benchmark("Recorded-Tick-50-calls") { benchmark, load in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { load.tick() }
        blackHole(load.framesRecorded)
    } setup: {
        EngineTickLoad(calls: 50, route: .direct, recorded: true, fixture: fixture)
    }

    for ticks in [1, 10] {
        Benchmark("Recorded-AllocationSlope-\(ticks)-tick\(ticks == 1 ? "" : "s")-per-iteration") { benchmark, load in
            benchmark.startMeasurement()
            load.run(ticks: ticks)
            blackHole(load.framesRecorded)
        } setup: {
            EngineTickLoad(calls: 5, route: .direct, recorded: true, fixture: fixture)
        }
    }

    for frames in [1, 50] {
        Benchmark("ServicePlayout-AllocationSlope-\(frames)-frames-per-iteration") { benchmark, deep in
            benchmark.startMeasurement()
            deep.run(frames: frames)
            blackHole(deep.released)
        } setup: {
            DeepPlayout()
        }
    }
}
