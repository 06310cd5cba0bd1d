import Synchronization

/// Tells a consumer which legs have work waiting, and wakes it: an event loop that legs have frames to
/// write, or a media shard that legs' audio has arrived.
///
/// Producers `signal` a leg; the consumer `drain`s the legs signalled since its last drain, so it works
/// on exactly those legs, never scanning every leg it holds for the few that are ready. Only the first
/// signal between two drains runs `wake`: a consumer is woken once per batch, however many legs the
/// batch holds. The consumer takes the batch *before* working on it, so a leg signalled meanwhile goes
/// into the next batch and is never stranded. A leg signalled twice in one batch is listed twice; the
/// work it triggers must be idempotent (write what is waiting; forward what has arrived).
///
/// The list sits behind a lock held only to append one reference or to swap two arrays (no allocation
/// once the arrays have grown to the batch size).
public final class LegWaker: Sendable {
    private struct Batch {
        var legs: [Leg] = []
        var spare: [Leg] = []
        var wakePending = false
    }

    private let batch = Mutex(Batch())
    private let wake: @Sendable () -> Void

    /// - Parameter wake: called on the signalling thread; it should hand the drain to the consumer.
    public init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
    }

    /// `leg` has work for the consumer: list it, and wake the consumer unless a wake-up is pending.
    public func signal(_ leg: Leg) {
        let needsWake = batch.withLock { batch in
            batch.legs.append(leg)
            defer { batch.wakePending = true }
            return !batch.wakePending
        }
        if needsWake { wake() }
    }

    /// Calls `body` for every leg signalled since the last drain, in order (on the consumer's thread).
    public func drain(_ body: (Leg) -> Void) {
        var legs = batch.withLock { batch in
            batch.wakePending = false
            let legs = batch.legs
            batch.legs = batch.spare
            batch.spare = []
            return legs
        }
        for leg in legs { body(leg) }
        legs.removeAll(keepingCapacity: true)
        batch.withLock { batch in
            if batch.spare.capacity < legs.capacity { batch.spare = legs }
        }
    }
}
