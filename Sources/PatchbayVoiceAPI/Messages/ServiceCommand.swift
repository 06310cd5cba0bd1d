import Foundation

/// A text message from a service Patchbay dialled in the Voice API's role, parsed: the Voice API's two
/// commands, or anything else (published as it came).
public enum ServiceCommand: Equatable, Sendable {
    /// `{"action":"clear"}`: drop the audio queued for playout.
    case clear
    /// `{"action":"notify","payload":...}`: answer with the payload (compact JSON) when playout gets here.
    case notify(payload: String)
    /// A JSON object that is not a command (a transcript, the service's own events).
    case other

    /// Services may send larger text than the Voice API (transcripts, results).
    public static let maximumTextBytes = 65536

    public static func parse(_ text: String) throws(PeerMessage.Invalid) -> ServiceCommand {
        let object = try PeerMessage.jsonObject(text, limit: maximumTextBytes)
        switch object["action"] as? String {
        case "clear":
            return .clear
        case "notify":
            let payload = object["payload"] ?? NSNull()
            let data = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys, .fragmentsAllowed])) ?? Data("null".utf8)
            return .notify(payload: String(decoding: data, as: UTF8.self))
        default:
            return .other
        }
    }
}
