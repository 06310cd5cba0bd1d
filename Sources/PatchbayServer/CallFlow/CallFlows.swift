import Foundation
import Logging
import PatchbayEngine
import PatchbayVoiceAPI
import Synchronization

/// Runs the call flow of every leg that has one: a route's `answer_url` or `ncco`, a `transfer`, the rest
/// of a dialled call's NCCO. Each leg's `CallFlow` (the pure state machine) is driven by a session: the
/// engine's events about the leg (digits from both sources, players finishing, its services, its end),
/// its deadlines, and the application's answers go in; what it asks for is done here — speech and
/// streams through `CallMedia`, events through `ApplicationClient`, moves and audiences through the
/// engine, services through `ServiceLinks`. Nothing here runs on a media shard: the engine is asked, as
/// the control API asks it.
///
/// One subscription to the engine's events feeds every session, and tells the sessions holding in a
/// conversation who else is there (music on hold, `startOnEnter`) and when a leg with `endOnExit` left.
final class CallFlows: Sendable {
    struct Context: Sendable {
        let engine: Engine
        let ledger: CallLedger?
        let links: ServiceLinks
        let media: CallMedia
        let client: ApplicationClient
        let rules: NCCORules
        /// The application's event URL and signer, by application id.
        let applications: [String: (eventURL: String?, signer: ApplicationClient.Signer?)]
        /// How long an event's answer may take.
        let answerTimeout: Duration
        let background: BackgroundTasks
        /// Nil without storage: a `record` is then refused when it runs (logged; the NCCO goes on).
        let recordings: Recordings?
        let logger: Logger
    }

    /// What a leg asked of its conversation when it joined.
    struct Membership: Sendable {
        var conversation: String
        var startOnEnter: Bool
        var endOnExit: Bool
    }

    private struct State {
        var sessions: [UUID: FlowSession] = [:]
        var memberships: [UUID: Membership] = [:]
    }

    let context: Context
    private let state = Mutex(State())
    private let pump = Mutex<Task<Void, Never>?>(nil)

    init(context: Context) {
        self.context = context
    }

    /// Starts reading the engine's events (before the engine starts).
    func start() {
        let events = context.engine.events.subscribe()
        pump.withLock { $0 = Task { [self] in await run(events) } }
    }

    /// Stops every session (the shutdown).
    func stop() {
        pump.withLock { $0?.cancel() }
        let sessions = state.withLock { s in
            defer { s.sessions = [:] }
            return Array(s.sessions.values)
        }
        for session in sessions { session.cancel() }
    }

    // MARK: Legs in

    /// A leg on a route with a call flow is streaming: its NCCO is fetched from the route's `answer_url`
    /// (or is the route's own) and run. Should the answer never come, the leg is closed as `failed`.
    func arrived(_ leg: Leg, route: CallFlowRoute) {
        let session = session(for: leg, application: route.applicationID)
        session.send(.arrival(route))
    }

    /// Runs `ncco` on `leg` in place of what runs there (a `transfer`, a dialled call's NCCO).
    func run(_ ncco: [NCCOAction], on leg: Leg, application: String?) {
        session(for: leg, application: application).send(.flow(.start(ncco)))
    }

    private func session(for leg: Leg, application: String?) -> FlowSession {
        let (session, created) = state.withLock { s -> (FlowSession, Bool) in
            if let existing = s.sessions[leg.id] { return (existing, false) }
            let session = FlowSession(leg: leg, application: application, flows: self)
            s.sessions[leg.id] = session
            return (session, true)
        }
        if created {
            session.start()
            // It may have ended before it was registered: its end then never reaches the session.
            if !leg.isLive { session.send(.flow(.legEnded)) }
        }
        return session
    }

    func finished(_ leg: UUID) {
        state.withLock { s in
            s.sessions[leg] = nil
        }
    }

    // MARK: Conversations

    func joined(_ leg: UUID, _ membership: Membership) {
        state.withLock { $0.memberships[leg] = membership }
        updateConversation(membership.conversation)
    }

    /// The engine's events, to the sessions of their legs; joins, moves and ends update the conversations.
    private func run(_ events: EventSubscription) async {
        var events = events
        while !Task.isCancelled {
            do {
                for try await event in events { dispatch(event) }
                return
            } catch {
                context.logger.error("the call flows fell behind the engine's events", metadata: ["error": "\(error)"])
                events = context.engine.events.subscribe()
            }
        }
    }

    private func dispatch(_ event: EngineEvent) {
        if let session = state.withLock({ $0.sessions[event.leg] }) { session.send(.engine(event)) }
        switch event.kind {
        case .legStarted:
            updateConversation(event.conversation)
        case .legEnded:
            left(event.leg, conversation: event.conversation, ended: true)
        case .transferred(let from):
            left(event.leg, conversation: from, ended: false)
            updateConversation(event.conversation)
        default:
            break
        }
    }

    /// A leg left `conversation`: if it joined with `endOnExit`, the conversation ends — its other legs'
    /// NCCOs go on past their `conversation` (those without an NCCO are hung up).
    private func left(_ leg: UUID, conversation: String, ended: Bool) {
        let membership = state.withLock { s -> Membership? in
            guard let m = s.memberships[leg], m.conversation == conversation else { return nil }
            s.memberships[leg] = nil
            return m
        }
        guard membership?.endOnExit == true else {
            updateConversation(conversation)
            return
        }
        context.logger.info("conversation ended by a leg with endOnExit", metadata: ["conversation": "\(conversation)", "leg": "\(leg)"])
        for other in context.engine.legs(inConversation: conversation) where other.id != leg {
            if let session = state.withLock({ $0.sessions[other.id] }), session.isHolding(in: conversation) {
                session.send(.flow(.conversationEnded))
            } else {
                other.transport.close(reason: "the conversation ended")
            }
        }
    }

    /// Tells every session holding in `conversation` how many others are there and whether it has started
    /// (a leg without `startOnEnter: false` is in it).
    private func updateConversation(_ conversation: String) {
        let legs = context.engine.legs(inConversation: conversation)
        let (started, holding) = state.withLock { s -> (Bool, [FlowSession]) in
            let started = legs.contains { s.memberships[$0.id]?.startOnEnter ?? true }
            return (started, legs.compactMap { s.sessions[$0.id] })
        }
        for session in holding where session.isHolding(in: conversation) {
            session.send(.flow(.conversation(others: legs.count - 1, started: started)))
        }
    }
}

/// A route's call flow settings, read once at startup.
struct CallFlowRoute: Sendable {
    enum Source: Sendable {
        case answer(ApplicationClient.AnswerSource)
        case ncco([NCCOAction])
    }

    let source: Source
    let applicationID: String?
    /// The route's URL as the caller dialled it (the answer request's `to`).
    let to: String
}
