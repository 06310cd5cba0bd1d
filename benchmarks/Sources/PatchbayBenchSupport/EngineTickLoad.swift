// The media engine's tick with many legs: what one 20 ms tick costs per leg, and whether it allocates.
import Foundation
import PatchbayDSP
import PatchbayEngine

/// `calls` two-leg conversations on one shard: a 16 kHz caller (with DTMF detection) bridged to an 8 kHz
/// service, so every tick detects, resamples both ways, mixes N-1 and writes each leg's outbound frame.
/// The I/O side is played by this type: it feeds each leg one frame per tick and drains what the engine
/// wrote, exactly as the websocket handlers do.
public final class EngineTickLoad {
    private final class NoTransport: LegTransport {
        func send(text: String) {}
        func close(reason: String) {}
    }

    public let engine: Engine
    public let legs: [Leg]
    private let fixture: FixtureBuffers
    private let scratch = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 960)
    private var frame = 0
    public private(set) var samplesOut = 0

    public init(calls: Int, fixture: FixtureBuffers) {
        self.fixture = fixture
        engine = Engine(configuration: .init(shards: 1, detectDTMF: true))
        let transport = NoTransport()
        let waker = LegWaker {}
        var legs: [Leg] = []
        for c in 0..<calls {
            for rate in [16000, 8000] {
                let leg = Leg(conversationName: "call-\(c)", sampleRate: rate, transport: transport, waker: waker)
                engine.attach(leg)
                legs.append(leg)
            }
        }
        self.legs = legs
        scratch.initialize(repeating: 0)
        // Let the attachments land, then run a few ticks so every converter is in its steady state.
        for _ in 0..<5 { tick() }
    }

    deinit {
        scratch.deallocate()
    }

    /// One 20 ms tick: a frame in for every leg, the engine's tick, every leg's frame out.
    @inline(__always)
    public func tick() {
        for leg in legs {
            if leg.sampleRate == 16000 {
                leg.receive(PCM16LittleEndian(fixture.inboundFrame(frame)))
            } else {
                leg.inbound.write(fixture.peer8kFrame(frame))
            }
        }
        engine.tickNow()
        for leg in legs {
            samplesOut &+= leg.outbound.read(into: UnsafeMutableBufferPointer(rebasing: scratch[0..<leg.frameSamples]))
        }
        frame &+= 1
    }

    public func run(ticks: Int) {
        for _ in 0..<ticks { tick() }
    }
}
