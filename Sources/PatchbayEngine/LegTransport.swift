/// What the engine (or the control plane) asks of a leg's peer. The transport says it in the peer's own
/// terms: the engine knows no wire format.
public enum LegCommand: Sendable, Equatable {
    /// Drop the audio you have queued (a barge-in); a caller answers `websocket:cleared` (a `.cleared` event).
    case clear
    /// Report when playout reaches this point; `payload` is a JSON object, as text. A caller answers
    /// `websocket:notify` (a `.notify` event).
    case notify(payload: String)
    /// A digit on the call (`detected` in a leg's audio, or reported by its peer): for the peers that take
    /// them — services dialled in the Voice API's role, and the legs of routes with `dtmf_events` (detected
    /// digits only). Others ignore it.
    case dtmf(digit: Character, durationMilliseconds: Int, detected: Bool)
}

/// The connection behind a leg, as the engine sees it: it can be given commands and be closed.
///
/// Implemented by the server for websocket legs. Called off the media tick only (control operations).
public protocol LegTransport: AnyObject, Sendable {
    func send(_ command: LegCommand)
    /// Closes the connection (the leg then ends).
    func close(reason: String)
}
