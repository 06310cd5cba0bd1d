/// The connection behind a leg, as the engine sees it: it can be sent commands and be closed.
///
/// Implemented by the server for websocket legs. Called off the media tick only (control operations).
public protocol LegTransport: AnyObject, Sendable {
    /// Sends a text message (a JSON command such as `{"action":"clear"}`) to the peer.
    func send(text: String)
    /// Closes the connection (the leg then ends).
    func close(reason: String)
}
