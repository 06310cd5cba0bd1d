import Foundation
import Synchronization

/// One application's events waiting for delivery: bounded, first in first out per call, and never
/// more than one event of a call in flight, so each call's events arrive in the order they happened
/// while different calls' events go out side by side.
///
/// `enqueue` never waits (it is called from the event path); workers `take` the next deliverable event
/// and say when it is `done`.
final class WebhookQueue: Sendable {
    struct Event: Sendable {
        let call: UUID
        /// The JSON body, as sent.
        let body: [UInt8]
        /// When it happened (`ContinuousClock`), for the delivery time and the retry deadline.
        let queued: ContinuousClock.Instant
    }

    private struct State {
        /// Each call's waiting events, oldest first.
        var calls: [UUID: [Event]] = [:]
        /// Calls with an event waiting and none in flight, in the order they became ready.
        var ready: [UUID] = []
        var readyHead = 0
        var inFlight = Set<UUID>()
        var waiting = 0
        var closed = false
        var workers: [CheckedContinuation<Event?, Never>] = []

        mutating func popReady() -> Event? {
            while readyHead < ready.count {
                let call = ready[readyHead]
                readyHead += 1
                if readyHead > 1024, readyHead * 2 > ready.count {
                    ready.removeFirst(readyHead)
                    readyHead = 0
                }
                guard var events = calls[call], !events.isEmpty else { continue }
                let event = events.removeFirst()
                calls[call] = events.isEmpty ? nil : events
                inFlight.insert(call)
                waiting -= 1
                return event
            }
            return nil
        }

        /// `call` may go again: to a waiting worker at once, else to the ready list.
        mutating func release(_ call: UUID) {
            guard calls[call] != nil, !inFlight.contains(call) else { return }
            ready.append(call)
            if !workers.isEmpty, let event = popReady() {
                workers.removeFirst().resume(returning: event)
            }
        }
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Events waiting (not counting those in flight).
    var count: Int { state.withLock { $0.waiting } }

    /// Queues an event; false when the queue is full or closed (the event is dropped).
    func enqueue(_ event: Event) -> Bool {
        state.withLock { s in
            guard !s.closed, s.waiting < limit else { return false }
            s.calls[event.call, default: []].append(event)
            s.waiting += 1
            if s.calls[event.call]?.count == 1 { s.release(event.call) }
            return true
        }
    }

    /// The next event to deliver; waits for one. Nil once the queue is closed and empty.
    func take() async -> Event? {
        await withCheckedContinuation { continuation in
            state.withLock { s in
                if let event = s.popReady() {
                    continuation.resume(returning: event)
                } else if s.closed {
                    continuation.resume(returning: nil)
                } else {
                    s.workers.append(continuation)
                }
            }
        }
    }

    /// The event of `call` taken last is delivered (or given up): the call's next may go.
    func done(_ call: UUID) {
        state.withLock { s in
            s.inFlight.remove(call)
            s.release(call)
        }
    }

    /// Takes no more events. Idle workers get nil; those delivering go on with what is queued behind
    /// their calls and whatever else is ready, then get nil.
    func close() {
        state.withLock { s in
            s.closed = true
            for worker in s.workers { worker.resume(returning: nil) }
            s.workers.removeAll()
        }
    }

    /// Empties the queue (the drain's deadline passed): returns how many events were dropped, and
    /// wakes every worker with nil.
    func discard() -> Int {
        state.withLock { s in
            let dropped = s.waiting
            s.calls.removeAll()
            s.ready.removeAll()
            s.readyHead = 0
            s.waiting = 0
            s.closed = true
            for worker in s.workers { worker.resume(returning: nil) }
            s.workers.removeAll()
            return dropped
        }
    }
}
