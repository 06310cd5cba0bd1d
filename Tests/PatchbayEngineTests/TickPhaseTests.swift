import Testing

@testable import PatchbayEngine

/// Where a conversation's tick falls in the 20 ms period: after its legs' arrivals when it mixes, away
/// from them when its audio goes direct. Phases and times in nanoseconds, chosen by the test.
@Suite struct TickPhaseTests {
    static let ms: Int64 = 1_000_000
    static let epoch: UInt64 = 7_000 * 1_000_000

    /// An arrival `phase` into period `k` after the epoch.
    static func at(_ k: Int, _ phase: Int64) -> UInt64 { epoch + UInt64(Int64(k) * TickPhase.period + phase) }

    @Test("a window keeps the latest arrival phase; the same arrival seen twice counts once")
    func window() {
        var w = TickPhase.Window()
        #expect(w.take() == nil)
        for (k, jitter) in [(0, 0), (1, 300_000), (2, -200_000), (3, 900_000), (4, 100_000)].map({ ($0.0, Int64($0.1)) }) {
            w.observe(arrival: Self.at(k, 4 * Self.ms + jitter), epoch: Self.epoch)
            w.observe(arrival: Self.at(k, 4 * Self.ms + jitter), epoch: Self.epoch)
        }
        #expect(w.take() == 4 * Self.ms + 900_000)
        #expect(w.take() == nil, "a fresh window after take")
    }

    @Test("a window across the period's edge: late arrivals wrap to the next period's start")
    func windowWraps() {
        var w = TickPhase.Window()
        w.observe(arrival: Self.at(0, 19 * Self.ms + 800_000), epoch: Self.epoch)
        w.observe(arrival: Self.at(2, 300_000), epoch: Self.epoch)  // 0.5 ms later than the first, wrapped
        w.observe(arrival: Self.at(3, 19 * Self.ms), epoch: Self.epoch)
        #expect(w.take() == 300_000)
    }

    @Test("a mixing tick goes the margin after the arrival that ends the longest quiet stretch")
    func best() {
        #expect(TickPhase.best(arrivals: [Int64]()) == nil)
        #expect(TickPhase.best(arrivals: [3 * Self.ms, 4 * Self.ms]) == 4 * Self.ms + TickPhase.margin)
        #expect(TickPhase.slot(for: 4 * Self.ms + TickPhase.margin) == 6)
        // Across the edge: arrivals at 19.5 and 0.5 ms; the tick after 0.5 ms.
        #expect(TickPhase.best(arrivals: [19 * Self.ms + 500_000, 500_000]) == 2 * Self.ms)
        // Three legs: the longest stretch is 9 → 2 (13 ms), so tick after 9.
        let three: [Int64] = [2 * Self.ms, 6 * Self.ms, 9 * Self.ms]
        #expect(TickPhase.best(arrivals: three) == 9 * Self.ms + TickPhase.margin)
        #expect(TickPhase.longestWait(tickingAt: 11 * Self.ms, arrivals: three) == 9 * Self.ms)
    }

    @Test("a mixing conversation moves only when another slot cuts the longest wait by more than the hysteresis")
    func retime() {
        let arrivals: [Int64] = [3 * Self.ms, 4 * Self.ms]
        #expect(TickPhase.retime(current: 2, arrivals: arrivals) == 6, "ticking just before the arrivals")
        #expect(TickPhase.retime(current: 7, arrivals: arrivals) == 7, "1 ms more wait than slot 6: stays")
        #expect(TickPhase.retime(current: 10, arrivals: arrivals) == 6, "4 ms more wait: moves")
        #expect(TickPhase.retime(current: 10, arrivals: [Int64]()) == 10, "nothing arrived: stays")
    }

    @Test("a direct conversation's tick moves to the middle of the longest quiet stretch when it is near an arrival")
    func retimeDirect() {
        let arrivals: [Int64] = [3 * Self.ms, 4 * Self.ms]
        #expect(TickPhase.retimeDirect(current: 5, arrivals: arrivals) == 14)
        #expect(TickPhase.retimeDirect(current: 12, arrivals: arrivals) == 12, "8 ms from any arrival: stays")
        #expect(TickPhase.retimeDirect(current: 3, arrivals: [Int64]()) == 3)
    }
}
