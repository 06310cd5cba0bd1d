import Foundation
import Logging
import PatchbayEngine
import PatchbayVoiceAPI
import Synchronization

/// One leg's call flow: a `CallFlow` value and what it asked for that is still under way, driven by one
/// task that takes its inputs in order from a mailbox (the engine's events, answers, timers), so the
/// state machine is only ever touched there.
final class FlowSession: Sendable {
    enum Input: Sendable {
        case arrival(CallFlowRoute)
        case flow(CallFlow.Event)
        case engine(EngineEvent)
        /// A playback's player is in the engine (speech synthesised, a stream fetched and decoded).
        case playerStarted(Int, UUID)
        case tick
    }

    let leg: Leg
    private let application: String?
    private let flows: CallFlows
    private let mailbox: AsyncStream<Input>.Continuation
    private let inputs: Mutex<AsyncStream<Input>?>
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// The conversation the flow holds the leg in (read by `CallFlows` from any thread).
    private let holding = Mutex<String?>(nil)

    init(leg: Leg, application: String?, flows: CallFlows) {
        self.leg = leg
        self.application = application
        self.flows = flows
        let (stream, continuation) = AsyncStream<Input>.makeStream()
        inputs = Mutex(stream)
        mailbox = continuation
    }

    func start() {
        guard
            let stream = inputs.withLock({ s -> AsyncStream<Input>? in
                defer { s = nil }; return s
            })
        else { return }
        let started = Task { [self] in
            var driver = Driver(session: self, context: flows.context)
            for await input in stream {
                driver.take(input)
                if driver.isOver { break }
            }
            driver.finish()
            mailbox.finish()
            flows.finished(leg.id)
        }
        task.withLock { $0 = started }
    }

    func send(_ input: Input) { mailbox.yield(input) }

    func cancel() {
        mailbox.finish()
        task.withLock { $0?.cancel() }
    }

    func isHolding(in conversation: String) -> Bool { holding.withLock { $0 == conversation } }

    fileprivate func setHolding(_ conversation: String?) { holding.withLock { $0 = conversation } }

    fileprivate var applicationID: String? { application }
    fileprivate var callFlows: CallFlows { flows }

    // MARK: The driver

    /// The state the session's task owns.
    private struct Driver {
        let session: FlowSession
        let context: CallFlows.Context
        var flow = CallFlow()
        let clock = ContinuousClock()
        let origin: ContinuousClock.Instant
        /// Flow playback ids and the engine's players.
        var players: [Int: UUID] = [:]
        var playbacks: [UUID: Int] = [:]
        /// Stopped before their player was in the engine.
        var stopped: Set<Int> = []
        /// Players that finished before their start was taken.
        var finishedEarly: Set<UUID> = []
        /// Connect ids and their links, with each endpoint's state.
        var connects: [Int: Connect] = [:]
        var timer: Task<Void, Never>?
        var timerDeadline: Double?
        var conversation: NCCOAction.Conversation?
        /// Flow record ids and the recordings' file ids.
        var recordings: [Int: UUID] = [:]
        var isOver = false
        var logger: Logger

        struct Connect {
            var links: [ServiceLink]
            /// By endpoint URI: answered, ended.
            var endpoints: [String: (answered: Bool, ended: Bool)]
            var reported = false
        }

        init(session: FlowSession, context: CallFlows.Context) {
            self.session = session
            self.context = context
            origin = clock.now
            var logger = context.logger
            logger[metadataKey: "leg"] = "\(session.leg.id.uuidString.lowercased())"
            self.logger = logger
        }

        var leg: Leg { session.leg }

        var now: Double {
            let (s, atto) = (clock.now - origin).components
            return Double(s) + Double(atto) / 1e18
        }

        mutating func take(_ input: Input) {
            switch input {
            case .arrival(let route):
                arrive(route)
                return
            case .flow(let event):
                perform(flow.handle(event, at: now))
            case .tick:
                timerDeadline = nil
                perform(flow.tick(at: now))
            case .playerStarted(let id, let player):
                if stopped.remove(id) != nil {
                    try? context.engine.stopPlayer(player, on: leg.id)
                } else if finishedEarly.remove(player) != nil {
                    perform(flow.handle(.playbackEnded(id), at: now))
                } else {
                    players[id] = player
                    playbacks[player] = id
                    context.recordings?.mark(leg: leg.id, type: "playback_started", fields: ["playback": .number(Double(id))])
                }
            case .engine(let event):
                engine(event)
            }
            if flow.isFinished {
                isOver = true
                return
            }
            schedule()
        }

        mutating func finish() {
            timer?.cancel()
            session.setHolding(nil)
        }

        // MARK: Arrival

        private mutating func arrive(_ route: CallFlowRoute) {
            switch route.source {
            case .ncco(let ncco):
                take(.flow(.start(ncco)))
            case .answer(let source):
                let fields = answerFields(route)
                let signer = session.applicationID.flatMap { context.applications[$0]?.signer }
                let rules = context.rules
                let leg = leg
                let session = session
                let client = context.client
                let ledger = context.ledger
                let logger = logger
                context.background.run {
                    let answer = await client.answer(from: source, fields: fields, signer: signer) { ApplicationClient.readNCCO($0, rules: rules) }
                    switch answer {
                    case .success(let ncco):
                        session.send(.flow(.start(ncco)))
                    case .failure(let failure):
                        logger.error("no NCCO for the leg: closing it", metadata: ["reason": "\(failure.description)"])
                        ledger?.markFailed(leg.id, reason: failure.description)
                        leg.transport.close(reason: "no NCCO: \(failure.description)")
                    }
                }
            }
        }

        /// What the Voice API's answer request carries: `to`, `from`, `uuid`, `conversation_uuid`, and the
        /// fields of the caller's `websocket:connected`.
        private func answerFields(_ route: CallFlowRoute) -> [String: String] {
            var fields = leg.headers
            let record = context.ledger?.live(leg.id)
            fields["uuid"] = leg.id.uuidString.lowercased()
            fields["conversation_uuid"] = record.map { "CON-" + $0.conversationUUID.uuidString.lowercased() } ?? ""
            fields["from"] = record.map { WebhookBody.endpointText($0.from) } ?? WebhookBody.endpointText(CallLedger.caller(leg.headers))
            fields["to"] = record.map { WebhookBody.endpointText($0.to) } ?? route.to
            return fields
        }

        // MARK: The engine's events

        private mutating func engine(_ event: EngineEvent) {
            switch event.kind {
            case .dtmf(let digit, _, _, let detected):
                perform(flow.handle(.digit(digit, source: detected ? .audio : .peer), at: now))
            case .playerFinished(let player, _, _):
                if let id = playbacks.removeValue(forKey: player) {
                    players[id] = nil
                    perform(flow.handle(.playbackEnded(id), at: now))
                } else {
                    finishedEarly.insert(player)
                }
            case .service(let service):
                self.service(service)
            case .legEnded:
                perform(flow.handle(.legEnded, at: now))
            default:
                break
            }
        }

        /// A service's life, to the connect that dialled it: its first answer, and its end once every
        /// endpoint of the connect has ended.
        private mutating func service(_ event: EngineEvent.ServiceEvent) {
            let (uri, answered, ended): (String, Bool, Bool) =
                switch event {
                case .connected(let uri, _, _): (uri, true, false)
                case .closed(let uri, _, _): (uri, false, true)
                case .gaveUp(let uri, _, _): (uri, false, true)
                case .attempt(let uri, _), .attemptFailed(let uri, _, _, _): (uri, false, false)
                }
            guard let id = connects.keys.sorted().last(where: { connects[$0]!.endpoints[uri].map { !$0.ended } ?? false }),
                var connect = connects[id]
            else { return }
            let wasAnswered = connect.endpoints.values.contains { $0.answered }
            if answered { connect.endpoints[uri]?.answered = true }
            if ended { connect.endpoints[uri]?.ended = true }
            connects[id] = connect
            if answered, !wasAnswered { perform(flow.handle(.connected(id), at: now)) }
            if connect.endpoints.values.allSatisfy(\.ended) {
                connects[id] = nil
                let reason: String =
                    switch event {
                    case .closed(_, _, let reason), .gaveUp(_, let reason, _): reason
                    default: "ended"
                    }
                perform(flow.handle(.connectEnded(id, reason: reason, answered: connect.endpoints.values.contains { $0.answered }), at: now))
            }
        }

        // MARK: Doing what the flow asks

        private mutating func perform(_ actions: [CallFlow.Action]) {
            for action in actions { perform(action) }
        }

        private mutating func perform(_ action: CallFlow.Action) {
            switch action {
            case .play(let id, let playback):
                play(id, playback)
            case .stop(let id):
                if let player = players.removeValue(forKey: id) {
                    playbacks[player] = nil
                    try? context.engine.stopPlayer(player, on: leg.id)
                } else {
                    stopped.insert(id)
                }
            case .send(let id, let report, let target, let awaitsAnswer):
                send(id, report, to: target, awaitsAnswer: awaitsAnswer)
            case .join(let conversation):
                join(conversation)
            case .hold(let held):
                leg.isMuted = held || (conversation?.mute ?? false)
                leg.isEarmuffed = held
            case .connect(let id, let connect):
                let endpoints = connect.endpoints.map { e -> WebSocketEndpoint in
                    var e = e
                    e.reconnect = false  // the connect's end is the service's end: its NCCO goes on from there
                    return e
                }
                let links = context.links.connect(endpoints, for: leg)
                var states: [String: (answered: Bool, ended: Bool)] = [:]
                for e in endpoints { states[e.uri] = (false, false) }
                connects[id] = Connect(links: links, endpoints: states)
            case .hangUp(let id):
                if let connect = connects.removeValue(forKey: id) {
                    for link in connect.links { link.stop(reason: "the NCCO's connect timeout or limit passed") }
                }
            case .record(let id, let record):
                self.record(id, record)
            case .stopRecording(let id):
                if let recording = recordings[id] { context.recordings?.stop(recording, reason: "endOnKey") }
            case .close(let reason):
                logger.info("NCCO ended: closing the leg")
                leg.transport.close(reason: reason)
            }
        }

        private mutating func play(_ id: Int, _ playback: CallFlow.Playback) {
            let media = context.media
            let leg = leg
            let session = session
            let logger = logger
            context.background.run {
                do {
                    let player: UUID
                    switch playback {
                    case .talk(let talk): player = try await media.speak(talk, on: leg)
                    case .stream(let stream): player = try await media.startStream(stream, on: leg)
                    case .music(let url): player = try await media.startStream(NCCOAction.Stream(url: url, loop: 0), on: leg)
                    }
                    session.send(.playerStarted(id, player))
                } catch {
                    logger.notice("NCCO audio could not play: going on", metadata: ["error": "\(error)"])
                    session.send(.flow(.playbackEnded(id)))
                }
            }
        }

        private mutating func record(_ id: Int, _ record: NCCOAction.Record) {
            let session = session
            guard let keeper = context.recordings else {
                logger.warning("record: this gateway keeps no recordings (no storage.database): the NCCO goes on")
                perform(flow.handle(.recordEnded(id), at: now))
                return
            }
            let layout: Recordings.Request.Layout =
                !record.split ? .mono : record.channels == 2 ? .split : .perLeg(channels: record.channels)
            let request = Recordings.Request(
                format: .init(record.format), layout: layout, timeOut: record.timeOut, endOnSilence: record.endOnSilence, beepStart: record.beepStart,
                eventTarget: record.eventTarget)
            if let file = keeper.start(request, on: leg, application: session.applicationID, onEnd: { session.send(.flow(.recordEnded(id))) }) {
                recordings[id] = file
            } else {
                perform(flow.handle(.recordEnded(id), at: now))
            }
        }

        private mutating func join(_ conversation: NCCOAction.Conversation) {
            self.conversation = conversation
            let from = leg.conversationName
            do {
                if from != conversation.name {
                    // The record first: the engine's `transferred` event (and its webhook) reads the new UUID.
                    context.ledger?.moved(leg.id, from: from, to: conversation.name)
                    try context.engine.move(leg.id, toConversation: conversation.name)
                }
                leg.isMuted = conversation.mute
                if conversation.canHear != nil || conversation.canSpeak != nil {
                    try context.engine.setAudience(
                        canHear: conversation.canHear.map(Set.init), canSpeak: conversation.canSpeak.map(Set.init), on: leg.id)
                }
            } catch {
                logger.notice("could not join the conversation", metadata: ["conversation": "\(conversation.name)", "error": "\(error)"])
            }
            if conversation.record, let recordings = context.recordings {
                let request = Recordings.Request(
                    format: .mp3, layout: .conversation, timeOut: 7200, endOnSilence: nil, beepStart: false, eventTarget: nil)
                recordings.start(request, on: leg, application: session.applicationID)
            }
            session.setHolding(conversation.name)
            session.callFlows.joined(
                leg.id, .init(conversation: conversation.name, startOnEnter: conversation.startOnEnter, endOnExit: conversation.endOnExit))
        }

        private mutating func send(_ id: Int, _ report: CallFlow.Report, to target: NCCOAction.EventTarget?, awaitsAnswer: Bool) {
            var body: [String: JSONValue] = ["uuid": .string(leg.id.uuidString.lowercased())]
            if let record = context.ledger?.live(leg.id) {
                for (key, value) in WebhookBody.legFields(record) { body[key] = .string(value as? String ?? "\(value)") }
            }
            body["timestamp"] = .string(VoiceAPITime.format(Date()))
            switch report {
            case .input(let digits, let timedOut):
                body["dtmf"] = .object(["digits": .string(digits), "timed_out": .bool(timedOut)])
                body["speech"] = .object(["results": .array([])])
            case .digit(let digit):
                body["dtmf"] = .object(["digits": .string(String(digit)), "timed_out": .bool(false)])
                body["mode"] = .string("asynchronous")
            case .notify(let payload):
                body["payload"] = .object(payload)
            case .connectEnded(let status, let reason):
                body["status"] = .string(status)
                body["reason"] = .string(reason)
            }
            let app = session.applicationID.flatMap { context.applications[$0] }
            let resolved = target ?? app?.eventURL.map { NCCOAction.EventTarget(url: $0) }
            guard let resolved else {
                logger.notice("an NCCO event has nowhere to go (no eventUrl, and the application has no event_url): the NCCO goes on")
                if awaitsAnswer { session.send(.flow(.answered(id, ncco: nil))) }
                return
            }
            let client = context.client
            let rules = context.rules
            let timeout = context.answerTimeout
            let signer = app?.signer
            let session = session
            let fields = body
            context.background.run {
                let ncco = await client.event(fields, to: resolved, timeout: timeout, signer: signer) { ApplicationClient.readNCCO($0, rules: rules) }
                if awaitsAnswer { session.send(.flow(.answered(id, ncco: ncco))) }
            }
        }

        /// One timer, for the flow's earliest deadline.
        private mutating func schedule() {
            let deadline = flow.deadline
            guard deadline != timerDeadline else { return }
            timer?.cancel()
            timer = nil
            timerDeadline = deadline
            guard let deadline else { return }
            let delay = max(0, deadline - now)
            let session = session
            timer = Task {
                try? await Task.sleep(for: .nanoseconds(Int64(delay * 1e9)))
                guard !Task.isCancelled else { return }
                session.send(.tick)
            }
        }
    }
}
