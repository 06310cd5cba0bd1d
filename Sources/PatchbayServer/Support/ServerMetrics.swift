import CoreMetrics
import PatchbayEngine

/// The server's own metrics (the engine's are in `EngineMetrics`), through swift-metrics.
final class ServerMetrics: Sendable {
    /// Websocket connections open now (upgraded, with or without `connected` yet).
    let connectionsOpen: LiveCount
    /// Upgrade requests refused, by reason.
    let upgradesUnauthorized: CoreMetrics.Counter
    let upgradesOverCapacity: CoreMetrics.Counter
    /// Text messages that were not valid JSON events, or had invalid fields.
    let messagesInvalid: CoreMetrics.Counter
    /// Binary frames whose size was not the leg's 20 ms frame size.
    let framesWrongSize: CoreMetrics.Counter
    /// Messages dropped over the per-leg message rate limit.
    let messagesOverRate: CoreMetrics.Counter
    /// Legs the server closed for breaking the protocol or its limits (binary before connected,
    /// bad content type, connect or idle timeout).
    let legsClosedByPolicy: CoreMetrics.Counter
    /// Detected digits sent to other legs of a conversation as `websocket:dtmf` (`dtmf_events`).
    let dtmfEventsSent: CoreMetrics.Counter

    // Services Patchbay dials (outbound legs).
    let serviceAttempts: CoreMetrics.Counter
    let serviceAttemptsFailed: CoreMetrics.Counter
    let serviceGaveUp: CoreMetrics.Counter
    let serviceReconnects: CoreMetrics.Counter
    let serviceConnectTime: CoreMetrics.Timer
    let serviceFirstAudioTime: CoreMetrics.Timer
    let servicePlayoutDepth: CoreMetrics.Recorder
    let servicePlayoutOverflowBytes: CoreMetrics.Counter
    let serviceUnderruns: CoreMetrics.Counter
    let serviceClearedMilliseconds: CoreMetrics.Counter
    let serviceMessages: CoreMetrics.Counter
    let serviceMessagesInvalid: CoreMetrics.Counter
    let serviceOddMessages: CoreMetrics.Counter
    let serviceLateDeltasDropped: CoreMetrics.Counter

    // Event webhooks (the control API's applications).
    let webhooksDelivered: CoreMetrics.Counter
    let webhookAttemptsFailed: CoreMetrics.Counter
    let webhookDeliveryTime: CoreMetrics.Timer

    // Recordings.
    let recordingsStarted: CoreMetrics.Counter
    let recordingsCompleted: CoreMetrics.Counter
    let recordingsFailed: CoreMetrics.Counter
    let recordingFramesLost: CoreMetrics.Counter
    let recordingBytesWritten: CoreMetrics.Counter
    private let factory: any MetricsFactory

    /// Events never delivered, by why: `queue_full`, `gave_up` (retried until `retry_seconds`),
    /// `rejected` (a 4xx answer), `shutdown` (still queued when the drain ended).
    func webhooksDropped(_ reason: String) -> CoreMetrics.Counter {
        .init(label: "patchbay_webhooks_dropped_total", dimensions: [("reason", reason)], factory: factory)
    }

    /// Service connections that ended, by the close code they ended with ("none" when the connection
    /// was lost without one).
    func serviceCloses(code: UInt16?) -> CoreMetrics.Counter {
        .init(label: "patchbay_service_closes_total", dimensions: [("code", code.map { "\($0)" } ?? "none")], factory: factory)
    }

    static let descriptions: [MetricDescription] = [
        .init("patchbay_connections_open", "Websocket connections open (with or without websocket:connected)."),
        .init("patchbay_upgrades_unauthorized_total", "Websocket upgrades refused with 401."),
        .init("patchbay_upgrades_over_capacity_total", "Websocket upgrades refused with 503 (max_legs)."),
        .init("patchbay_messages_invalid_total", "Text messages that were not valid events."),
        .init("patchbay_frames_wrong_size_total", "Binary messages that were not one 20 ms frame."),
        .init("patchbay_messages_over_rate_total", "Messages dropped over the per-leg rate limit."),
        .init("patchbay_legs_closed_by_policy_total", "Legs closed for breaking the protocol or a limit."),
        .init(
            "patchbay_dtmf_events_sent_total",
            "Detected digits sent to the other legs of a conversation as websocket:dtmf."),
        .init("patchbay_service_attempts_total", "Attempts to connect to a speech or AI service (first tries, retries, reconnects)."),
        .init("patchbay_service_attempts_failed_total", "Attempts to connect to a service that failed."),
        .init("patchbay_service_gave_up_total", "Services given up on (retry deadline passed): on_failure applied."),
        .init("patchbay_service_reconnects_total", "Service connections made again after a drop."),
        .init("patchbay_service_closes_total", "Service connections that ended, by close code."),
        .init(
            "patchbay_service_connect_seconds", "Time to connect to a service (TCP, TLS, upgrade).",
            buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000].map { .milliseconds($0) }),
        .init(
            "patchbay_service_first_audio_seconds", "Time from a service's connection to the first audio it sent.",
            buckets: [10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000].map { .milliseconds($0) }),
        .init(
            "patchbay_service_playout_frames", "Frames waiting in a service's playout buffer, after each release.",
            valueBuckets: [0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 3072]),
        .init("patchbay_service_playout_overflow_bytes_total", "Service audio dropped because the playout buffer was full."),
        .init("patchbay_service_underruns_total", "Times a service's playout ran dry in the middle of its audio."),
        .init("patchbay_service_cleared_milliseconds_total", "Service audio dropped from playout by a clear."),
        .init("patchbay_service_messages_total", "Text messages from services published as events."),
        .init("patchbay_service_messages_invalid_total", "Text messages from services that were not JSON objects."),
        .init("patchbay_service_odd_messages_total", "Service audio messages with an odd number of bytes."),
        .init(
            "patchbay_service_late_deltas_dropped_total",
            "OpenAI Realtime audio deltas dropped because their item was truncated or their response cancelled."),
        .init("patchbay_webhooks_delivered_total", "Events POSTed to an application's event_url and answered 2xx."),
        .init("patchbay_webhook_attempts_failed_total", "Event POSTs that failed and were retried (or dropped)."),
        .init("patchbay_webhooks_dropped_total", "Events never delivered, by reason."),
        .init(
            "patchbay_webhook_delivery_seconds", "Time from an event to its delivery (retries included).",
            buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30_000].map { .milliseconds($0) }),
        .init("patchbay_recordings_started_total", "Recordings started (NCCO record, conversation record)."),
        .init("patchbay_recordings_completed_total", "Recordings whose file was completed and listed."),
        .init("patchbay_recordings_failed_total", "Recordings that failed (file not writable, disk full): the call went on."),
        .init("patchbay_recording_frames_lost_total", "20 ms frames a recording lost (the encoder fell behind): silence in their place."),
        .init("patchbay_recording_bytes_total", "Bytes of finished recording files."),
    ]

    init(factory: any MetricsFactory) {
        func counter(_ label: String) -> CoreMetrics.Counter { .init(label: label, dimensions: [], factory: factory) }
        connectionsOpen = LiveCount(label: "patchbay_connections_open", factory: factory)
        upgradesUnauthorized = counter("patchbay_upgrades_unauthorized_total")
        upgradesOverCapacity = counter("patchbay_upgrades_over_capacity_total")
        messagesInvalid = counter("patchbay_messages_invalid_total")
        framesWrongSize = counter("patchbay_frames_wrong_size_total")
        messagesOverRate = counter("patchbay_messages_over_rate_total")
        legsClosedByPolicy = counter("patchbay_legs_closed_by_policy_total")
        dtmfEventsSent = counter("patchbay_dtmf_events_sent_total")
        serviceAttempts = counter("patchbay_service_attempts_total")
        serviceAttemptsFailed = counter("patchbay_service_attempts_failed_total")
        serviceGaveUp = counter("patchbay_service_gave_up_total")
        serviceReconnects = counter("patchbay_service_reconnects_total")
        serviceConnectTime = .init(label: "patchbay_service_connect_seconds", dimensions: [], factory: factory)
        serviceFirstAudioTime = .init(label: "patchbay_service_first_audio_seconds", dimensions: [], factory: factory)
        servicePlayoutDepth = .init(label: "patchbay_service_playout_frames", dimensions: [], aggregate: true, factory: factory)
        servicePlayoutOverflowBytes = counter("patchbay_service_playout_overflow_bytes_total")
        serviceUnderruns = counter("patchbay_service_underruns_total")
        serviceClearedMilliseconds = counter("patchbay_service_cleared_milliseconds_total")
        serviceMessages = counter("patchbay_service_messages_total")
        serviceMessagesInvalid = counter("patchbay_service_messages_invalid_total")
        serviceOddMessages = counter("patchbay_service_odd_messages_total")
        serviceLateDeltasDropped = counter("patchbay_service_late_deltas_dropped_total")
        webhooksDelivered = counter("patchbay_webhooks_delivered_total")
        webhookAttemptsFailed = counter("patchbay_webhook_attempts_failed_total")
        webhookDeliveryTime = .init(label: "patchbay_webhook_delivery_seconds", dimensions: [], factory: factory)
        recordingsStarted = counter("patchbay_recordings_started_total")
        recordingsCompleted = counter("patchbay_recordings_completed_total")
        recordingsFailed = counter("patchbay_recordings_failed_total")
        recordingFramesLost = counter("patchbay_recording_frames_lost_total")
        recordingBytesWritten = counter("patchbay_recording_bytes_total")
        self.factory = factory
    }
}
