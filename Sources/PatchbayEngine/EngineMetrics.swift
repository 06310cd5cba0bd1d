public import CoreMetrics
import Synchronization

/// What one metric measures: its name in the Prometheus sense, the help line an exporter shows, and
/// the bucket bounds a histogram backend should use for a timer (`buckets`) or a recorder of values
/// (`valueBuckets`).
public struct MetricDescription: Sendable {
    public let label: String
    public let help: String
    public let buckets: [Duration]?
    public let valueBuckets: [Double]?

    public init(_ label: String, _ help: String, buckets: [Duration]? = nil, valueBuckets: [Double]? = nil) {
        self.label = label
        self.help = help
        self.buckets = buckets
        self.valueBuckets = valueBuckets
    }
}

/// A count of things alive now (legs, conversations, connections) that the gateway also reads for its
/// own decisions (capacity, drain, `/health`): an atomic, mirrored to a swift-metrics `Meter`.
public final class LiveCount: Sendable {
    private let storage = Atomic<Int>(0)
    private let meter: Meter

    public init(label: String, factory: any MetricsFactory) {
        meter = Meter(label: label, dimensions: [], factory: factory)
    }

    public var value: Int { storage.load(ordering: .relaxed) }

    public func increment() {
        storage.add(1, ordering: .relaxed)
        meter.increment()
    }

    public func decrement() {
        storage.subtract(1, ordering: .relaxed)
        meter.decrement()
    }
}

/// The engine's metrics, shared by every shard and leg, reported through swift-metrics to the factory
/// the engine is given (the server exports them at `/metrics` with swift-prometheus).
public final class EngineMetrics: Sendable {
    /// Legs attached to the engine now.
    public let legsActive: LiveCount
    /// Conversations alive now.
    public let conversationsActive: LiveCount
    /// Audio frames received from peers (whole 20 ms frames, any rate).
    public let framesIn: CoreMetrics.Counter
    /// Audio frames produced for peers.
    public let framesOut: CoreMetrics.Counter
    /// Frames a peer sent that were refused (wrong size, before `connected`, over the rate limit).
    public let framesRejected: CoreMetrics.Counter
    /// Samples dropped to bound a leg's delay (a burst over the inbound depth limit, a peer not draining).
    public let samplesDropped: CoreMetrics.Counter
    /// Samples lost because a leg's ring overflowed (oldest audio dropped).
    public let ringOverflowSamples: CoreMetrics.Counter
    /// Ticks where a leg had no (or only part of a) frame and silence stood in for it.
    public let framesConcealed: CoreMetrics.Counter
    /// Inbound frames dropped because a leg's queue held a surplus frame for a whole second (its
    /// latency shrinks back by 20 ms; see `Conversation.pullInbound`).
    public let framesTrimmed: CoreMetrics.Counter
    /// Output samples the mixer had to saturate at full scale (what the limiter could not catch).
    public let samplesSaturated: CoreMetrics.Counter
    /// Output frames the mixer's limiter scaled down to keep a hot mix within 16 bits.
    public let framesLimited: CoreMetrics.Counter
    /// Direct-route arrivals the event loop could not forward on the spot (its shard was busy) and left
    /// to the shard.
    public let arrivalsDeferred: CoreMetrics.Counter
    /// Ticks that started more than a millisecond after their scheduled time.
    public let ticksLate: CoreMetrics.Counter
    /// Ticks skipped because a shard fell more than `TickSchedule.maximumCatchUp` ticks behind.
    public let ticksSkipped: CoreMetrics.Counter
    /// How late each tick started against its absolute schedule.
    public let tickLateness: CoreMetrics.Timer
    /// Time spent in one shard wake-up.
    public let tickDuration: CoreMetrics.Timer
    /// DTMF digits detected in legs' audio.
    public let dtmfDetected: CoreMetrics.Counter
    /// DTMF digits the peers reported (`websocket:dtmf`).
    public let dtmfReported: CoreMetrics.Counter
    /// Engine events a subscriber missed because it fell `EventHub`'s limit behind (it is told, and fails safe).
    public let eventsMissed: CoreMetrics.Counter

    /// Every metric above, for exporters that show help text and choose histogram buckets.
    public static let descriptions: [MetricDescription] = [
        .init("patchbay_legs_active", "Legs connected and streaming."),
        .init("patchbay_conversations_active", "Conversations with at least one leg."),
        .init("patchbay_frames_in_total", "20 ms audio frames received from peers."),
        .init("patchbay_frames_out_total", "20 ms audio frames produced for peers."),
        .init("patchbay_frames_rejected_total", "Messages dropped: wrong size, over the rate limit."),
        .init("patchbay_samples_dropped_total", "Samples dropped to bound a leg's delay (burst over the depth limit, peer not draining)."),
        .init("patchbay_ring_overflow_samples_total", "Samples lost because a leg's ring overflowed (oldest audio dropped)."),
        .init("patchbay_frames_concealed_total", "Ticks where silence stood in for a missing or late frame."),
        .init(
            "patchbay_frames_trimmed_total",
            "Inbound frames dropped to shrink a leg's queue after a surplus frame persisted for a second."),
        .init("patchbay_samples_saturated_total", "Output samples saturated at full scale (beyond what the limiter caught)."),
        .init("patchbay_frames_limited_total", "Output frames the mixer's limiter scaled down."),
        .init(
            "patchbay_arrivals_deferred_total",
            "Direct-route frames left to the media shard because it was busy when they arrived."),
        .init("patchbay_ticks_late_total", "Media ticks that started over 1 ms late."),
        .init("patchbay_ticks_skipped_total", "Media ticks skipped after falling over 100 ms behind."),
        .init(
            "patchbay_tick_lateness_seconds", "How late media ticks started against their absolute schedule.",
            buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50].map { .microseconds($0 * 1000) }),
        .init(
            "patchbay_tick_duration_seconds", "Time spent in one media shard wake-up.",
            buckets: [10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000].map { .microseconds($0) }),
        .init("patchbay_dtmf_detected_total", "DTMF digits detected in legs' audio."),
        .init("patchbay_dtmf_reported_total", "DTMF digits reported by peers (websocket:dtmf)."),
        .init("patchbay_events_missed_total", "Engine events a subscriber missed by falling too far behind (it fails safe)."),
    ]

    /// Metrics made by `factory` (swift-metrics' global `MetricsSystem.factory` by default).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        func counter(_ label: String) -> CoreMetrics.Counter { .init(label: label, dimensions: [], factory: factory) }
        func timer(_ label: String) -> CoreMetrics.Timer { .init(label: label, dimensions: [], factory: factory) }
        legsActive = LiveCount(label: "patchbay_legs_active", factory: factory)
        conversationsActive = LiveCount(label: "patchbay_conversations_active", factory: factory)
        framesIn = counter("patchbay_frames_in_total")
        framesOut = counter("patchbay_frames_out_total")
        framesRejected = counter("patchbay_frames_rejected_total")
        samplesDropped = counter("patchbay_samples_dropped_total")
        ringOverflowSamples = counter("patchbay_ring_overflow_samples_total")
        framesConcealed = counter("patchbay_frames_concealed_total")
        framesTrimmed = counter("patchbay_frames_trimmed_total")
        samplesSaturated = counter("patchbay_samples_saturated_total")
        framesLimited = counter("patchbay_frames_limited_total")
        arrivalsDeferred = counter("patchbay_arrivals_deferred_total")
        ticksLate = counter("patchbay_ticks_late_total")
        ticksSkipped = counter("patchbay_ticks_skipped_total")
        tickLateness = timer("patchbay_tick_lateness_seconds")
        tickDuration = timer("patchbay_tick_duration_seconds")
        dtmfDetected = counter("patchbay_dtmf_detected_total")
        dtmfReported = counter("patchbay_dtmf_reported_total")
        eventsMissed = counter("patchbay_events_missed_total")
    }
}
