import Dispatch
import Foundation
import Logging
import PatchbayDSP
import Synchronization

/// A serial Dispatch queue with one clock that ticks every conversation it owns once per 20 ms.
///
/// The clock steps in milliseconds: each conversation ticks at one of the 20 slots of the 20 ms period,
/// the one just after its legs' frames arrive (`TickPhase`), so a frame waiting for the mix waits a
/// millisecond or two, not up to a whole period. The shard sleeps until the next slot that has a
/// conversation. The clock is absolute (`TickSchedule`): a late wake-up runs the steps that fell due and
/// skips what is more than 100 ms behind, so every leg still gets one frame per 20 ms of wall time and
/// the shard never drifts. A conversation that moves to another slot (rarely: at its start, or when its
/// legs' arrivals drift) ticks at the new slot's next occurrence, so that one period is shorter than
/// 20 ms: the frame that was waiting for the old slot is taken at once rather than left as a surplus
/// (the leg's delay would grow by that frame until the trim dropped it), and its listeners get that one
/// frame early — within the one frame ahead the Voice API's playout absorbs. Lateness and cost are in
/// `EngineMetrics`.
///
/// Media state (conversations, legs' DSP, players) is guarded by `media`, a lock the shard holds while it
/// ticks or changes it. An event loop that receives audio on the direct route takes the lock only if it
/// is free, and forwards the frame itself, on the spot: no thread hop. If the shard holds it (a tick), the
/// event loop never waits: it signals the shard, which forwards the frame as soon as it is done.
final class MediaShard: @unchecked Sendable {
    // @unchecked Sendable: the schedule, the timer and the conversation lists are touched only on
    // `queue`; conversations, legs' media and players only while `media` is held.

    let index: Int
    let queue: DispatchQueue
    let metrics: EngineMetrics
    private let events: EventHub
    private let logger: Logger
    private let detectDTMF: Bool
    private var timer: (any DispatchSourceTimer)?
    private var schedule = MediaShard.clock(epoch: 0)
    private var conversations: [Conversation] = []
    /// The conversations ticking at each slot of the period.
    private var slots = [[Conversation]](repeating: [], count: TickPhase.slots)
    private var conversationsByName: [String: Conversation] = [:]
    private var tickItem: DispatchWorkItem!
    private let now: @Sendable () -> Int64
    /// Signalled by a leg's I/O when audio arrives: the shard then sends what can go on the direct route
    /// at once, without waiting for a tick. Coalesced: one wake-up for any number of arrivals.
    private(set) var arrivals: LegWaker!
    private let media = Mutex(())

    init(
        index: Int, metrics: EngineMetrics, events: EventHub, detectDTMF: Bool, now: @escaping @Sendable () -> Int64,
        logger: Logger
    ) {
        self.index = index
        queue = DispatchQueue(label: "patchbay.shard.\(index)", qos: .userInteractive)
        self.metrics = metrics
        self.events = events
        self.detectDTMF = detectDTMF
        self.now = now
        self.logger = logger
        tickItem = DispatchWorkItem { [unowned self] in tickConversations() }
        // A plain block per wake-up (one per batch of arrivals the event loops could not forward), not
        // one reused DispatchWorkItem: libdispatch keeps per-submission state in a block object (the
        // queue it was submitted to), so submitting it again while an earlier submission is pending
        // unbalances it. Seen at 400 legs as "trap invalid opcode in libdispatch.so" on an event loop.
        arrivals = LegWaker { [weak self] in
            guard let self else { return }  // a leg that outlived its engine
            queue.async { [weak self] in self?.forwardArrivals() }
        }
    }

    func start() {
        queue.async { [self] in
            guard timer == nil else { return }
            let t = DispatchSource.makeTimerSource(flags: .strict, queue: queue)
            schedule = Self.clock(epoch: DispatchTime.now().uptimeNanoseconds)
            t.schedule(deadline: DispatchTime(uptimeNanoseconds: schedule.nextDue), repeating: .never, leeway: .nanoseconds(0))
            // Weak: an engine dropped without `shutdown` must not leave a timer firing into freed memory.
            t.setEventHandler { [weak self] in self?.fire() }
            t.activate()
            timer = t
        }
    }

    deinit {
        timer?.cancel()
    }

    func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    /// Runs `body` on the shard's queue with the media lock held (control operations on legs' media).
    func withMedia(_ body: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            media.withLock { _ in body() }
        }
    }

    /// Audio arrived for `leg`, whose audio takes the direct route (called on the leg's event loop):
    /// forwarded here and now when the media lock is free, else by the shard right after what it holds
    /// the lock for.
    func arrived(_ leg: Leg) {
        let forwarded: Void? = media.withLockIfAvailable { _ in
            // A leg moved to another shard's conversation is that shard's now (`Engine.move`).
            guard leg.shard === self else { return }
            leg.conversation?.forward(now: now(), metrics: metrics, events: events)
        }
        if forwarded == nil {
            metrics.arrivalsDeferred.increment()
            arrivals.signal(leg)
        }
    }

    /// Adds a leg to its conversation (creating it) on this shard, with the players it brings from a
    /// conversation it was moved out of. A leg that ended meanwhile is not added.
    func attach(_ leg: Leg, players: [Player] = []) {
        withMedia { [self] in
            guard leg.isLive else { return }
            let conversation: Conversation
            if let existing = conversationsByName[leg.conversationName] {
                conversation = existing
            } else {
                conversation = Conversation(name: leg.conversationName, rate: leg.sampleRate)
                conversationsByName[leg.conversationName] = conversation
                conversations.append(conversation)
                // The next slot, until its legs' arrivals say which.
                conversation.slot = Int((schedule.ticksDone + 1) % UInt64(TickPhase.slots))
                slots[conversation.slot].append(conversation)
                metrics.conversationsActive.increment()
            }
            do {
                try conversation.add(leg, detectDTMF: detectDTMF)
                if !players.isEmpty {
                    leg.media?.players = players
                    conversation.updateRoutes()
                }
            } catch {
                // Every supported pair of rates converts; reaching this is a bug, not bad input.
                logger.error("cannot add leg to conversation", metadata: ["leg": "\(leg.id)", "error": "\(error)"])
            }
        }
    }

    /// Takes a leg out of its conversation (ending the conversation with its last leg), then runs `then`.
    func detach(_ leg: Leg, then: @escaping @Sendable () -> Void) {
        withMedia { [self] in
            defer { then() }
            _ = remove(leg)
            // The leg's own recordings end with it.
            for tap in leg.ownTaps { tap.end() }
            for tap in leg.heardTaps { tap.end() }
            leg.ownTaps = []
            leg.heardTaps = []
            for follower in leg.followers { follower.sink.endSource() }
            leg.followers = []
        }
    }

    /// Takes a live leg out of its conversation to move it to another, now: waits for the shard's queue
    /// (call it off every shard's queue).
    /// - Returns: the leg's players, which go with it.
    func moveOut(_ leg: Leg) -> [Player] {
        queue.sync {
            media.withLock { _ in remove(leg) }
        }
    }

    /// With the media lock held.
    private func remove(_ leg: Leg) -> [Player] {
        guard let conversation = conversationsByName[leg.conversationName] else { return [] }
        let players = leg.media?.players ?? []
        conversation.remove(leg)
        if conversation.isEmpty {
            conversationsByName[leg.conversationName] = nil
            conversations.removeAll { $0 === conversation }
            slots[conversation.slot].removeAll { $0 === conversation }
            metrics.conversationsActive.decrement()
        }
        return players
    }

    /// Runs one tick of every conversation now, on the shard's queue, and waits for it (benchmarks and
    /// tests drive a shard this way instead of with its clock).
    func tickNow() {
        // A work item made once: `queue.sync { ... }` would bridge a new block (two allocations) per call.
        queue.sync(execute: tickItem)
    }

    private func tickConversations() {
        media.withLock { _ in
            let now = now()
            for conversation in conversations {
                conversation.tick(now: now, metrics: metrics, events: events)
            }
        }
    }

    /// Forwards what the direct route lets go in the conversations of the legs whose audio arrived.
    private func forwardArrivals() {
        media.withLock { _ in
            let now = now()
            arrivals.drain { leg in
                guard leg.shard === self else { return }
                leg.conversation?.forward(now: now, metrics: metrics, events: events)
            }
        }
    }

    /// The shard's clock: 1 ms steps (`TickPhase.slotNanoseconds`), catching up at most 100 ms, a step
    /// due within 0.2 ms counting as due.
    private static func clock(epoch: UInt64) -> TickSchedule {
        TickSchedule(
            epoch: epoch, period: UInt64(TickPhase.slotNanoseconds), maximumCatchUp: 100, earlyTolerance: 200_000)
    }

    private func fire() {
        let started = DispatchTime.now().uptimeNanoseconds
        let wake = schedule.wake(at: started)
        if wake.ticks > 0 { run(wake, started: started) }
        // Sleep until the next step with a conversation (at most one period: one may join meanwhile).
        var next = schedule.ticksDone + 1
        while next < schedule.ticksDone + UInt64(TickPhase.slots), slots[Int(next % UInt64(TickPhase.slots))].isEmpty {
            next += 1
        }
        timer?.schedule(deadline: DispatchTime(uptimeNanoseconds: schedule.due(next)), repeating: .never, leeway: .nanoseconds(0))
    }

    private func run(_ wake: TickSchedule.Wake, started: UInt64) {
        let steps = UInt64(TickPhase.slots)
        if wake.skipped > 0 { metrics.ticksSkipped.increment(by: (wake.skipped + TickPhase.slots - 1) / TickPhase.slots) }
        var timedLateness = false
        media.withLock { _ in
            for step in wake.first..<(wake.first + UInt64(wake.ticks)) {
                let slot = Int(step % steps)
                guard !slots[slot].isEmpty else { continue }
                if !timedLateness {
                    // Against the first step that had work (the one the timer was set for).
                    timedLateness = true
                    let lateness = started > schedule.due(step) ? started - schedule.due(step) : 0
                    metrics.tickLateness.recordNanoseconds(Int64(lateness))
                    if lateness > 1_000_000 { metrics.ticksLate.increment() }
                }
                let now = now()
                var i = 0
                while i < slots[slot].count {
                    let conversation = slots[slot][i]
                    conversation.tick(now: now, metrics: metrics, events: events)
                    if let retimed = conversation.observeArrivals(epoch: schedule.epoch), retimed != slot {
                        // It ticks at the new slot's next occurrence: one period shorter than 20 ms, so the
                        // frame that waited for the old slot is taken now instead of staying a surplus.
                        slots[slot].remove(at: i)
                        conversation.slot = retimed
                        slots[retimed].append(conversation)
                        continue
                    }
                    i += 1
                }
            }
        }
        metrics.tickDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
    }
}
