// One struct per DSP step, each running `frames` 20 ms frames at 16 kHz over the fixture.
// All memory is allocated in init; `run` allocates nothing. reference/pipeline.c mirrors each step.
import PatchbayDSP

/// Inbound decode: a 640-byte little-endian frame written into the leg's ring, then read back as 320 samples.
public struct DecodeRingStep: ~Copyable {
    let fixture: FixtureBuffers
    let ring = SampleRing(minimumCapacity: 4096)
    let out = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    var frame = 0
    public private(set) var sink = 0

    public init(_ fixture: FixtureBuffers) {
        self.fixture = fixture
        out.initialize(repeating: 0)
    }
    deinit { out.deallocate() }

    public mutating func run(frames: Int) {
        for _ in 0..<frames {
            ring.write(PCM16LittleEndian(fixture.inboundFrame(frame)))
            sink &+= ring.readFrame(into: out) &+ Int(out[frame & 255])
            frame &+= 1
        }
    }
}

/// DTMF detection on 320 decoded samples (the fixture has two digits every 2 s).
public struct DetectStep: ~Copyable {
    let fixture: FixtureBuffers
    var detector = DTMFDetector(sampleRate: 16000)
    var frame = 0
    public private(set) var digits = 0

    public init(_ fixture: FixtureBuffers) { self.fixture = fixture }

    public mutating func run(frames: Int) {
        var found = 0
        for _ in 0..<frames {
            detector.process(fixture.inbound16kFrame(frame)) { _ in found &+= 1 }
            frame &+= 1
        }
        digits &+= found
    }
}

/// libspeexdsp 16 kHz -> 8 kHz at quality 5: 320 samples in, 160 out.
public struct DownsampleStep: ~Copyable {
    let fixture: FixtureBuffers
    var resampler: Resampler
    let out = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
    var frame = 0
    public private(set) var sink = 0

    public init(_ fixture: FixtureBuffers) throws {
        self.fixture = fixture
        resampler = try Resampler(from: 16000, to: 8000)
        out.initialize(repeating: 0)
    }
    deinit { out.deallocate() }

    public mutating func run(frames: Int) {
        for _ in 0..<frames {
            let r = resampler.process(fixture.inbound16kFrame(frame), into: out)
            sink &+= r.produced &+ Int(out[frame & 127])
            frame &+= 1
        }
    }
}

/// libspeexdsp 8 kHz -> 16 kHz at quality 5: 160 samples in, 320 out.
public struct UpsampleStep: ~Copyable {
    let fixture: FixtureBuffers
    var resampler: Resampler
    let out = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    var frame = 0
    public private(set) var sink = 0

    public init(_ fixture: FixtureBuffers) throws {
        self.fixture = fixture
        resampler = try Resampler(from: 8000, to: 16000)
        out.initialize(repeating: 0)
    }
    deinit { out.deallocate() }

    public mutating func run(frames: Int) {
        for _ in 0..<frames {
            let r = resampler.process(fixture.peer8kFrame(frame), into: out)
            sink &+= r.produced &+ Int(out[frame & 255])
            frame &+= 1
        }
    }
}

/// Level -0.1 (-2 dB) in Q16 on 320 samples. Each frame is first copied into the work buffer (640 bytes,
/// a few ns) so that the level is always applied to fresh audio; the C reference does the same copy.
public struct LevelStep: ~Copyable {
    let fixture: FixtureBuffers
    let level: Level
    let work = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    var frame = 0
    public private(set) var sink = 0

    public init(_ fixture: FixtureBuffers) throws {
        self.fixture = fixture
        level = try Level(-0.1)
        work.initialize(repeating: 0)
    }
    deinit { work.deallocate() }

    public mutating func run(frames: Int) {
        for _ in 0..<frames {
            let src = fixture.player16kFrame(frame)
            work.baseAddress!.update(from: src.baseAddress!, count: 320)
            level.apply(to: work)
            sink &+= Int(work[frame & 255])
            frame &+= 1
        }
    }
}

/// A 3-way mix: two speakers at unity and a prompt at level -0.3, rendered with the limiter.
public struct MixStep: ~Copyable {
    let fixture: FixtureBuffers
    var bus = MixBus(frameSize: 320)
    let promptLevel: Level
    let out = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    var frame = 0
    public private(set) var sink = 0

    public init(_ fixture: FixtureBuffers) throws {
        self.fixture = fixture
        promptLevel = try Level(-0.3)
        out.initialize(repeating: 0)
    }
    deinit { out.deallocate() }

    public mutating func run(frames: Int) {
        for _ in 0..<frames {
            bus.add(fixture.inbound16kFrame(frame))
            bus.add(fixture.second16kFrame(frame))
            bus.add(fixture.player16kFrame(frame), level: promptLevel)
            bus.render(into: out)
            sink &+= Int(out[frame & 255])
            frame &+= 1
        }
    }
}

/// DTMF generation at 16 kHz: 320 samples per frame of a long digit sequence (100 ms tones, 60 ms gaps).
/// When the sequence ends it restarts from a pristine copy: a struct copy that only retains its arrays.
public struct GenerateStep: ~Copyable {
    let template: DTMFGenerator
    var generator: DTMFGenerator
    let out = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 320)
    var frame = 0
    public private(set) var sink = 0

    public init() throws {
        let digits = String(repeating: "0123456789*#ABCD", count: 62)
        template = try DTMFGenerator(digits: digits, configuration: .init(sampleRate: 16000))
        generator = template
        out.initialize(repeating: 0)
    }
    deinit { out.deallocate() }

    public mutating func run(frames: Int) {
        for _ in 0..<frames {
            generator.render(into: out)
            if generator.isFinished { generator = template }
            sink &+= Int(out[frame & 255])
            frame &+= 1
        }
    }
}
