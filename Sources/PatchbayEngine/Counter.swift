import Synchronization

/// A monotonically increasing count that any thread may bump and read: a leg's own tallies (the
/// engine-wide metrics go through swift-metrics, `EngineMetrics`).
public final class Counter: Sendable {
    private let storage = Atomic<Int>(0)

    public init() {}

    /// The current count.
    public var value: Int { storage.load(ordering: .relaxed) }

    /// Adds `amount` (relaxed: counters order nothing).
    @inlinable public func add(_ amount: Int = 1) {
        _add(amount)
    }

    @usableFromInline func _add(_ amount: Int) {
        storage.add(amount, ordering: .relaxed)
    }
}
