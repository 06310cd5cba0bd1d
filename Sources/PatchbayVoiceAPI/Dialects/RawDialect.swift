/// Services with a protocol of their own that take raw audio (speech-to-text such as Deepgram and
/// AssemblyAI, voice agents that stream binary audio both ways): binary audio as the endpoint frames it
/// (`chunk_ms`, `codec`), an `init` message when the websocket is up, no audio before `wait_for` arrives,
/// a `keepalive` while no audio goes, the queued playout dropped on `clear_on` (a barge-in), and on
/// hang-up a `close` message with two seconds for the last results. Every JSON message the service sends
/// is published (transcripts, the service's own events).
public struct RawDialect: Sendable {
    public let endpoint: WebSocketEndpoint
    /// Audio may go to the service (false until `wait_for` is seen, and after `close`).
    public private(set) var audioOpen: Bool
    /// The `close` message has gone.
    public private(set) var closing = false
    private var lastKeepalive: Int64 = 0

    public init(endpoint: WebSocketEndpoint) {
        self.endpoint = endpoint
        audioOpen = endpoint.waitFor == nil
    }

    var acceptsAudio: Bool { audioOpen && !closing }

    public mutating func handle(_ event: ServiceDialect.Event) -> [ServiceDialect.Action] {
        switch event {
        case .opened:
            return endpoint.initMessage.map { [.send($0.compactText)] } ?? []
        case .text(let text, _):
            let object: [String: Any]
            do {
                object = try PeerMessage.jsonObject(text, limit: ServiceCommand.maximumTextBytes)
            } catch {
                return [.invalid(error.description)]
            }
            var actions: [ServiceDialect.Action] = []
            if !audioOpen, !closing, WebSocketEndpoint.matches(object, endpoint.waitFor) {
                audioOpen = true
                actions.append(.audioOpened)
            }
            if WebSocketEndpoint.matches(object, endpoint.clearOn) { actions.append(.clearPlayout) }
            actions.append(.publish(text))
            return actions
        case .timer(let now, let lastAudioSent):
            guard let keepalive = endpoint.keepalive, acceptsAudio else { return [] }
            let interval = Int64(keepalive.interval * 1e9)
            guard now - lastAudioSent >= interval, now - lastKeepalive >= interval else { return [] }
            lastKeepalive = now
            return [.send(keepalive.message.compactText)]
        case .hangUp:
            // Without a close message (or once it has gone), the session ends at once.
            guard let message = endpoint.closeMessage, !closing else { return [.close] }
            closing = true
            return [.send(message.compactText), .closeAfterGrace]
        case .markersReached, .digit:
            // No notify in this protocol, and no Voice API events: the service would not understand them.
            return []
        }
    }
}
