/// The engine's counters, shared by every shard and leg, exported by the server's `/metrics`.
public final class EngineMetrics: Sendable {
    /// Legs attached to the engine now.
    public let legsActive = Gauge()
    /// Conversations alive now.
    public let conversationsActive = Gauge()
    /// Audio frames received from peers (whole 20 ms frames, any rate).
    public let framesIn = Counter()
    /// Audio frames produced for peers.
    public let framesOut = Counter()
    /// Frames a peer sent that were refused (wrong size, before `connected`, over the rate limit).
    public let framesRejected = Counter()
    /// Samples lost because a ring overflowed (a peer sending faster than real time, or a slow reader).
    public let samplesDropped = Counter()
    /// Ticks where a leg had no (or only part of a) frame and silence stood in for it.
    public let framesConcealed = Counter()
    /// Inbound frames dropped because a leg's queue held a surplus frame for a whole second (its
    /// latency shrinks back by 20 ms; see `Conversation.pullInbound`).
    public let framesTrimmed = Counter()
    /// Output samples the mixer had to saturate at full scale (what the limiter could not catch).
    public let samplesSaturated = Counter()
    /// Output frames the mixer's limiter scaled down to keep a hot mix within 16 bits.
    public let framesLimited = Counter()
    /// Samples lost when a leg's ring overflowed, from legs that have ended (see `Engine.ringOverflowSamples`).
    let retiredRingOverflow = Counter()
    /// Direct-route arrivals the event loop could not forward on the spot (its shard was busy) and left
    /// to the shard.
    public let arrivalsDeferred = Counter()
    /// Ticks that started more than a millisecond after their scheduled time.
    public let ticksLate = Counter()
    /// Ticks skipped because a shard fell more than `TickSchedule.maximumCatchUp` ticks behind.
    public let ticksSkipped = Counter()
    /// How late each tick started against its absolute schedule, in seconds.
    public let tickLateness = Histogram(bounds: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05])
    /// Time spent inside ticks, in seconds per tick.
    public let tickDuration = Histogram(bounds: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01])
    /// DTMF digits detected in legs' audio.
    public let dtmfDetected = Counter()
    /// DTMF digits the peers reported (`websocket:dtmf`).
    public let dtmfReported = Counter()

    public init() {}
}
