import Foundation

/// The NCCO engine for one leg, as a value: events in, actions out, time given by the caller (seconds on
/// any monotonic clock). No I/O, no clock, no sockets: the server's driver performs the actions and feeds
/// back what happened, and the tests run it tick by tick.
///
/// The Voice API's rules:
/// - the actions run in order; `talk` and `stream` play to their end before the next one — with
///   `bargeIn: true` they go on under the next action (an `input`, as the reader requires) and stop at
///   the caller's first digit, which that input counts;
/// - `input` collects digits until `maxDigits`, `#` (with `submitOnHash`) or `timeOut` seconds without a
///   digit (counted from the start, or from the end of the prompts playing under it), then sends them and
///   waits for the answer; `mode: asynchronous` sends each digit as it comes and goes on at once;
/// - `notify` sends its payload and waits for the answer; an answer that is an NCCO replaces the rest of
///   the running one (so does a `transfer`, `start` again), an empty one lets it go on;
/// - `wait` pauses; `conversation` moves the leg and holds it there (music on hold until another leg is
///   in and the conversation has started) until the conversation is ended by a leg with `endOnExit`;
/// - `record` starts recording the leg; with an end condition (`endOnSilence`, `endOnKey`, `timeOut`)
///   the NCCO waits until it ends (its key, pressed, ends it and counts for nothing else), without one
///   it goes on at once and the recording runs until the call ends;
/// - `connect` dials services into the leg's conversation; with `eventType: synchronous` the NCCO waits
///   until the connected leg ends, reports the end to `eventUrl` and takes its answer;
/// - when the NCCO has run out and nothing keeps the leg (no connected service), the leg is closed.
public struct CallFlow: Sendable {
    /// A digit's source: the gateway's detector on the leg's audio, or the peer's `websocket:dtmf`.
    public enum DigitSource: Sendable, Equatable {
        case audio
        case peer
    }

    /// Audio the flow plays into the leg.
    public enum Playback: Sendable, Equatable {
        case talk(NCCOAction.Talk)
        case stream(NCCOAction.Stream)
        /// A conversation's `musicOnHoldUrl`, looped until stopped.
        case music(url: String)
    }

    /// What the flow sends to the application.
    public enum Report: Sendable, Equatable {
        /// An `input`'s result (`dtmf: {digits, timed_out}`).
        case input(digits: String, timedOut: Bool)
        /// One digit of an asynchronous `input`.
        case digit(Character)
        /// A `notify`'s payload.
        case notify([String: JSONValue])
        /// A synchronous `connect`'s leg ended (`status`: `completed`, `failed` or `timeout`).
        case connectEnded(status: String, reason: String)
    }

    public enum Event: Sendable, Equatable {
        /// Runs `ncco` in place of whatever runs now (the first NCCO, an answer's, a `transfer`).
        case start([NCCOAction])
        /// A playback the flow asked for finished, was stopped or could not play.
        case playbackEnded(Int)
        case digit(Character, source: DigitSource)
        /// The application answered report `id`: an NCCO (replaces the rest) or nothing (go on). A
        /// report that could not be delivered is answered with nothing.
        case answered(Int, ncco: [NCCOAction]?)
        /// The leg's conversation now: how many other legs are in it, and whether it has started (a leg
        /// that starts it, `startOnEnter`, is in).
        case conversation(others: Int, started: Bool)
        /// The conversation the leg holds in was ended (a leg with `endOnExit` left it).
        case conversationEnded
        /// Connect `id`'s service answered.
        case connected(Int)
        /// Connect `id`'s service leg ended, or could not be reached (`answered` false).
        case connectEnded(Int, reason: String, answered: Bool)
        /// Recording `id` ended (its end condition, the call, or a failure).
        case recordEnded(Int)
        /// The leg is gone: nothing more is done.
        case legEnded
    }

    public enum Action: Sendable, Equatable {
        case play(Int, Playback)
        case stop(Int)
        /// Send `report` to `target` (nil: the application's event URL). When `awaitsAnswer`, the flow
        /// waits for `.answered(id, ...)`.
        case send(Int, Report, to: NCCOAction.EventTarget?, awaitsAnswer: Bool)
        /// Move the leg into the conversation (with its mute, canHear, canSpeak, endOnExit, startOnEnter).
        case join(NCCOAction.Conversation)
        /// Hold the leg out of its conversation (`startOnEnter: false` until it starts), or let it in.
        case hold(Bool)
        case connect(Int, NCCOAction.Connect)
        /// Hang up connect `id`'s service (its `timeout` or `limit` passed).
        case hangUp(Int)
        /// Start recording `id`.
        case record(Int, NCCOAction.Record)
        /// End recording `id` now (its `endOnKey` was pressed).
        case stopRecording(Int)
        /// Close the leg: the NCCO has run out.
        case close(reason: String)
    }

    private enum Step: Sendable {
        /// Between actions, or before the first.
        case next
        case playing(Int)
        case collecting(Collecting)
        case answering(Int)
        case waiting(until: Double)
        case holding(Holding)
        case connecting(Int)
        /// A synchronous `record` runs.
        case recording(Int)
        /// The NCCO has run out.
        case done
        case ended
    }

    private struct Collecting: Sendable {
        var input: NCCOAction.Input
        var digits = ""
        /// Nil while a prompt under it still plays.
        var deadline: Double?
    }

    private struct Holding: Sendable {
        var conversation: NCCOAction.Conversation
        var others = 0
        var started = false
        var held = false
    }

    private struct Connection: Sendable {
        var connect: NCCOAction.Connect
        var answered = false
        /// The answer's timeout, then the limit.
        var deadline: Double
    }

    private var actions: [NCCOAction] = []
    private var index = 0
    private var step = Step.next
    private var nextID = 1
    /// `bargeIn` prompts playing under the current action.
    private var prompts: [Int] = []
    private var music: Int?
    /// An asynchronous input, reporting each digit.
    private var asynchronousInput: NCCOAction.Input?
    private var connections: [Int: Connection] = [:]
    /// Recordings under way that a key ends.
    private var keyedRecordings: [Int: Character] = [:]
    private var digits = DigitDeduplicator()

    public init() {}

    /// Whether the flow has nothing more to do (the leg ended, or was closed).
    public var isFinished: Bool {
        if case .ended = step { return true }
        return false
    }

    /// The earliest time `tick` has something to do, if any.
    public var deadline: Double? {
        var earliest: Double?
        func consider(_ t: Double?) {
            guard let t else { return }
            earliest = min(earliest ?? t, t)
        }
        switch step {
        case .collecting(let c): consider(c.deadline)
        case .waiting(let until): consider(until)
        default: break
        }
        for connection in connections.values { consider(connection.deadline) }
        return earliest
    }

    /// What happens at `now`: the deadlines that have passed.
    public mutating func tick(at now: Double) -> [Action] {
        var out: [Action] = []
        for (id, connection) in connections.sorted(by: { $0.key < $1.key }) where connection.deadline <= now {
            out.append(.hangUp(id))
            connections[id] = nil
            connectionEnded(
                id, connection, status: connection.answered ? "completed" : "timeout",
                reason: connection.answered ? "limit reached" : "not answered in time", into: &out)
        }
        switch step {
        case .collecting(let c) where (c.deadline ?? .infinity) <= now:
            submit(c, timedOut: true, at: now, into: &out)
        case .waiting(let until) where until <= now:
            advance(at: now, into: &out)
        default:
            break
        }
        return out
    }

    public mutating func handle(_ event: Event, at now: Double) -> [Action] {
        var out: [Action] = []
        if case .ended = step { return out }
        switch event {
        case .start(let ncco):
            leaveCurrent(into: &out)
            actions = ncco
            index = 0
            step = .next
            advance(at: now, into: &out)
        case .playbackEnded(let id):
            if let i = prompts.firstIndex(of: id) {
                prompts.remove(at: i)
                if prompts.isEmpty, case .collecting(var c) = step, c.deadline == nil {
                    c.deadline = now + c.input.timeOut
                    step = .collecting(c)
                }
            } else if music == id {
                music = nil
            } else if case .playing(id) = step {
                advance(at: now, into: &out)
            }
        case .digit(let digit, let source):
            guard digits.accept(digit, from: source, at: now) else { break }
            if let (id, _) = keyedRecordings.sorted(by: { $0.key < $1.key }).first(where: { $0.value == digit }) {
                keyedRecordings[id] = nil
                out.append(.stopRecording(id))
                break
            }
            digitReceived(digit, at: now, into: &out)
        case .recordEnded(let id):
            keyedRecordings[id] = nil
            if case .recording(id) = step { advance(at: now, into: &out) }
        case .answered(let id, let ncco):
            guard case .answering(id) = step else { break }
            if let ncco, !ncco.isEmpty {
                actions = ncco
                index = 0
            }
            advance(at: now, into: &out)
        case .conversation(let others, let started):
            guard case .holding(var h) = step else { break }
            h.others = others
            h.started = started
            step = .holding(h)
            updateHolding(into: &out)
        case .conversationEnded:
            guard case .holding = step else { break }
            leaveCurrent(into: &out)
            advance(at: now, into: &out)
        case .connected(let id):
            guard var connection = connections[id], !connection.answered else { break }
            connection.answered = true
            connection.deadline = now + connection.connect.limit
            connections[id] = connection
        case .connectEnded(let id, let reason, let answered):
            guard let connection = connections.removeValue(forKey: id) else { break }
            connectionEnded(id, connection, status: answered ? "completed" : "failed", reason: reason, into: &out)
        case .legEnded:
            step = .ended
            connections = [:]
            prompts = []
            keyedRecordings = [:]
        }
        return out
    }

    // MARK: Running the actions

    /// Runs actions from `index` until one has to wait (or the NCCO runs out).
    private mutating func advance(at now: Double, into out: inout [Action]) {
        while index < actions.count {
            let action = actions[index]
            index += 1
            switch action {
            case .talk(let talk):
                let id = take()
                out.append(.play(id, .talk(talk)))
                if talk.bargeIn {
                    prompts.append(id)
                } else {
                    step = .playing(id)
                    return
                }
            case .stream(let stream):
                let id = take()
                out.append(.play(id, .stream(stream)))
                if stream.bargeIn {
                    prompts.append(id)
                } else {
                    step = .playing(id)
                    return
                }
            case .input(let input):
                if input.asynchronous {
                    asynchronousInput = input
                    continue
                }
                asynchronousInput = nil
                step = .collecting(Collecting(input: input, deadline: prompts.isEmpty ? now + input.timeOut : nil))
                return
            case .notify(let notify):
                let id = take()
                out.append(.send(id, .notify(notify.payload), to: notify.eventTarget, awaitsAnswer: true))
                step = .answering(id)
                return
            case .wait(let seconds):
                step = .waiting(until: now + seconds)
                return
            case .conversation(let conversation):
                out.append(.join(conversation))
                var h = Holding(conversation: conversation)
                if !conversation.startOnEnter {
                    h.held = true
                    out.append(.hold(true))
                }
                step = .holding(h)
                updateHolding(into: &out)
                return
            case .record(let record):
                let id = take()
                if let key = record.endOnKey { keyedRecordings[id] = key }
                out.append(.record(id, record))
                if record.synchronous {
                    step = .recording(id)
                    return
                }
            case .connect(let connect):
                let id = take()
                connections[id] = Connection(connect: connect, deadline: now + connect.timeout)
                out.append(.connect(id, connect))
                if connect.synchronous {
                    step = .connecting(id)
                    return
                }
            }
        }
        stopPrompts(into: &out)
        step = .done
        closeIfNothingKeeps(into: &out)
    }

    private mutating func take() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    private mutating func digitReceived(_ digit: Character, at now: Double, into out: inout [Action]) {
        stopPrompts(into: &out)
        if asynchronousInput != nil {
            out.append(.send(take(), .digit(digit), to: asynchronousInput?.eventTarget, awaitsAnswer: false))
        }
        guard case .collecting(var c) = step else { return }
        if digit == "#", c.input.submitOnHash {
            submit(c, timedOut: false, at: now, into: &out)
            return
        }
        c.digits.append(digit)
        if c.digits.count >= c.input.maxDigits {
            submit(c, timedOut: false, at: now, into: &out)
            return
        }
        c.deadline = now + c.input.timeOut
        step = .collecting(c)
    }

    private mutating func submit(_ c: Collecting, timedOut: Bool, at now: Double, into out: inout [Action]) {
        stopPrompts(into: &out)
        let id = take()
        out.append(.send(id, .input(digits: c.digits, timedOut: timedOut), to: c.input.eventTarget, awaitsAnswer: true))
        step = .answering(id)
    }

    private mutating func stopPrompts(into out: inout [Action]) {
        for id in prompts { out.append(.stop(id)) }
        prompts = []
    }

    /// Music on hold plays while the leg is alone or the conversation has not started; a leg that waits
    /// for the start is held out until then.
    private mutating func updateHolding(into out: inout [Action]) {
        guard case .holding(var h) = step else { return }
        if h.held, h.started {
            h.held = false
            out.append(.hold(false))
        }
        let wantsMusic = h.conversation.musicOnHoldURL != nil && (h.others == 0 || !h.started)
        if wantsMusic, music == nil, let url = h.conversation.musicOnHoldURL {
            let id = take()
            music = id
            out.append(.play(id, .music(url: url)))
        } else if !wantsMusic, let id = music {
            music = nil
            out.append(.stop(id))
        }
        step = .holding(h)
    }

    /// What the current action leaves behind when the flow moves on from it (a new NCCO, the end of its
    /// conversation): its playback stopped, a hold lifted, an answer no longer awaited.
    private mutating func leaveCurrent(into out: inout [Action]) {
        switch step {
        case .playing(let id):
            out.append(.stop(id))
        case .holding(let h):
            if h.held { out.append(.hold(false)) }
        default:
            break
        }
        if let id = music {
            music = nil
            out.append(.stop(id))
        }
        stopPrompts(into: &out)
        if case .connecting(let id) = step, connections[id] != nil {
            // A new NCCO does not wait for it; the service stays connected, as a transfer leaves it.
            connections[id]?.connect.synchronous = false
        }
        step = .next
    }

    /// A connected service's leg is over: a synchronous connect reports it and takes the answer; otherwise
    /// the leg may now have nothing that keeps it.
    private mutating func connectionEnded(
        _ id: Int, _ connection: Connection, status: String, reason: String, into out: inout [Action]
    ) {
        if case .connecting(id) = step {
            let report = take()
            out.append(
                .send(report, .connectEnded(status: status, reason: reason), to: connection.connect.eventTarget, awaitsAnswer: true))
            step = .answering(report)
            return
        }
        closeIfNothingKeeps(into: &out)
    }

    private mutating func closeIfNothingKeeps(into out: inout [Action]) {
        guard case .done = step, connections.isEmpty else { return }
        step = .ended
        out.append(.close(reason: "the NCCO ended"))
    }
}

/// One press counted once when both sources report it: a digit from one source matches an earlier
/// report of the same digit from the other source within `window` seconds that nothing matched yet.
/// Repeats from one source always count (a caller pressing 1 twice).
public struct DigitDeduplicator: Sendable {
    private struct Report: Sendable {
        let digit: Character
        let source: CallFlow.DigitSource
        let time: Double
        var matched = false
    }

    public var window: Double
    private var recent: [Report] = []

    public init(window: Double = 1.5) {
        self.window = window
    }

    /// Whether the report is a new press (false: the other source already reported it).
    public mutating func accept(_ digit: Character, from source: CallFlow.DigitSource, at now: Double) -> Bool {
        recent.removeAll { now - $0.time > window }
        if let i = recent.firstIndex(where: { $0.digit == digit && $0.source != source && !$0.matched }) {
            recent[i].matched = true
            return false
        }
        recent.append(Report(digit: digit, source: source, time: now))
        return true
    }
}
