public import Foundation

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
        case playerFinished(player: UUID, stopped: Bool)
        /// The peer answered a `notify` with its payload (JSON text).
        case notify(payload: String)
        /// The peer confirmed a `clear`.
        case cleared
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
