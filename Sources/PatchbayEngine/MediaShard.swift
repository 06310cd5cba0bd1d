import Dispatch
import Foundation
import Logging
import PatchbayDSP

/// A serial Dispatch queue with one 20 ms clock that ticks every conversation it owns, in one batch.
///
/// The clock is absolute: tick k is due at `epoch + k × 20 ms`, whatever happened to earlier ticks, so a
/// shard never drifts. A late wake-up runs the ticks that fell due (up to `maximumCatchUpTicks`; beyond
/// that it skips ahead and counts the skipped ticks), so every leg still gets one frame per 20 ms of
/// wall time. Lateness and tick cost are recorded in `EngineMetrics`.
final class MediaShard: @unchecked Sendable {
    // @unchecked Sendable: every mutable property below is touched only on `queue`.

    static let tickNanoseconds: UInt64 = 20_000_000
    /// The most ticks one wake-up runs to catch up (100 ms of audio).
    static let maximumCatchUpTicks: UInt64 = 5

    let index: Int
    let queue: DispatchQueue
    private let metrics: EngineMetrics
    private let events: EventHub
    private let logger: Logger
    private let detectDTMF: Bool
    private var timer: (any DispatchSourceTimer)?
    private var epoch: UInt64 = 0
    private var ticksRun: UInt64 = 0
    private var conversations: [Conversation] = []
    private var conversationsByName: [String: Conversation] = [:]
    private var tickItem: DispatchWorkItem!

    init(index: Int, metrics: EngineMetrics, events: EventHub, detectDTMF: Bool, logger: Logger) {
        self.index = index
        queue = DispatchQueue(label: "patchbay.shard.\(index)", qos: .userInteractive)
        self.metrics = metrics
        self.events = events
        self.detectDTMF = detectDTMF
        self.logger = logger
        tickItem = DispatchWorkItem { [unowned self] in tickConversations() }
    }

    func start() {
        queue.async { [self] in
            guard timer == nil else { return }
            let t = DispatchSource.makeTimerSource(flags: .strict, queue: queue)
            epoch = DispatchTime.now().uptimeNanoseconds
            ticksRun = 0
            t.schedule(
                deadline: DispatchTime(uptimeNanoseconds: epoch + Self.tickNanoseconds),
                repeating: .nanoseconds(Int(Self.tickNanoseconds)), leeway: .nanoseconds(0))
            t.setEventHandler { [unowned self] in fire() }
            t.activate()
            timer = t
        }
    }

    func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    /// Adds a leg to its conversation (creating it) on this shard.
    func attach(_ leg: Leg) {
        queue.async { [self] in
            let conversation: Conversation
            if let existing = conversationsByName[leg.conversationName] {
                conversation = existing
            } else {
                conversation = Conversation(name: leg.conversationName, rate: leg.sampleRate)
                conversationsByName[leg.conversationName] = conversation
                conversations.append(conversation)
                metrics.conversationsActive.increment()
            }
            do {
                try conversation.add(leg, detectDTMF: detectDTMF)
            } catch {
                // Every supported pair of rates converts; reaching this is a bug, not bad input.
                logger.error("cannot add leg to conversation", metadata: ["leg": "\(leg.id)", "error": "\(error)"])
            }
        }
    }

    func detach(_ leg: Leg) {
        queue.async { [self] in
            guard let conversation = conversationsByName[leg.conversationName] else { return }
            conversation.remove(leg)
            if conversation.isEmpty {
                conversationsByName[leg.conversationName] = nil
                conversations.removeAll { $0 === conversation }
                metrics.conversationsActive.decrement()
            }
        }
    }

    /// Runs one tick of every conversation now, on the shard's queue, and waits for it (benchmarks and
    /// tests drive a shard this way instead of with its clock).
    func tickNow() {
        // A work item made once: `queue.sync { ... }` would bridge a new block (two allocations) per call.
        queue.sync(execute: tickItem)
    }

    private func tickConversations() {
        for conversation in conversations {
            conversation.tick(metrics: metrics, events: events)
        }
    }

    private func fire() {
        let started = DispatchTime.now().uptimeNanoseconds
        var due = epoch + (ticksRun + 1) * Self.tickNanoseconds
        // Dispatch does not fire early; a wake-up more than a millisecond before the due time is spurious.
        guard started + 1_000_000 >= due else { return }
        if started > due {
            let behind = (started - due) / Self.tickNanoseconds
            if behind > Self.maximumCatchUpTicks {
                let skip = behind - Self.maximumCatchUpTicks
                ticksRun += skip
                metrics.ticksSkipped.add(Int(skip))
                due = epoch + (ticksRun + 1) * Self.tickNanoseconds
            }
        }
        let lateness = started > due ? started - due : 0
        metrics.tickLateness.observe(Double(lateness) / 1e9)
        if lateness > 1_000_000 { metrics.ticksLate.add() }
        while epoch + (ticksRun + 1) * Self.tickNanoseconds <= started + 1_000_000 {
            tickConversations()
            ticksRun += 1
        }
        metrics.tickDuration.observe(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }
}
