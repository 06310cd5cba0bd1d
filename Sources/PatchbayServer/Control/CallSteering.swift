import Foundation
import PatchbayEngine
import PatchbayRecords
import PatchbayVoiceAPI

/// What the control API may ask of the gateway: the live legs it steers, and the actions that take more
/// than a flag on a leg. The one door from a REST request to the media path; `GatewaySteering` is the
/// gateway's side of it.
protocol CallSteering: Sendable {
    /// The record of a leg that has not ended (nil once it has).
    func liveRecord(_ id: UUID) -> CallRecord?
    /// The engine's leg, while it streams.
    func leg(_ id: UUID) -> Leg?
    /// The gateway is draining: it dials nothing new.
    var isDraining: Bool { get }
    /// Plays a stream into the leg in place of the one playing there; waits up to `patience` for it to
    /// start (a failure later is a `stream:failed` event).
    func play(_ stream: NCCOAction.Stream, on leg: Leg, patience: Duration) async throws(APIError)
    /// Speaks into the leg in place of the speech playing there. Returns the player's id.
    @discardableResult
    func speak(_ talk: NCCOAction.Talk, on leg: Leg) async throws(APIError) -> UUID
    /// Stops the leg's players of a kind.
    func stopPlayers(_ kind: Player.Kind, on leg: Leg)
    /// Plays DTMF digits into the leg.
    func playDigits(_ digits: String, on leg: Leg) throws(APIError)
    /// Runs an NCCO on the leg in the background, in place of the one running there.
    func transfer(_ leg: Leg, to ncco: [NCCOAction])
    /// Dials a websocket service as a new outbound leg of `application` and runs the NCCO on it.
    func dial(_ call: CallRequest.Creation, application: String) -> (leg: UUID, conversation: UUID)
}

extension CallContext {
    /// The live leg `text` names, if it is `application`'s: 404 when it is not (or unknown), 409 when the
    /// call exists but is not streaming (completed, failed, or still being dialled).
    func liveLeg(application: String, uuid text: String) async throws -> Leg {
        guard let uuid = UUID(uuidString: text) else { throw APIError.notFound("no call \(text)") }
        if let record = steering.liveRecord(uuid) {
            guard record.applicationID == application else { throw APIError.notFound("no call \(text)") }
            guard let leg = steering.leg(uuid), leg.isLive else {
                throw APIError.conflict("call \(text) is \(record.status.rawValue): not streaming (yet)")
            }
            return leg
        }
        if let record = try await store.call(uuid), record.applicationID == application {
            throw APIError.conflict("call \(text) is \(record.status.rawValue)")
        }
        throw APIError.notFound("no call \(text)")
    }

    /// A live leg that can be played into (an echo leg hears only itself: 422).
    func playableLeg(application: String, uuid: String) async throws -> Leg {
        let leg = try await liveLeg(application: application, uuid: uuid)
        guard !leg.isEcho else { throw APIError.unprocessable("call \(uuid) is an echo leg: it hears only itself") }
        return leg
    }
}
