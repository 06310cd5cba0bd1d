import Testing

@testable import PatchbayEngine

/// The shard clock's catch-up and skip arithmetic, at chosen instants (no real clock).
@Suite struct TickScheduleTests {
    static let ms: UInt64 = 1_000_000
    static let epoch: UInt64 = 1_000 * ms

    @Test("a wake-up on time runs one tick; the next is due 20 ms later")
    func onTime() {
        var s = TickSchedule(epoch: Self.epoch)
        #expect(s.nextDue == Self.epoch + 20 * Self.ms)
        #expect(s.wake(at: Self.epoch + 20 * Self.ms) == .init(ticks: 1, skipped: 0, latenessNanoseconds: 0, first: 1))
        #expect(s.nextDue == Self.epoch + 40 * Self.ms)
        #expect(s.wake(at: Self.epoch + 40 * Self.ms + 300_000) == .init(ticks: 1, skipped: 0, latenessNanoseconds: 300_000, first: 2))
    }

    @Test("a spurious early wake-up runs nothing; within a millisecond of due counts as due")
    func early() {
        var s = TickSchedule(epoch: Self.epoch)
        #expect(s.wake(at: Self.epoch + 10 * Self.ms).ticks == 0)
        #expect(s.wake(at: Self.epoch + 18 * Self.ms).ticks == 0)
        #expect(s.nextDue == Self.epoch + 20 * Self.ms)
        #expect(s.wake(at: Self.epoch + 19 * Self.ms + 500_000) == .init(ticks: 1, skipped: 0, latenessNanoseconds: 0, first: 1))
    }

    @Test("a late wake-up runs every tick that fell due, so no frame of wall time is lost")
    func catchUp() {
        var s = TickSchedule(epoch: Self.epoch)
        // 67 ms after the epoch: ticks due at 20, 40 and 60 ms.
        #expect(s.wake(at: Self.epoch + 67 * Self.ms) == .init(ticks: 3, skipped: 0, latenessNanoseconds: 47 * Self.ms, first: 1))
        #expect(s.nextDue == Self.epoch + 80 * Self.ms)
        #expect(s.wake(at: Self.epoch + 80 * Self.ms).ticks == 1)
    }

    @Test("more than 100 ms behind: the oldest ticks are skipped and counted, the rest run")
    func skip() {
        var s = TickSchedule(epoch: Self.epoch)
        // Due at 20, 40, ..., 300 ms: 15 ticks. Behind by 14 periods past the first: 9 skipped, 6 run.
        let wake = s.wake(at: Self.epoch + 305 * Self.ms)
        #expect(wake.skipped == 9)
        #expect(wake.ticks == 6)
        #expect(wake.latenessNanoseconds == 105 * Self.ms)
        #expect(wake.first == 10)
        #expect(s.nextDue == Self.epoch + 320 * Self.ms)
        // The clock stays absolute: the next tick is still on the 20 ms grid.
        #expect(s.wake(at: Self.epoch + 320 * Self.ms) == .init(ticks: 1, skipped: 0, latenessNanoseconds: 0, first: 16))
    }

    @Test("over a long run with jittery wake-ups, every 20 ms of wall time gets exactly one tick")
    func noDrift() {
        var s = TickSchedule(epoch: Self.epoch)
        var ran = 0
        var now = Self.epoch
        for k in 0..<UInt64(5_000) {
            // Wake-ups 0..6 ms late in a scrambled order, as a loaded machine's timers are.
            now += 20 * Self.ms
            ran += s.wake(at: now + (k &* 7_919 &* 104_729) % (6 * Self.ms)).ticks
        }
        ran += s.wake(at: now + 10 * Self.ms).ticks  // the next is not due yet
        #expect(ran == 5_000)
    }
}
