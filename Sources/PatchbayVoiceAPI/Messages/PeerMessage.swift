import Foundation

/// A text message from a Voice API peer (Patchbay is the server), parsed.
public enum PeerMessage: Equatable, Sendable {
    /// `websocket:connected`: the audio rate and the flattened NCCO headers (as text).
    case connected(sampleRate: Int, headers: [String: String])
    /// `websocket:dtmf`: a key pressed on the phone.
    case dtmf(digit: Character, durationMilliseconds: Int)
    /// `websocket:cleared`: the peer dropped the audio it had queued.
    case cleared
    /// `websocket:notify`: playout reached a `notify`; the payload as JSON text.
    case notify(payload: String)
    /// A well-formed event Patchbay does not act on.
    case other(event: String)

    /// Why a text message was refused.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
        /// The event the message named, when it named one.
        public let event: String?
        public init(_ description: String, event: String? = nil) {
            self.description = description
            self.event = event
        }
    }

    /// The largest header object the Voice API sends (512 bytes of NCCO headers) with generous room.
    public static let maximumTextBytes = 8192

    /// A text message as a JSON object, at most `limit` bytes.
    public static func jsonObject(_ text: String, limit: Int = maximumTextBytes) throws(Invalid) -> [String: Any] {
        guard text.utf8.count <= limit else {
            throw Invalid("text message of \(text.utf8.count) bytes is over the \(limit)-byte limit")
        }
        do {
            guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw Invalid("text message is not a JSON object")
            }
            return o
        } catch let e as Invalid {
            throw e
        } catch {
            throw Invalid("text message is not valid JSON")
        }
    }

    public static func parse(_ text: String) throws(Invalid) -> PeerMessage {
        let object = try jsonObject(text)
        guard let event = object["event"] as? String else { throw Invalid("text message has no \"event\" string") }
        switch event {
        case "websocket:connected":
            guard let contentType = object["content-type"] as? String else {
                throw Invalid("websocket:connected has no \"content-type\"", event: event)
            }
            let rate: Int
            do {
                rate = try L16.rate(ofContentType: contentType)
            } catch {
                throw Invalid(error.description, event: event)
            }
            var headers: [String: String] = [:]
            for (key, value) in object where key != "event" && key != "content-type" {
                headers[key] = Self.text(of: value)
            }
            return .connected(sampleRate: rate, headers: headers)
        case "websocket:dtmf":
            guard let digitText = object["digit"] as? String, digitText.count == 1, let digit = digitText.first,
                "0123456789*#ABCD".contains(digit)
            else {
                throw Invalid("websocket:dtmf has no valid \"digit\"")
            }
            let duration = (object["duration"] as? NSNumber)?.intValue ?? 0
            return .dtmf(digit: digit, durationMilliseconds: duration)
        case "websocket:cleared":
            return .cleared
        case "websocket:notify":
            let payload = object["payload"].map { Self.text(of: $0) } ?? "null"
            return .notify(payload: payload)
        default:
            return .other(event: event)
        }
    }

    /// A JSON value as text: strings as they are, anything else as compact JSON.
    private static func text(of value: Any) -> String {
        if let s = value as? String { return s }
        if let n = value as? NSNumber { return "\(n)" }
        if value is NSNull { return "null" }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(value)"
    }
}
