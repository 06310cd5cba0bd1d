import Foundation

/// OpenAI's Realtime API (the GA interface): the session opens with `session.update` (the endpoint's
/// `session` template, the audio formats filled in where it leaves them out); the caller's audio goes as
/// `input_audio_buffer.append`; `response.output_audio.delta` is played; and when the caller starts to
/// speak (`input_audio_buffer.speech_started`) the playout is dropped and the item that was playing is
/// truncated at what the caller actually heard (`conversation.item.truncate` with `audio_end_ms`), so
/// the model's memory of its own words matches the call. Items queued but not begun are dropped whole,
/// and their late deltas too, as are those of cancelled responses. Every event but the audio deltas is
/// published (transcripts, errors, the session's own events).
public struct RealtimeDialect: Sendable {
    public let endpoint: WebSocketEndpoint
    /// The largest event accepted.
    public let textLimit: Int
    /// Where each response item's audio starts in the playout (its `written` position), in order; items
    /// that have played to their end are let go.
    private(set) var items: [(id: String, start: Int)] = []
    /// Items whose late deltas are dropped (truncated at a barge-in), and cancelled responses.
    private var droppedItems: Set<String> = []
    private var cancelledResponses: Set<String> = []

    public init(endpoint: WebSocketEndpoint, textLimit: Int) {
        self.endpoint = endpoint
        self.textLimit = textLimit
    }

    public mutating func handle(_ event: ServiceDialect.Event) -> [ServiceDialect.Action] {
        switch event {
        case .opened:
            return [.send(Self.sessionUpdate(endpoint))]
        case .text(let text, let playout):
            return received(text, playout: playout)
        case .hangUp:
            return [.close]
        case .markersReached, .digit, .timer:
            return []
        }
    }

    private mutating func received(_ text: String, playout: ServiceDialect.PlayoutCursor) -> [ServiceDialect.Action] {
        let object: [String: Any]
        do {
            object = try PeerMessage.jsonObject(text, limit: textLimit)
        } catch {
            return [.invalid(error.description)]
        }
        var actions: [ServiceDialect.Action] = []
        switch object["type"] as? String ?? "" {
        case "response.output_audio.delta":
            guard let delta = object["delta"] as? String, let item = object["item_id"] as? String else { return [] }
            let response = object["response_id"] as? String ?? ""
            if droppedItems.contains(item) || cancelledResponses.contains(response) { return [.lateAudioDropped] }
            guard let audio = Data(base64Encoded: delta) else { return [.invalid("an audio delta that is not base64")] }
            if items.last?.id != item {
                // An item that has played to its end matters no more (a barge-in only cuts what still plays).
                while items.count >= 2, items[1].start <= playout.taken { items.removeFirst() }
                items.append((item, playout.written))
            }
            return [.play(Array(audio))]
        case "input_audio_buffer.speech_started":
            actions = bargeIn(playout)
        case "response.done":
            if let response = object["response"] as? [String: Any], response["status"] as? String == "cancelled",
                let id = response["id"] as? String
            {
                cancelledResponses.insert(id)
            }
        default:
            break
        }
        actions.append(.publish(text))
        return actions
    }

    /// The caller started speaking: what is queued is dropped, and the item that was playing is truncated
    /// where the caller stopped hearing it.
    private mutating func bargeIn(_ playout: ServiceDialect.PlayoutCursor) -> [ServiceDialect.Action] {
        let taken = playout.taken
        var truncate: (id: String, ms: Int)?
        for (i, item) in items.enumerated() {
            let end = i + 1 < items.count ? items[i + 1].start : playout.written
            guard end > taken else { continue }  // played to its end before the barge-in
            droppedItems.insert(item.id)
            if truncate == nil { truncate = (item.id, item.start < taken ? (taken - item.start) / playout.bytesPerMillisecond : 0) }
        }
        items.removeAll()
        guard let truncate else { return [.clearPlayout] }
        let object: [String: Any] = [
            "type": "conversation.item.truncate", "item_id": truncate.id, "content_index": 0, "audio_end_ms": truncate.ms,
        ]
        return [.clearPlayout, .send(Self.json(object))]
    }

    /// The caller's audio, base64 in `input_audio_buffer.append`.
    public static func append(base64: String) -> String {
        #"{"type":"input_audio_buffer.append","audio":""# + base64 + #""}"#
    }

    /// The first message: `session.update` with the endpoint's `session`, its audio formats filled in
    /// (`audio/pcm` at 24 kHz both ways, or `audio/pcmu`/`audio/pcma` with those codecs) where the template
    /// leaves them out.
    public static func sessionUpdate(_ endpoint: WebSocketEndpoint) -> String {
        var session: [String: Any] = [:]
        if case .object(let template)? = endpoint.session { session = template.mapValues(\.foundationObject) }
        if session["type"] == nil { session["type"] = "realtime" }
        var audio = session["audio"] as? [String: Any] ?? [:]
        for direction in ["input", "output"] {
            var d = audio[direction] as? [String: Any] ?? [:]
            if d["format"] == nil {
                d["format"] =
                    switch endpoint.codec {
                    case .pcmu: ["type": "audio/pcmu"]
                    case .pcma: ["type": "audio/pcma"]
                    case .pcm, .opus: ["type": "audio/pcm", "rate": 24000] as [String: Any]
                    }
            }
            audio[direction] = d
        }
        session["audio"] = audio
        return json(["type": "session.update", "session": session])
    }

    private static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
