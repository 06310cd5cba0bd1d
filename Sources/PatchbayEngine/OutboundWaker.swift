import Synchronization

/// Tells a consumer that work is waiting for it: an event loop that legs' frames are ready to write, or a
/// media shard that audio has arrived.
///
/// Only the first signal between two `acknowledge` calls runs `wake`, so an event loop holding many legs
/// is woken once per tick, not once per leg, and a shard once per burst of arrivals. The consumer
/// acknowledges *before* it drains, so work added while it drains signals again and is never stranded.
public final class OutboundWaker: Sendable {
    private let pending = Atomic<Bool>(false)
    private let wake: @Sendable () -> Void

    /// - Parameter wake: called on the signalling thread; it should hand the drain to the I/O context.
    public init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
    }

    /// Frames are waiting: wake the I/O context unless a wake-up is already pending.
    public func signal() {
        if !pending.exchange(true, ordering: .acquiringAndReleasing) {
            wake()
        }
    }

    /// The I/O context is about to drain: later signals wake it again.
    public func acknowledge() {
        pending.store(false, ordering: .releasing)
    }
}
