import PatchbayEngine

/// The server's own counters (the engine's are in `EngineMetrics`).
final class ServerMetrics: Sendable {
    /// Websocket connections open now (upgraded, with or without `connected` yet).
    let connectionsOpen = Gauge()
    /// Upgrade requests refused, by reason.
    let upgradesUnauthorized = Counter()
    let upgradesOverCapacity = Counter()
    /// Text messages that were not valid JSON events, or had invalid fields.
    let messagesInvalid = Counter()
    /// Binary frames whose size was not the leg's 20 ms frame size.
    let framesWrongSize = Counter()
    /// Messages dropped over the per-leg message rate limit.
    let messagesOverRate = Counter()
    /// Legs the server closed for breaking the protocol or its limits (binary before connected,
    /// bad content type, connect or idle timeout).
    let legsClosedByPolicy = Counter()
    /// Detected digits sent to other legs of a conversation as `websocket:dtmf` (`dtmf_events`).
    let dtmfEventsSent = Counter()
}
