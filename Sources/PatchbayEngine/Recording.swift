public import Foundation
import Synchronization

/// One leg's audio in one direction, as a recording takes it: the shard copies each 20 ms frame into a
/// bounded ring of frame slots (no allocation, no lock), each slot stamped with the frame's place on the
/// recording's clock; an encoder off the shards drains it.
///
/// The place of a frame is one after the previous frame's, so that the audio of a leg is never stretched
/// or squeezed, unless the frames fell two frames behind the recording's clock (frames that never came):
/// then the frame goes at the clock's place and the gap is silence. The clock is read with the track's
/// first frame in the middle of its 20 ms slot, so arrival jitter of up to 30 ms moves nothing. A full ring drops the
/// new frame and counts it; its place stays empty (silence), so what follows keeps its time.
///
/// Threading: one producer (the shard that holds the leg, with its media lock) and one consumer (the
/// recording's encoder), as `SampleRing`; `@unchecked Sendable` for the same reason.
public final class RecordingTrack: @unchecked Sendable {
    public enum Side: String, Sendable {
        /// What the leg's peer sent (silence while the leg is muted).
        case own
        /// What was sent to the leg: the frames the peer heard.
        case heard
    }

    public let leg: UUID
    public let side: Side
    public let sampleRate: Int
    public let frameSamples: Int
    /// The frames a ring holds: 2.56 s, so an encoder can fall well behind before anything is lost.
    public static let capacityFrames = 128
    /// The recording's clock: its frame 0 began at `origin` (the engine's clock, ns).
    let origin: Int64
    /// The conversation-wide recording this track is part of, if any (not one that follows a leg).
    let conversationSink: ObjectIdentifier?

    private let samples: UnsafeMutablePointer<Int16>
    private let places: UnsafeMutablePointer<Int64>
    private let written = Atomic<Int>(0)
    private let read = Atomic<Int>(0)
    private let lostFrames = Atomic<Int>(0)
    private let ended = Atomic<Bool>(false)
    /// Producer-only: the next frame's place (-1 before the first), and the phase of the first frame in
    /// its slot.
    private var nextPlace: Int64 = -1
    private var phase: Int64 = 0

    init(leg: UUID, side: Side, sampleRate: Int, origin: Int64, conversationSink: ObjectIdentifier? = nil) {
        self.leg = leg
        self.side = side
        self.sampleRate = sampleRate
        frameSamples = sampleRate / 50
        self.origin = origin
        self.conversationSink = conversationSink
        samples = .allocate(capacity: Self.capacityFrames * frameSamples)
        samples.initialize(repeating: 0, count: Self.capacityFrames * frameSamples)
        places = .allocate(capacity: Self.capacityFrames)
        places.initialize(repeating: 0, count: Self.capacityFrames)
    }

    deinit {
        samples.deallocate()
        places.deallocate()
    }

    // MARK: Producer (the shard)

    /// Copies one frame (`frameSamples` samples, or silence when `frame` is nil) taken at `now`.
    func write(_ frame: UnsafeBufferPointer<Int16>?, now: Int64) {
        guard !ended.load(ordering: .relaxed) else { return }
        let elapsed = max(0, now - origin)
        if nextPlace < 0 { phase = elapsed % 20_000_000 }
        let clock = (elapsed - phase + 10_000_000) / 20_000_000
        var place = nextPlace < 0 ? clock : nextPlace
        if clock - place >= 2 { place = clock }
        nextPlace = place + 1
        let w = written.load(ordering: .relaxed)
        guard w - read.load(ordering: .acquiring) < Self.capacityFrames else {
            lostFrames.add(1, ordering: .relaxed)
            return
        }
        let slot = w % Self.capacityFrames
        let base = samples + slot * frameSamples
        if let frame, frame.count >= frameSamples {
            base.update(from: frame.baseAddress!, count: frameSamples)
        } else {
            base.update(repeating: 0, count: frameSamples)
        }
        places[slot] = place
        written.store(w + 1, ordering: .releasing)
    }

    // MARK: Consumer (the encoder)

    /// The place of the oldest frame waiting, if any.
    public var nextWaiting: Int64? {
        let r = read.load(ordering: .relaxed)
        guard r < written.load(ordering: .acquiring) else { return nil }
        return places[r % Self.capacityFrames]
    }

    /// Copies the oldest frame waiting into `destination` (`frameSamples` samples) and releases its slot.
    public func take(into destination: UnsafeMutablePointer<Int16>) {
        let r = read.load(ordering: .relaxed)
        guard r < written.load(ordering: .acquiring) else { return }
        destination.update(from: samples + (r % Self.capacityFrames) * frameSamples, count: frameSamples)
        read.store(r + 1, ordering: .releasing)
    }

    /// Releases the oldest frame waiting without reading it.
    public func skip() {
        let r = read.load(ordering: .relaxed)
        guard r < written.load(ordering: .acquiring) else { return }
        read.store(r + 1, ordering: .releasing)
    }

    /// Frames dropped because the ring was full (the encoder fell more than `capacityFrames` behind).
    public var lost: Int { lostFrames.load(ordering: .relaxed) }

    /// Ended: the leg left (or the recording stopped); nothing more is written.
    public var isEnded: Bool { ended.load(ordering: .acquiring) }

    func end() { ended.store(true, ordering: .releasing) }
}

/// The tracks of one recording, as the engine adds them (a leg joining a recorded conversation adds
/// one): read by the encoder, which mixes or splits them into the file's channels.
public final class RecordingSink: Sendable {
    public let id: UUID
    /// The recording's clock: frame 0 began here (the engine's clock, ns).
    public let origin: Int64
    private let state = Mutex<(tracks: [RecordingTrack], sourceEnded: Bool)>(([], false))

    public init(id: UUID = UUID(), origin: Int64) {
        self.id = id
        self.origin = origin
    }

    /// Every track so far, in the order they were added.
    public var tracks: [RecordingTrack] { state.withLock { $0.tracks } }

    /// The recorded conversation has no legs left, or the recorded leg ended: nothing more will come.
    public var sourceEnded: Bool { state.withLock { $0.sourceEnded } }

    func add(_ track: RecordingTrack) {
        state.withLock { $0.tracks.append(track) }
    }

    func endSource() {
        let tracks = state.withLock { s -> [RecordingTrack] in
            s.sourceEnded = true
            return s.tracks
        }
        for track in tracks { track.end() }
    }

    /// Ends every track: the shards write nothing more into them.
    func endTracks() {
        for track in tracks { track.end() }
    }
}

/// What a recording takes from the engine.
public enum RecordingCapture: Sendable, Equatable {
    /// One leg: its own audio and/or what it heard; the tracks follow the leg through moves.
    case leg(own: Bool, heard: Bool)
    /// Every leg of the leg's conversation, now and later (their own audio), until the conversation's
    /// last leg leaves it.
    case conversation
    /// Every leg in a conversation with the leg (their own audio, the leg's included), for as long as
    /// the leg lives: when it moves, the recording moves with it to its new company.
    case company
}
