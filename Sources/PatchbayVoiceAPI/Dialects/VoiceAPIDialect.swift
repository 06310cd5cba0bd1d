/// The Voice API's own websocket protocol, spoken from the Voice API's side: any service built for the
/// Voice API works unchanged. Patchbay opens with `websocket:connected` (the endpoint's content type and
/// headers, `{caller.NAME}` filled in from the caller's own), sends the call's digits as `websocket:dtmf`,
/// and honours the service's two commands: `clear` (answered `websocket:cleared`, after the `notify`s it
/// dropped are answered: their audio will never play) and `notify` (answered `websocket:notify` when
/// playout reaches it, not when it is queued). Anything else the service writes is published as it came.
public struct VoiceAPIDialect: Sendable {
    public let endpoint: WebSocketEndpoint
    public let callerHeaders: [String: String]

    public init(endpoint: WebSocketEndpoint, callerHeaders: [String: String]) {
        self.endpoint = endpoint
        self.callerHeaders = callerHeaders
    }

    public mutating func handle(_ event: ServiceDialect.Event) -> [ServiceDialect.Action] {
        switch event {
        case .opened:
            return [.send(endpoint.connectedMessage(caller: callerHeaders))]
        case .text(let text, _):
            let command: ServiceCommand
            do {
                command = try ServiceCommand.parse(text)
            } catch {
                return [.invalid(error.description)]
            }
            switch command {
            case .clear: return [.clearPlayout, .send(OutgoingText.cleared)]
            case .notify(let payload): return [.marker(payload)]
            case .other: return [.publish(text)]
            }
        case .markersReached(let payloads):
            return payloads.map { .send(OutgoingText.notified(payload: $0)) }
        case .digit(let digit, let duration):
            return [.send(OutgoingText.dtmf(digit: digit, durationMilliseconds: duration))]
        case .timer:
            return []
        case .hangUp:
            return [.close]
        }
    }
}
