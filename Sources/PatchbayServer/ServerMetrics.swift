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
    }
}
