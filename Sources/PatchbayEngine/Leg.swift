import Dispatch
public import Foundation
public import PatchbayDSP
import PatchbayVoiceAPI
import Synchronization

/// One websocket audio connection: a participant in a conversation.
///
/// Threading: the rings cross between the leg's I/O (an event loop) and its shard, one writer and one
/// reader each (on the direct route, whoever holds the shard's media lock writes the listener's ring);
/// mute and earmuff are atomics any thread may set; the state below "shard-owned" is touched only with
/// the shard's media lock held (its tick, its control blocks, a direct-route forward). That split is why
/// the class can be `@unchecked Sendable`.
public final class Leg: @unchecked Sendable {
    public enum Direction: String, Sendable {
        /// The peer connected to Patchbay (the Voice API's calls).
        case inbound
        /// Patchbay connected out to the peer (a speech/AI service).
        case outbound
    }

    public let id: UUID
    public let direction: Direction
    public let sampleRate: Int
    /// Samples in one 20 ms frame at the leg's rate.
    public let frameSamples: Int
    /// The fields of the peer's `websocket:connected` message other than `event` and `content-type`
    /// (the NCCO endpoint's headers, flattened), as text.
    public let headers: [String: String]
    public let startTime: Date
    /// When true the leg hears its own audio with no delay and joins no conversation (the I/O layer
    /// echoes each frame as it arrives); used by tests and `patchbay bench`.
    public let isEcho: Bool
    /// The leg hears the conversation's whole mix, its own audio included (a transcription service that
    /// wants both sides of a call: an outbound leg's `source: mixed`), not the usual N-1.
    public let hearsItself: Bool

    /// Audio from the peer, written by the I/O, read by the shard.
    public let inbound: SampleRing
    /// Audio for the peer, written by the shard, read by the I/O.
    public let outbound: SampleRing
    /// Frames beyond this many in `inbound` at a tick are dropped (oldest first) to bound the delay a
    /// burst would otherwise add for the rest of the call.
    public let inboundDepthLimit: Int

    public let transport: any LegTransport
    /// Told when the shard has written frames for the peer (the leg's I/O context drains it).
    public let waker: LegWaker

    private let muted = Atomic<Bool>(false)
    private let earmuffed = Atomic<Bool>(false)
    private let ended = Atomic<Bool>(false)
    /// The leg's audio takes the direct route now (set by its shard): only then does an arrival need
    /// to wake the shard; on the mixing tick the audio waits in the ring for the tick anyway.
    let forwardsDirectly = Atomic<Bool>(false)
    /// When the last frame arrived (`DispatchTime` uptime ns; 0 before the first): the shard times a
    /// mixing conversation's tick to follow its legs' arrivals (`TickPhase`).
    let lastArrival = Atomic<UInt64>(0)

    /// Frames each ring holds at least.
    static let ringFrames = 8

    /// Per-leg counts (also summed in `EngineMetrics`).
    public let framesIn = Counter()
    public let framesOut = Counter()
    public let framesConcealed = Counter()
    public let samplesDropped = Counter()

    /// The conversation the leg is in (a transfer moves it: `Engine.move`).
    public var conversationName: String { name.withLock { $0 } }
    private let name: Mutex<String>
    /// The engine's shards (set by `Engine.attach`, before the I/O delivers any audio) and the one that
    /// holds the leg's conversation now (`Engine.move` changes it): told when audio arrives.
    var shards: [MediaShard] = []
    let shardIndex = Atomic<Int>(0)
    var shard: MediaShard? { shards.isEmpty ? nil : shards[shardIndex.load(ordering: .acquiring)] }

    // Shard-owned.
    var media: LegMedia?
    var conversation: Conversation?
    /// The legs this one hears, and the legs that hear it (nil: every leg); see `Engine.setAudience`.
    var canHear: Set<UUID>?
    var canSpeak: Set<UUID>?
    /// Recordings taking the leg's own audio, and what it hears (`RecordingTrack`).
    var ownTaps: [RecordingTrack] = []
    var heardTaps: [RecordingTrack] = []
    /// Recordings that follow this leg: their source ends with the leg. Those with `company` record
    /// every leg of whichever conversation the leg is in, carried along when it moves.
    var followers: [RecordingFollower] = []

    struct RecordingFollower {
        let sink: RecordingSink
        let company: Bool
    }

    /// Whether the leg hears `speaker` (by the audience lists alone; shard-owned state).
    func hears(_ speaker: Leg) -> Bool {
        (canHear?.contains(speaker.id) ?? true) && (speaker.canSpeak?.contains(id) ?? true)
    }

    /// Whether the leg has an audience list (its conversation is then mixed listener by listener).
    var isRestricted: Bool { canHear != nil || canSpeak != nil }

    public init(
        id: UUID = UUID(), conversationName: String? = nil, direction: Direction = .inbound, sampleRate: Int,
        headers: [String: String] = [:], isEcho: Bool = false, hearsItself: Bool = false, inboundDepthLimit: Int = 3,
        transport: any LegTransport, waker: LegWaker
    ) {
        precondition(L16.rates.contains(sampleRate), "unsupported leg rate \(sampleRate)")
        self.id = id
        name = Mutex(conversationName ?? id.uuidString.lowercased())
        self.direction = direction
        self.sampleRate = sampleRate
        frameSamples = sampleRate / 50
        self.headers = headers
        startTime = Date()
        self.isEcho = isEcho
        self.hearsItself = hearsItself
        self.inboundDepthLimit = min(max(1, inboundDepthLimit), Self.ringFrames - 2)
        // 160 ms or more each way (rounded up to a power of two): beyond the inbound depth limit and any
        // burst the rate limit lets through in one event-loop turn, and several ticks ahead of the
        // writer. Kept small on purpose: an idle leg must cost little memory (docs/QUALITY.md: 64 KiB).
        inbound = SampleRing(minimumCapacity: Self.ringFrames * frameSamples)
        outbound = SampleRing(minimumCapacity: Self.ringFrames * frameSamples)
        self.transport = transport
        self.waker = waker
    }

    /// Whether the leg is live: attached and not yet ended. The one place its liveness is kept (the
    /// engine's registry is an index of live legs; its protocol state is the I/O's `LegLifecycle`).
    public var isLive: Bool { !ended.load(ordering: .acquiring) }

    func rename(_ conversation: String) {
        name.withLock { $0 = conversation }
    }

    /// Marks the leg ended; true only for the first call (so it ends exactly once).
    func markEnded() -> Bool {
        !ended.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Muted: the leg's audio is not sent to the other legs of its conversation.
    public var isMuted: Bool {
        get { muted.load(ordering: .relaxed) }
        set { muted.store(newValue, ordering: .relaxed) }
    }

    /// Earmuffed: the leg hears nothing from the other legs (its own players still play).
    public var isEarmuffed: Bool {
        get { earmuffed.load(ordering: .relaxed) }
        set { earmuffed.store(newValue, ordering: .relaxed) }
    }

    /// Hands one frame from the peer to the engine (the I/O calls this for every accepted frame, after
    /// `Engine.attach`): it goes into the leg's ring, and the shard is told, so that a frame with a
    /// direct route leaves at once.
    public func receive(_ frame: PCM16LittleEndian) {
        lastArrival.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        let lost = inbound.write(frame)
        if lost > 0 { shard?.metrics.ringOverflowSamples.increment(by: lost) }
        framesIn.add()
        if forwardsDirectly.load(ordering: .relaxed) { shard?.arrived(self) }
    }
}
