import PatchbayDSP
import Synchronization
import Testing

/// The ring under a real producer thread and a real consumer thread, both spinning: CPU-heavy, so it
/// runs in the conformance phase, never beside the real-time integration tests.
@Suite struct SampleRingConcurrencyTests {
    @Test("a producer thread and a consumer thread never see torn or reordered audio")
    func concurrent() async {
        // A small ring, small writes and reads nearly the ring's size keep the producer lapping the
        // consumer mid-copy, the case the read's compare-and-swap exists for.
        let ring = SampleRing(minimumCapacity: 64)
        let finished = DoneFlag()
        let total = 4_000_000
        async let produced: Void = Task.detached {
            var buffer = [Int16](repeating: 0, count: 16)
            var v = 0
            while v < total {
                for i in 0..<16 { buffer[i] = Int16(truncatingIfNeeded: v + i) }
                buffer.withUnsafeBufferPointer { ring.write($0) }
                v += 16
            }
            finished.value.store(true, ordering: .releasing)
        }.value
        let consumed = await Task.detached { () -> (ok: Bool, got: Int) in
            var out = [Int16](repeating: 0, count: 60)
            var got = 0
            var last: Int16?
            var ok = true
            while true {
                let done = finished.value.load(ordering: .acquiring)
                let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
                if n == 0 {
                    if done { break }
                    continue
                }
                // One read returns one contiguous run of the stream, so its samples are consecutive;
                // a torn slot (overwritten while copied) would break the run. Between reads the
                // stream may jump forward by any amount (the producer lapped us and dropped audio).
                for i in 1..<n where out[i] != out[i - 1] &+ 1 { ok = false }
                if let l = last, out[0] == l { ok = false }
                last = out[n - 1]
                got += n
            }
            return (ok, got)
        }.value
        await produced
        #expect(consumed.ok)
        #expect(consumed.got + ring.dropped == total, "read \(consumed.got), dropped \(ring.dropped)")
    }
}

/// Tells the consumer thread that the producer has written everything.
private final class DoneFlag: Sendable {
    let value = Atomic<Bool>(false)
}
