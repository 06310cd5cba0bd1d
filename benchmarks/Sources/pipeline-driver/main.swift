// Times the benchmark steps and the call pipeline with ContinuousClock, the same way reference/pipeline.c
// times its C port (warm-up, then several runs of many frames; median and p90 of the runs' ns per frame),
// and prints checksums of the pipeline's output so the two can be shown to do identical work.
//
// usage: pipeline-driver [--frames N] [--runs R] [--only NAME] [--verify-only]
//   NAME: pipeline, decode, detect, down, up, level, mix, generate (default: all)
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PatchbayBenchSupport
import PatchbayDSP

struct Options: Sendable {
    var frames = 20_000
    var runs = 15
    var only: String? = nil
    var verifyOnly = false

    init(_ args: [String]) {
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--frames": frames = Int(it.next() ?? "") ?? frames
            case "--runs": runs = Int(it.next() ?? "") ?? runs
            case "--only": only = it.next()
            case "--verify-only": verifyOnly = true
            default:
                print("usage: pipeline-driver [--frames N] [--runs R] [--only NAME] [--verify-only]")
                exit(2)
            }
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))

let fixture = FixtureBuffers()

// MARK: Verification: the same checksums as reference/pipeline.c

@inline(never)
func verify() throws {
    var p = try CallPipeline(fixture)
    var hPeer: UInt64 = 0xcbf2_9ce4_8422_2325
    var hOut: UInt64 = 0xcbf2_9ce4_8422_2325
    for _ in 0..<1000 {
        p.processFrame()
        for s in p.toPeer { hPeer = (hPeer ^ UInt64(UInt16(bitPattern: s))) &* 0x100_0000_01b3 }
        for b in p.outboundBytes { hOut = (hOut ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    // Every detection's digit, start and duration, from a detector fed the same 1000 inbound frames.
    var detector = DTMFDetector(sampleRate: 16000)
    var hDet: UInt64 = 0xcbf2_9ce4_8422_2325
    var first = ""
    for f in 0..<1000 {
        detector.process(fixture.inbound16kFrame(f)) { d in
            for v in [Int(d.digit.asciiValue!), d.startSample, d.durationSamples] {
                hDet = (hDet ^ UInt64(UInt(bitPattern: v))) &* 0x100_0000_01b3
            }
            if first.isEmpty { first = "\(d.digit)@\(d.startSample)+\(d.durationSamples)" }
        }
    }
    print(
        "verify: frames=1000 digits=\(p.digits) toPeer=\(p.producedToPeer) up=\(p.producedUp) "
            + "peerHash=\(hex(hPeer)) outHash=\(hex(hOut)) detHash=\(hex(hDet)) first=\(first)")
}

func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

// MARK: Timing

func report(_ name: String, _ nsPerFrame: [Double]) {
    let s = nsPerFrame.sorted()
    let median = s[s.count / 2]
    let p90 = s[min(s.count - 1, Int((Double(s.count) * 0.9).rounded(.up)) - 1)]
    let f = { (v: Double) in String(Int((v * 10).rounded())).dropLast() + "." + String(Int((v * 10).rounded())).suffix(1) }
    print("swift \(name) ns/frame median=\(f(median)) p90=\(f(p90)) min=\(f(s[0])) runs=\(s.count) frames=\(options.frames)")
}

/// Warms up, then times `runs` batches of `frames` frames; `body(n)` must process n frames.
@inline(never)
func time(_ name: String, _ body: (Int) -> Void) {
    guard options.only == nil || options.only == name else { return }
    let runs = options.runs, frames = options.frames
    body(500)
    var results: [Double] = []
    results.reserveCapacity(runs)
    let clock = ContinuousClock()
    for _ in 0..<runs {
        let start = clock.now
        body(frames)
        let d = clock.now - start
        let ns = Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
        results.append(ns / Double(frames))
    }
    report(name, results)
}

try verify()
if options.verifyOnly { exit(0) }

do {
    var s = DecodeRingStep(fixture)
    time("decode") { s.run(frames: $0) }
    var d = DetectStep(fixture)
    time("detect") { d.run(frames: $0) }
    var dn = try DownsampleStep(fixture)
    time("down") { dn.run(frames: $0) }
    var up = try UpsampleStep(fixture)
    time("up") { up.run(frames: $0) }
    var lv = try LevelStep(fixture)
    time("level") { lv.run(frames: $0) }
    var mx = try MixStep(fixture)
    time("mix") { mx.run(frames: $0) }
    var g = try GenerateStep()
    time("generate") { g.run(frames: $0) }
    var p = try CallPipeline(fixture)
    time("pipeline") { p.run(frames: $0) }
    print("sinks: \(s.sink) \(d.digits) \(dn.sink) \(up.sink) \(lv.sink) \(mx.sink) \(g.sink) \(p.digits)")
}
