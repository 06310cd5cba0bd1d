import Foundation
import PatchbayEngine
import PatchbayRecords
import PatchbayVoiceAPI

/// Where a webhook's body comes from: the pure mapping from a leg's record and an engine event to the
/// fields the Voice API's events carry (`timestamp` is added when it is queued). No I/O, no clock.
enum WebhookBody {
    /// The fields every event about a leg carries.
    static func legFields(_ record: CallRecord) -> [String: Any] {
        [
            "uuid": record.uuid.uuidString.lowercased(), "conversation_uuid": "CON-" + record.conversationUUID.uuidString.lowercased(),
            "direction": record.direction.rawValue, "from": endpointText(record.from), "to": endpointText(record.to),
        ]
    }

    /// A call status event (`started`, `answered`, `completed`, `failed`) from its record, at `time`.
    static func status(_ status: String, of record: CallRecord, at time: Date, detail: String? = nil) -> [String: Any] {
        var fields = legFields(record)
        fields["status"] = status
        fields["start_time"] = VoiceAPITime.format(record.startTime)
        if status == "completed" || status == "failed" {
            let end = record.endTime ?? time
            fields["end_time"] = VoiceAPITime.format(end)
            fields["duration"] = "\(record.duration(now: end) ?? 0)"
            fields["rate"] = "0.00"
            fields["price"] = "0.00"
            if let detail { fields["detail"] = detail }
        }
        return fields
    }

    /// An endpoint (JSON, as recorded) as the Voice API's events write it: a number or a URI.
    static func endpointText(_ json: String) -> String {
        let fields = CallLedger.endpointFields(json)
        return fields["number"] ?? fields["uri"] ?? ""
    }

    /// The typed event (`dtmf`, `stream:done`, `transfer`, `service:connected`, ...) an engine event is
    /// for a leg with `record` (as it stands after the event), or nil for the events that are statuses
    /// (`legStarted`, `legEnded`). `from` is the conversation UUID before a transfer.
    static func event(_ kind: EngineEvent.Kind, record: CallRecord, transferredFrom from: String? = nil) -> [String: Any]? {
        var fields = legFields(record)
        switch kind {
        case .legStarted, .legEnded:
            return nil
        case .transferred:
            fields["type"] = "transfer"
            fields["conversation_uuid_from"] = from ?? fields["conversation_uuid"]
            fields["conversation_uuid_to"] = fields["conversation_uuid"]
        case .dtmf(let digit, let duration, _, let detected):
            fields["type"] = "dtmf"
            fields["digit"] = String(digit)
            fields["duration"] = duration
            fields["detected"] = detected
        case .playerFinished(let player, let kind, let stopped):
            fields["type"] = "\(kind.rawValue):done"
            fields["player"] = player.uuidString.lowercased()
            fields["stopped"] = stopped
        case .playFailed(let kind, let source, let reason):
            fields["type"] = "\(kind.rawValue):failed"
            fields["stream_url"] = source
            fields["reason"] = reason
        case .notify(let payload):
            fields["type"] = "notify"
            fields["payload"] = jsonObject(payload)
        case .cleared:
            fields["type"] = "cleared"
        case .message(let text):
            fields["type"] = "message"
            fields["message"] = jsonObject(text)
        case .service(let service):
            switch service {
            case .attempt(let uri, let attempt):
                fields["type"] = "service:attempt"
                fields["service_uri"] = uri
                fields["attempt"] = attempt
            case .connected(let uri, let attempt, let leg):
                fields["type"] = "service:connected"
                fields["service_uri"] = uri
                fields["attempt"] = attempt
                fields["service_uuid"] = leg.uuidString.lowercased()
            case .attemptFailed(let uri, let attempt, let reason, let retryIn):
                fields["type"] = "service:attempt_failed"
                fields["service_uri"] = uri
                fields["attempt"] = attempt
                fields["reason"] = reason
                if let retryIn { fields["retry_in"] = retryIn }
            case .closed(let uri, let code, let reason):
                fields["type"] = "service:closed"
                fields["service_uri"] = uri
                if let code { fields["code"] = Int(code) }
                fields["reason"] = reason
            case .gaveUp(let uri, let reason, let hungUp):
                fields["type"] = "service:failed"
                fields["service_uri"] = uri
                fields["reason"] = reason
                fields["hung_up"] = hungUp
            }
        }
        return fields
    }

    /// A JSON object given as text, as an object (or the text itself when it is not one).
    private static func jsonObject(_ text: String) -> Any {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? text
    }
}
