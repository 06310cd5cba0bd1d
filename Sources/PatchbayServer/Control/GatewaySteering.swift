import Foundation
import Logging
import PatchbayEngine
import PatchbayRecords
import PatchbayVoiceAPI

/// The gateway's side of `CallSteering`: the engine's legs, their records, the services dialled for them,
/// streams and speech, and the NCCOs run on them.
final class GatewaySteering: CallSteering {
    private let engine: Engine
    private let ledger: CallLedger?
    private let links: ServiceLinks
    private let media: CallMedia
    private let flows: CallFlows
    private let draining: DrainFlag
    private let background: BackgroundTasks

    init(
        engine: Engine, ledger: CallLedger?, links: ServiceLinks, media: CallMedia, flows: CallFlows, draining: DrainFlag,
        background: BackgroundTasks
    ) {
        self.engine = engine
        self.ledger = ledger
        self.links = links
        self.media = media
        self.flows = flows
        self.draining = draining
        self.background = background
    }

    func liveRecord(_ id: UUID) -> CallRecord? { ledger?.live(id) }

    func leg(_ id: UUID) -> Leg? { engine.leg(id) }

    var isDraining: Bool { draining.isSet }

    func play(_ stream: NCCOAction.Stream, on leg: Leg, patience: Duration) async throws(APIError) {
        try await media.startStream(stream, on: leg, patience: patience)
    }

    @discardableResult
    func speak(_ talk: NCCOAction.Talk, on leg: Leg) async throws(APIError) -> UUID {
        try await media.speak(talk, on: leg)
    }

    func stopPlayers(_ kind: Player.Kind, on leg: Leg) {
        try? engine.stopPlayers(kind, on: leg.id)
    }

    func playDigits(_ digits: String, on leg: Leg) throws(APIError) {
        do {
            try engine.playDTMF(digits, on: leg.id)
        } catch {
            throw APIError.conflict("call \(leg.id.uuidString.lowercased()): \(error)")
        }
    }

    func transfer(_ leg: Leg, to ncco: [NCCOAction]) {
        flows.run(ncco, on: leg, application: ledger?.live(leg.id)?.applicationID)
    }

    /// The new leg is dialled into the NCCO's first `conversation` when it asks for nothing beyond the
    /// name (else into one of its own, and the NCCO moves it), and the whole NCCO runs once it answers:
    /// the `conversation` holds it there (joining the one it is in changes nothing) until that
    /// conversation ends, as the Voice API's does. It is not redialled when it drops (the application
    /// dials again if it wants to).
    func dial(_ call: CallRequest.Creation, application: String) -> (leg: UUID, conversation: UUID) {
        let id = UUID()
        var conversation = id.uuidString.lowercased()
        for case .conversation(let c) in call.ncco.prefix(1) where c.isPlainMove {
            conversation = c.name
        }
        let remaining = call.ncco
        var endpoint = call.endpoint
        endpoint.reconnect = false
        let anchor = DialledConversation(id: id, conversationName: conversation, headers: call.headers)
        let events = engine.events.subscribe(leg: id)
        links.dial(endpoint, for: anchor, application: application, from: CallLedger.json(call.from))
        let conversationUUID = ledger?.live(id)?.conversationUUID ?? UUID()
        background.run { [engine, flows, links] in
            // Until the leg has ended (or was never reached): its NCCO runs once it answers. The link's
            // attempts are published on the leg's own id, so its `gaveUp` comes through here too.
            do {
                for try await event in events {
                    switch event.kind {
                    case .legStarted:
                        if !remaining.isEmpty, let leg = engine.leg(id) { flows.run(remaining, on: leg, application: application) }
                        continue
                    case .legEnded, .service(.gaveUp):
                        break
                    default:
                        continue
                    }
                    break
                }
            } catch {
                // Fell behind the leg's events: nothing more is run for it; it ends as it will.
            }
            anchor.hangUp(reason: "ended")
            links.forget(id)
        }
        return (id, conversationUUID)
    }
}
