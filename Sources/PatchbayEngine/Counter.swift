import Synchronization

/// A monotonically increasing count that any thread may bump and read (a metric).
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

/// A value that goes up and down (legs active).
public final class Gauge: Sendable {
    private let storage = Atomic<Int>(0)

    public init() {}

    public var value: Int { storage.load(ordering: .relaxed) }

    public func increment() { storage.add(1, ordering: .relaxed) }
    public func decrement() { storage.subtract(1, ordering: .relaxed) }
}

/// A cumulative histogram with fixed upper bounds, in the Prometheus sense: bucket i counts the
/// observations ≤ bounds[i]; the last, implicit bucket is +Inf.
public final class Histogram: Sendable {
    /// Upper bounds of the buckets, ascending.
    public let bounds: [Double]
    private let buckets: [Counter]
    private let total = Atomic<Int>(0)
    // The sum in integer micro-units so it can be kept atomically.
    private let sumMicro = Atomic<Int>(0)

    public init(bounds: [Double]) {
        precondition(!bounds.isEmpty && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "bounds must ascend")
        self.bounds = bounds
        buckets = (0...bounds.count).map { _ in Counter() }
    }

    /// Records one observation (no allocation, no lock).
    public func observe(_ value: Double) {
        var i = 0
        while i < bounds.count && value > bounds[i] { i += 1 }
        buckets[i].add()
        total.add(1, ordering: .relaxed)
        sumMicro.add(Int((value * 1_000_000).rounded()), ordering: .relaxed)
    }

    /// Observations per bucket (not cumulative); the last entry is the +Inf bucket.
    public var counts: [Int] { buckets.map(\.value) }
    public var count: Int { total.load(ordering: .relaxed) }
    public var sum: Double { Double(sumMicro.load(ordering: .relaxed)) / 1_000_000 }
}
