import Foundation
import Logging
import PatchbayEngine
import PatchbayVoiceAPI
import Synchronization

/// Runs NCCOs on live legs (`transfer`, and the rest of a dialled call's NCCO), off the media path: the
/// actions in order, `talk` and `stream` to their end before the next (a looping one forever),
/// `conversation` moving the leg, `connect` dialling services into the leg's conversation. A new NCCO
/// replaces the one running on the leg. It waits on the leg's own events; should it fall behind them
/// (`EventOverflow`), it stops the NCCO and says so, rather than wait for an event that will not come.
final class NCCORunner: Sendable {
    private let engine: Engine
    private let ledger: CallLedger?
    private let links: ServiceLinks
    private let media: CallMedia
    private let background: BackgroundTasks
    private let logger: Logger
    /// The NCCO running on each leg, replaced by the next.
    private let running = Mutex<[UUID: Task<Void, Never>]>([:])

    init(engine: Engine, ledger: CallLedger?, links: ServiceLinks, media: CallMedia, background: BackgroundTasks, logger: Logger) {
        self.engine = engine
        self.ledger = ledger
        self.links = links
        self.media = media
        self.background = background
        self.logger = logger
    }

    /// Starts `ncco` on `leg` in place of the NCCO running there.
    func run(_ ncco: [NCCOAction], on leg: Leg) {
        let id = leg.id
        let task = Task { [self] in
            for action in ncco {
                guard !Task.isCancelled, engine.leg(id) != nil else { return }
                do {
                    try await perform(action, on: leg)
                } catch {
                    logger.notice("NCCO action failed", metadata: ["leg": "\(id)", "error": "\(error)"])
                    return
                }
            }
        }
        running.withLock { tasks in
            tasks[id]?.cancel()
            tasks[id] = task
        }
        background.run { [self] in
            await withTaskCancellationHandler {
                await task.value
            } onCancel: {
                task.cancel()
            }
            running.withLock { tasks in
                if tasks[id] == task { tasks[id] = nil }
            }
        }
    }

    /// Stops every NCCO (the shutdown).
    func cancelAll() {
        for task in running.withLock({ Array($0.values) }) { task.cancel() }
    }

    private func perform(_ action: NCCOAction, on leg: Leg) async throws {
        switch action {
        case .conversation(let name):
            let from = leg.conversationName
            guard from != name else { return }
            // The record first: the engine's `transferred` event (and its webhook) reads the new UUID.
            ledger?.moved(leg.id, from: from, to: name)
            try engine.move(leg.id, toConversation: name)
            logger.info("leg transferred", metadata: ["leg": "\(leg.id)", "from": "\(from)", "to": "\(name)"])
        case .talk(let talk):
            let events = engine.events.subscribe(leg: leg.id)
            try await waitForPlayer(try await media.speak(talk, on: leg), in: events)
        case .stream(let stream):
            let events = engine.events.subscribe(leg: leg.id)
            try await waitForPlayer(try await media.startStream(stream, on: leg), in: events)
        case .connect(let endpoints):
            links.connect(endpoints, for: leg)
        }
    }

    /// Returns once `player` has finished (or was stopped), or its leg ended.
    private func waitForPlayer(_ player: UUID, in events: EventSubscription) async throws {
        for try await event in events {
            switch event.kind {
            case .playerFinished(let finished, _, _) where finished == player: return
            case .legEnded: return
            default: continue
            }
        }
    }
}
