public import CoreMetrics
public import Foundation
import Synchronization

/// Fans engine events out to any number of subscribers: the control plane (webhooks, NCCOs, the digits
/// sent on to services), tests and tools.
///
/// A subscriber gets every event published after it subscribed (or every event of one leg), in the order
/// they were published, or — if it falls `limit` events behind — it is told: its sequence delivers every
/// event before the gap and then throws `EventOverflow` with the count it missed, so a control consumer
/// fails safe (and the miss is counted) instead of waiting for an event that was silently dropped.
/// Publishing never waits for a subscriber. It takes short locks and may allocate: events are rare (a
/// digit, a leg starting), so a shard may publish from a tick; audio never goes through here.
public final class EventHub: Sendable {
    /// How far a subscriber may fall behind before it is told it has missed events.
    public static let defaultLimit = 65_536

    private struct State {
        var next = 0
        var inboxes: [Int: EventInbox] = [:]
        var finished = false
    }

    private let state = Mutex(State())
    private let missed: CoreMetrics.Counter?

    /// - Parameter missed: counts the events subscribers missed (`patchbay_events_missed_total`).
    public init(missed: CoreMetrics.Counter? = nil) {
        self.missed = missed
    }

    /// Every event published from now on (only those of `leg`, when given); the sequence ends when the
    /// hub is finished, and throws `EventOverflow` if the subscriber falls `limit` events behind.
    public func subscribe(leg: UUID? = nil, limit: Int = defaultLimit) -> EventSubscription {
        let inbox = EventInbox(limit: max(1, limit), leg: leg, missed: missed)
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            defer { state.next += 1 }
            state.inboxes[state.next] = inbox
            return state.next
        }
        if id == nil { inbox.finish() }
        return EventSubscription(inbox: inbox) { [weak self] in
            guard let id else { return }
            _ = self?.state.withLock { $0.inboxes.removeValue(forKey: id) }
        }
    }

    public func publish(_ event: EngineEvent) {
        let inboxes = state.withLock { Array($0.inboxes.values) }
        for inbox in inboxes where inbox.leg == nil || inbox.leg == event.leg {
            inbox.deliver(event)
        }
    }

    /// Ends every subscriber's sequence (after the events already delivered to it), and every later one's.
    public func finish() {
        let inboxes = state.withLock { state in
            state.finished = true
            defer { state.inboxes.removeAll() }
            return Array(state.inboxes.values)
        }
        for inbox in inboxes { inbox.finish() }
    }
}

/// A subscriber fell too far behind: every event before the gap was delivered, these were not.
public struct EventOverflow: Error, Equatable, CustomStringConvertible {
    /// Events published while the subscriber's queue was full.
    public let missed: Int

    public var description: String { "fell behind the engine's events: \(missed) missed" }
}

/// One subscriber's events (`EventHub.subscribe`), as an asynchronous sequence for one consumer.
/// Unsubscribes when it goes.
public final class EventSubscription: AsyncSequence, Sendable {
    public typealias Element = EngineEvent
    public typealias Failure = EventOverflow

    private let inbox: EventInbox
    private let cancel: @Sendable () -> Void

    init(inbox: EventInbox, cancel: @escaping @Sendable () -> Void) {
        self.inbox = inbox
        self.cancel = cancel
    }

    deinit {
        cancel()
        inbox.finish()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        // Keeps the subscription (and so the subscriber's place in the hub) alive while it is iterated.
        let subscription: EventSubscription

        public mutating func next(isolation actor: isolated (any Actor)? = #isolation) async throws(EventOverflow) -> EngineEvent? {
            try await subscription.inbox.next().get()
        }

        public mutating func next() async throws(EventOverflow) -> EngineEvent? {
            try await subscription.inbox.next().get()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscription: self) }

    /// Events waiting to be taken.
    public var backlog: Int { inbox.backlog }
}

/// A subscriber's queue: bounded, in order, one consumer.
final class EventInbox: Sendable {
    private struct State {
        var queue: [EngineEvent] = []
        var head = 0
        var waiter: CheckedContinuation<Result<EngineEvent?, EventOverflow>, Never>?
        var finished = false
        /// Events dropped since the queue filled; reported once the queue before them is taken.
        var missed = 0
    }

    let limit: Int
    let leg: UUID?
    private let missedCounter: CoreMetrics.Counter?
    private let state = Mutex(State())

    init(limit: Int, leg: UUID?, missed: CoreMetrics.Counter?) {
        self.limit = limit
        self.leg = leg
        missedCounter = missed
    }

    var backlog: Int { state.withLock { $0.queue.count - $0.head } }

    func deliver(_ event: EngineEvent) {
        let (waiter, dropped) = state.withLock { s -> (CheckedContinuation<Result<EngineEvent?, EventOverflow>, Never>?, Bool) in
            guard !s.finished else { return (nil, false) }
            if let waiter = s.waiter {
                s.waiter = nil
                return (waiter, false)
            }
            guard s.missed == 0, s.queue.count - s.head < limit else {
                s.missed += 1
                return (nil, true)
            }
            s.queue.append(event)
            return (nil, false)
        }
        if dropped { missedCounter?.increment() }
        waiter?.resume(returning: .success(event))
    }

    func finish() {
        let waiter = state.withLock { s in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: .success(nil))
    }

    /// The next event; nil at the end (the hub finished, or the consumer's task was cancelled).
    func next() async -> Result<EngineEvent?, EventOverflow> {
        if let ready = state.withLock({ take(&$0) }) { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { s -> Result<EngineEvent?, EventOverflow>? in
                    if let ready = take(&s) { return ready }
                    if Task.isCancelled {
                        s.finished = true
                        return .success(nil)
                    }
                    s.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// What can be answered without waiting, if anything.
    private func take(_ s: inout State) -> Result<EngineEvent?, EventOverflow>? {
        if s.head < s.queue.count {
            let event = s.queue[s.head]
            s.head += 1
            if s.head == s.queue.count {
                s.queue.removeAll(keepingCapacity: s.queue.count <= 1024)
                s.head = 0
            } else if s.head >= 4096, s.head * 2 >= s.queue.count {
                s.queue.removeFirst(s.head)
                s.head = 0
            }
            return .success(event)
        }
        if s.missed > 0 {
            let missed = s.missed
            s.missed = 0
            s.finished = true
            return .failure(EventOverflow(missed: missed))
        }
        return s.finished ? .success(nil) : nil
    }
}
