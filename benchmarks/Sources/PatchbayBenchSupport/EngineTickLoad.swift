// The media engine's tick with many legs: what one 20 ms tick costs per leg, and whether it allocates.
import Foundation
import PatchbayDSP
import PatchbayEngine
import Synchronization

/// `calls` conversations on one shard: a 16 kHz caller (with DTMF detection) and an 8 kHz service.
/// - `.direct`: just the two, so each frame takes the direct route: detected and resampled as it is
///   handed to the engine (`Leg.receive`), the tick only checks the pacing.
/// - `.mixing`: plus a silent 16 kHz listener, so every tick detects, resamples both ways at each leg's
///   edge, mixes N-1 and writes each leg's outbound frame.
/// The I/O side is played by this type: it feeds each talking leg one frame per tick and drains what the
/// engine wrote, exactly as the websocket handlers do.
/// With `recorded`, every talking leg is recorded as `split: conversation` takes it (its own audio and what
/// it heard: two tracks a leg); the tick then also drains every track, as the encoder does on its own queue
/// (a copy of each frame out of its slot: the encoder's resampling and file writing are not in it).
public final class EngineTickLoad {
    public enum Route: Sendable {
        case direct
        case mixing
    }

    private final class NoTransport: LegTransport {
        func send(_ command: LegCommand) {}
        func close(reason: String) {}
    }

    public let engine: Engine
    public let legs: [Leg]
    private let fixture: FixtureBuffers
    private let scratch = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 960)
    private var frame = 0
    public private(set) var samplesOut = 0

    private let waker = LegWaker {}
    private var listeners: [Leg] = []
    /// The engine's clock, moved 20 ms per tick: the benchmark runs ticks back to back, and the direct
    /// route's pacer would hold frames that come faster than real time.
    private let clock = Clock()

    private final class Clock: Sendable {
        let nanoseconds = Atomic<Int64>(1_000_000_000)
    }

    /// The recordings (one a talking leg) when recorded.
    public private(set) var sinks: [RecordingSink] = []
    private let taken = UnsafeMutablePointer<Int16>.allocate(capacity: 480)
    public private(set) var framesRecorded = 0

    public init(calls: Int, route: Route = .direct, recorded: Bool = false, fixture: FixtureBuffers) {
        self.fixture = fixture
        let clock = clock
        engine = Engine(
            configuration: .init(shards: 1, detectDTMF: true, now: { clock.nanoseconds.load(ordering: .relaxed) }))
        let transport = NoTransport()
        var legs: [Leg] = []
        for c in 0..<calls {
            for rate in [16000, 8000] {
                let leg = Leg(conversationName: "call-\(c)", sampleRate: rate, transport: transport, waker: waker)
                engine.attach(leg)
                legs.append(leg)
            }
            if route == .mixing {
                let listener = Leg(conversationName: "call-\(c)", sampleRate: 16000, transport: transport, waker: waker)
                engine.attach(listener)
                listeners.append(listener)
            }
        }
        self.legs = legs
        scratch.initialize(repeating: 0)
        taken.initialize(repeating: 0, count: 480)
        if recorded {
            for leg in legs {
                let sink = RecordingSink(origin: engine.now)
                try? engine.startRecording(sink, capture: .leg(own: true, heard: true), on: leg.id)
                sinks.append(sink)
            }
        }
        // Let the attachments land, then run a few ticks so every converter is in its steady state.
        for _ in 0..<5 { tick() }
    }

    deinit {
        scratch.deallocate()
        taken.deallocate()
    }

    /// Takes every frame waiting in every recording's tracks, as an encoder does.
    func drainRecordings() {
        for sink in sinks {
            for track in sink.tracks {
                while track.nextWaiting != nil {
                    track.take(into: taken)
                    framesRecorded &+= 1
                }
            }
        }
    }

    /// One 20 ms tick: a frame in for every leg, the engine's tick, every leg's frame out.
    @inline(__always)
    public func tick() {
        clock.nanoseconds.add(20_000_000, ordering: .relaxed)
        for leg in legs {
            if leg.sampleRate == 16000 {
                leg.receive(PCM16LittleEndian(fixture.inboundFrame(frame)))
            } else {
                leg.inbound.write(fixture.peer8kFrame(frame))
            }
        }
        engine.tickNow()
        // What the event loops do when woken: write every leg that has frames.
        waker.drain { leg in
            while leg.outbound.available >= leg.frameSamples {
                samplesOut &+= leg.outbound.read(into: UnsafeMutableBufferPointer(rebasing: scratch[0..<leg.frameSamples]))
            }
        }
        if !sinks.isEmpty { drainRecordings() }
        frame &+= 1
    }

    public func run(ticks: Int) {
        for _ in 0..<ticks { tick() }
    }
}
