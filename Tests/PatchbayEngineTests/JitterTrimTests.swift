import Foundation
import MetricsTestKit
import PatchbayDSP
import PatchbayEngine
import Testing

/// A leg's inbound queue gives back the delay a late frame added, once the surplus has lasted a second.
@Suite struct JitterTrimTests {
    private final class Unconnected: LegTransport {
        func send(_ command: LegCommand) {}
        func close(reason: String) {}
    }

    /// An engine that is never started (ticks run when the test says) with one three-leg conversation,
    /// so that audio takes the mixing tick (two legs would pass it on directly; see `DirectRouteTests`).
    private func conversation() -> (Engine, Leg, Leg, TestMetrics) {
        let metrics = TestMetrics()
        let engine = Engine(configuration: .init(shards: 1, detectDTMF: false, metricsFactory: metrics))
        let transport = Unconnected()
        let waker = LegWaker {}
        let talker = Leg(conversationName: "c", sampleRate: 16000, transport: transport, waker: waker)
        let listener = Leg(conversationName: "c", sampleRate: 16000, transport: transport, waker: waker)
        let third = Leg(conversationName: "c", sampleRate: 16000, transport: transport, waker: waker)
        engine.attach(talker)
        engine.attach(listener)
        engine.attach(third)
        engine.synchronize(with: talker.id)
        return (engine, talker, listener, metrics)
    }

    /// Sends frame `k` of a ramp (each sample carries its frame number), as the peer would.
    private func send(_ k: Int, to leg: Leg) {
        let samples = [Int16](repeating: Int16(k), count: 320)
        samples.withUnsafeBytes { leg.receive(PCM16LittleEndian($0)) }
    }

    /// The frame number the listener heard at the last tick.
    private func heard(_ leg: Leg) -> Int16 {
        var frame = [Int16](repeating: -1, count: 320)
        _ = frame.withUnsafeMutableBufferPointer { leg.outbound.read(into: $0) }
        return frame[160]
    }

    @Test("a surplus frame held for a whole second is trimmed once, and the delay drops by one frame")
    func trimsPersistentSurplus() {
        let (engine, talker, listener, metrics) = conversation()
        // One frame arrives late: the tick conceals it, and from then on a second frame always waits.
        send(1, to: talker)
        send(2, to: talker)
        var k = 3
        var delays: [Int] = []
        for _ in 0..<120 {
            engine.tickNow()
            delays.append(k - Int(heard(listener)))
            send(k, to: talker)
            k += 1
        }
        #expect((try? metrics.expectCounter("patchbay_frames_trimmed_total").totalValue) == 1)
        #expect(delays.prefix(40).allSatisfy { $0 == 2 }, "\(delays.prefix(40))")
        #expect(delays.suffix(60).allSatisfy { $0 == 1 }, "\(delays.suffix(60))")
        engine.shutdown()
    }

    @Test("a queue that ran dry within the second is not trimmed: that depth was needed")
    func keepsNeededDepth() {
        let (engine, talker, _, metrics) = conversation()
        send(1, to: talker)
        send(2, to: talker)
        var k = 3
        for tick in 0..<200 {
            engine.tickNow()
            // Every 40 ticks one frame comes a tick late (and the next with it): the extra frame
            // absorbs it, so it is never surplus for a whole second.
            if tick % 40 == 39 { continue }
            send(k, to: talker)
            k += 1
            if tick % 40 == 0, tick > 0 {
                send(k, to: talker)
                k += 1
            }
        }
        #expect((try? metrics.expectCounter("patchbay_frames_trimmed_total").totalValue) ?? 0 == 0)
        #expect(talker.framesConcealed.value == 0)
        engine.shutdown()
    }
}
