public import Foundation
public import PatchbayVoiceAPI

/// Something that happened to a leg, for the control API, webhooks and logs.
public struct EngineEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The leg joined the engine (it sent `websocket:connected`).
        case legStarted
        /// The leg left (published exactly once per leg); `duration` in seconds.
        case legEnded(duration: Double, reason: LegEndReason)
        /// A DTMF digit: detected in the leg's audio (`detected`) or reported by the peer.
        /// `startMilliseconds` is from the start of the leg's audio (detected digits only).
        case dtmf(digit: Character, durationMilliseconds: Int, startMilliseconds: Int?, detected: Bool)
        /// A player added to the leg finished (played its loops, or was stopped).
        case playerFinished(player: UUID, kind: Player.Kind, stopped: Bool)
        /// The peer answered a `notify` with its payload (JSON text).
        case notify(payload: String)
        /// The peer confirmed a `clear`.
        case cleared
        /// A text message from a service that Patchbay does not act on itself (a transcript, the
        /// service's own events), as it came (JSON text).
        case message(text: String)
        /// What happened to a service dialled for this (caller's) leg.
        case service(ServiceEvent)
        /// The leg was moved into this event's conversation from the conversation `from`.
        case transferred(from: String)
        /// Audio meant for the leg could not be played: a stream `source` that could not be fetched or
        /// decoded (found after its request was answered, or a route's stream).
        case playFailed(kind: Player.Kind, source: String, reason: String)
    }

    /// The life of one connection to a speech or AI service, reported on the caller's leg.
    public enum ServiceEvent: Sendable, Equatable {
        /// Dialling `uri`, attempt `attempt` (1 for the first; later ones are retries or reconnects).
        case attempt(uri: String, attempt: Int)
        /// Connected and streaming: the service's own leg is `leg`.
        case connected(uri: String, attempt: Int, leg: UUID)
        /// An attempt failed; `retryIn` seconds until the next, or nil when there is none.
        case attemptFailed(uri: String, attempt: Int, reason: String, retryIn: Double?)
        /// The connection ended, with the close code the service sent (nil when it was lost).
        case closed(uri: String, code: UInt16?, reason: String)
        /// No more attempts: the endpoint's `on_failure` applies (`hungUp`: the caller was hung up).
        case gaveUp(uri: String, reason: String, hungUp: Bool)
    }

    public let leg: UUID
    public let conversation: String
    public let kind: Kind
    public let timestamp: Date

    public init(leg: UUID, conversation: String, kind: Kind, timestamp: Date = Date()) {
        self.leg = leg
        self.conversation = conversation
        self.kind = kind
        self.timestamp = timestamp
    }
}
