import Synchronization

/// A fixed-capacity, lock-free single-producer/single-consumer ring of PCM16 samples.
///
/// The producer (a NIO event loop) writes and the consumer (a media shard) reads, each from its own
/// thread, with no lock. When the producer writes more than the free space, the oldest audio is dropped
/// and counted: the producer takes the slots by moving the read index forward with a compare-and-swap,
/// so the consumer's own compare-and-swap fails and it re-reads. Indices are monotonic sample counts
/// (they never wrap in practice: 2^63 samples at 48 kHz is six million years).
///
/// The storage is preallocated at init; `write` and `read` never allocate.
public final class SampleRing: @unchecked Sendable {
    // @unchecked Sendable: the slots are plain memory shared by exactly one producer and one consumer.
    // A slot is written only after the producer owns it (index < read + capacity, established by the
    // acquire/CAS on `readIndex`), and published by the release store of `writeIndex`. A consumer read
    // that raced an overwrite is detected by its failing CAS and discarded, never returned.

    /// The number of samples the ring holds.
    public let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<Int16>
    private let writeIndex = Atomic<Int>(0)
    private let readIndex = Atomic<Int>(0)
    private let droppedSamples = Atomic<Int>(0)

    /// Creates a ring that holds at least `minimumCapacity` samples (rounded up to a power of two).
    public init(minimumCapacity: Int) {
        precondition(minimumCapacity > 0 && minimumCapacity <= 1 << 24, "ring capacity out of range")
        var c = 1
        while c < minimumCapacity { c <<= 1 }
        capacity = c
        mask = c - 1
        storage = .allocate(capacity: c)
        storage.initialize(repeating: 0, count: c)
    }

    deinit {
        storage.deallocate()
    }

    /// Samples written and not yet read (a consumer-side view; the producer may be adding more).
    public var available: Int {
        let r = readIndex.load(ordering: .acquiring)
        let w = writeIndex.load(ordering: .acquiring)
        return w - r
    }

    /// Samples dropped because the producer overran the consumer (oldest audio first).
    public var dropped: Int { droppedSamples.load(ordering: .relaxed) }

    // MARK: Producer

    /// Appends samples, dropping the oldest unread audio if there is not enough room.
    /// - Returns: how many samples were lost to make room (0 unless the ring overflowed).
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Int16>) -> Int {
        write(count: samples.count) { slot, i in slot = samples[i] }
    }

    /// Appends little-endian PCM16 samples decoded straight from the bytes of a frame.
    /// - Returns: how many samples were lost to make room (0 unless the ring overflowed).
    @discardableResult
    public func write(_ frame: PCM16LittleEndian) -> Int {
        write(count: frame.count) { slot, i in slot = frame[i] }
    }

    /// Appends `count` samples of silence (used to conceal a lost frame).
    /// - Returns: how many samples were lost to make room (0 unless the ring overflowed).
    @discardableResult
    public func writeSilence(count: Int) -> Int {
        write(count: count) { slot, _ in slot = 0 }
    }

    @inline(__always)
    private func write(count total: Int, _ fill: (inout Int16, Int) -> Void) -> Int {
        guard total > 0 else { return 0 }
        // More than the ring can hold: only the newest `capacity` samples can survive.
        let skip = max(0, total - capacity)
        var lost = skip
        let n = total - skip
        let w = writeIndex.load(ordering: .relaxed)
        var r = readIndex.load(ordering: .acquiring)
        while w + n - r > capacity {
            let newRead = w + n - capacity
            let (exchanged, original) = readIndex.compareExchange(
                expected: r, desired: newRead, ordering: .acquiringAndReleasing)
            if exchanged {
                lost += newRead - r
                break
            }
            r = original
        }
        for i in 0..<n {
            fill(&storage[(w &+ i) & mask], skip + i)
        }
        writeIndex.store(w + n, ordering: .releasing)
        if lost > 0 { droppedSamples.add(lost, ordering: .relaxed) }
        return lost
    }

    // MARK: Consumer

    /// Moves up to `destination.count` of the oldest samples into `destination`.
    /// - Returns: how many samples were read; the rest of `destination` is left untouched.
    public func read(into destination: UnsafeMutableBufferPointer<Int16>) -> Int {
        while true {
            let r = readIndex.load(ordering: .acquiring)
            let w = writeIndex.load(ordering: .acquiring)
            let n = min(destination.count, w - r)
            if n <= 0 { return 0 }
            let start = r & mask
            let first = min(n, capacity - start)
            destination.baseAddress!.update(from: storage + start, count: first)
            if first < n {
                (destination.baseAddress! + first).update(from: storage, count: n - first)
            }
            // If the producer dropped audio while we copied, our slots may have been overwritten.
            if readIndex.compareExchange(expected: r, desired: r + n, ordering: .acquiringAndReleasing).exchanged {
                return n
            }
        }
    }

    /// Reads exactly `destination.count` samples, zero-padding whatever the ring does not have.
    /// - Returns: how many samples were real audio (the rest are concealment silence).
    public func readFrame(into destination: UnsafeMutableBufferPointer<Int16>) -> Int {
        let n = read(into: destination)
        if n < destination.count {
            (destination.baseAddress! + n).update(repeating: 0, count: destination.count - n)
        }
        return n
    }

    /// Drops everything unread (a `clear`), returning how many samples were discarded.
    @discardableResult
    public func removeAll() -> Int {
        while true {
            let r = readIndex.load(ordering: .acquiring)
            let w = writeIndex.load(ordering: .acquiring)
            if w == r { return 0 }
            if readIndex.compareExchange(expected: r, desired: w, ordering: .acquiringAndReleasing).exchanged {
                return w - r
            }
        }
    }
}
