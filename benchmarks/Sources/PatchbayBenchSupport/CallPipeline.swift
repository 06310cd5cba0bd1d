// The per-call DSP of one 16 kHz leg bridged to an 8 kHz peer, both directions, one 20 ms frame at a time.
import PatchbayDSP

/// docs/QUALITY.md's "DSP for one 16 kHz call, both directions, per 20 ms".
///
/// Inbound (caller -> peer): 640-byte LE frame -> ring -> readFrame (320) -> DTMF detection
/// -> resample 16k -> 8k (160 samples for the 8 kHz peer).
/// Outbound (peer -> caller): 160 peer samples -> resample 8k -> 16k (320) -> mix with a prompt at
/// level -0.3 -> leg level -0.1 -> PCM16 LE encode into 640 bytes.
public struct CallPipeline: ~Copyable {
    let fixture: FixtureBuffers
    let ring = SampleRing(minimumCapacity: 4096)
    var detector = DTMFDetector(sampleRate: 16000)
    var down: Resampler
    var up: Resampler
    var bus = MixBus(frameSize: 320)
    let promptLevel: Level
    let legLevel: Level

    /// Work buffers, all allocated here and reused for every frame.
    public let inbound = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    public let toPeer = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
    public let upsampled = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    public let mixed = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    public let outboundBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 640, alignment: 16)

    public private(set) var frame = 0
    public private(set) var digits = 0
    /// Samples produced for the peer / upsampled from it (a check that the rates are right).
    public private(set) var producedToPeer = 0
    public private(set) var producedUp = 0

    public init(_ fixture: FixtureBuffers) throws {
        // Everything that can throw first: a non-copyable member cannot be left half-initialised.
        let promptLevel = try Level(-0.3)
        let legLevel = try Level(-0.1)
        let down = try Resampler(from: 16000, to: 8000)
        let up = try Resampler(from: 8000, to: 16000)
        self.fixture = fixture
        self.promptLevel = promptLevel
        self.legLevel = legLevel
        self.down = down
        self.up = up
        inbound.initialize(repeating: 0)
        toPeer.initialize(repeating: 0)
        upsampled.initialize(repeating: 0)
        mixed.initialize(repeating: 0)
        outboundBytes.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        inbound.deallocate()
        toPeer.deallocate()
        upsampled.deallocate()
        mixed.deallocate()
        outboundBytes.deallocate()
    }

    /// Processes one 20 ms frame in both directions.
    @inline(__always)
    public mutating func processFrame() {
        // Inbound.
        ring.write(PCM16LittleEndian(fixture.inboundFrame(frame)))
        _ = ring.readFrame(into: inbound)
        var found = 0
        detector.process(UnsafeBufferPointer(inbound)) { _ in found &+= 1 }
        digits &+= found
        producedToPeer &+= down.process(UnsafeBufferPointer(inbound), into: toPeer).produced
        // Outbound.
        producedUp &+= up.process(fixture.peer8kFrame(frame), into: upsampled).produced
        bus.add(UnsafeBufferPointer(upsampled))
        bus.add(fixture.player16kFrame(frame), level: promptLevel)
        bus.render(into: mixed)
        legLevel.apply(to: mixed)
        PCM16LittleEndian.encode(UnsafeBufferPointer(mixed), into: outboundBytes)
        frame &+= 1
    }

    public mutating func run(frames: Int) {
        for _ in 0..<frames { processFrame() }
    }
}
