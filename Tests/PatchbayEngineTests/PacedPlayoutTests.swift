import PatchbayEngine
import Testing

/// A service's playout released on Patchbay's clock, tick by tick with a manual clock: one frame per
/// 20 ms on a strict schedule, and — once the service's audio has begun — a frame every period whatever
/// the service does (silence when nothing is queued, known at once), so its listener never hears a hole.
@Suite struct PacedPlayoutTests {
    static let ms: Int64 = 1_000_000
    static let frameBytes = 640

    /// Releases at `now`: what went (true: silence), and when the next is due.
    static func release(_ p: inout PacedPlayout, at now: Int64) -> (frames: [Bool], due: Int64?) {
        var frames: [Bool] = []
        var frame = [UInt8](repeating: 0xFF, count: frameBytes)
        let due = frame.withUnsafeMutableBytes { raw in p.release(at: now, into: raw) { frames.append($0) } }
        return (frames, due)
    }

    static func audio(_ frames: Int, value: UInt8 = 1) -> [UInt8] { [UInt8](repeating: value, count: frames * frameBytes) }

    @Test("nothing before the service's first audio; then one frame per 20 ms, and silence at once when the answer has played")
    func fillsAfterTheAnswer() {
        var p = PacedPlayout(frameBytes: Self.frameBytes, capacityFrames: 100)
        var now: Int64 = 1_000 * Self.ms
        #expect(Self.release(&p, at: now).frames.isEmpty && Self.release(&p, at: now).due == nil, "no audio yet: nothing, no timer")
        _ = Self.audio(3).withUnsafeBytes { p.append($0, at: now) }
        var heard: [Bool] = []
        var due = now
        for _ in 0..<6 {
            now = due
            let r = Self.release(&p, at: now)
            heard += r.frames
            #expect(r.frames.count == 1, "one frame per period")
            due = r.due ?? -1
            #expect(due == now + 20 * Self.ms, "the next exactly a period later")
        }
        #expect(heard == [false, false, false, true, true, true], "the answer, then silence at once")
    }

    @Test("a release that comes late is followed sooner (the average stays 20 ms); one a whole period late starts the schedule again, no burst")
    func strictSchedule() {
        var p = PacedPlayout(frameBytes: Self.frameBytes, capacityFrames: 100)
        let start: Int64 = 1_000 * Self.ms
        _ = Self.audio(20).withUnsafeBytes { p.append($0, at: start) }
        #expect(Self.release(&p, at: start).due == start + 20 * Self.ms)
        // 5 ms late: the next is due 15 ms after it.
        let late = Self.release(&p, at: start + 25 * Self.ms)
        #expect(late.frames.count == 1 && late.due == start + 40 * Self.ms)
        // 2 ms early is within the tolerance.
        #expect(Self.release(&p, at: start + 38 * Self.ms).frames.count == 1)
        // Three periods late: one frame now, the schedule from here.
        let stalled = Self.release(&p, at: start + 120 * Self.ms)
        #expect(stalled.frames.count == 1 && stalled.due == start + 140 * Self.ms)
    }

    @Test("a burst's partial last frame waits for its bytes, silence standing in, and plays padded once no audio has come for 40 ms")
    func partialFrame() {
        var p = PacedPlayout(frameBytes: Self.frameBytes, capacityFrames: 100)
        let start: Int64 = 1_000 * Self.ms
        _ = Self.audio(3).withUnsafeBytes { p.append($0, at: start) }
        var heard: [(silence: Bool, bytes: Int)] = []
        var frame = [UInt8](repeating: 0, count: Self.frameBytes)
        for k in 0..<7 {
            let now = start + Int64(k) * 20 * Self.ms
            // The odd tail of the answer comes at 50 ms.
            if k == 3 { _ = [UInt8](repeating: 1, count: 101).withUnsafeBytes { p.append($0, at: start + 50 * Self.ms) } }
            frame.withUnsafeMutableBytes { raw in
                _ = p.release(at: now, into: raw) { silence in heard.append((silence, raw.filter { $0 != 0 }.count)) }
            }
        }
        // Three frames; at 60 and 80 ms the 101 bytes are not stale yet (silence); at 100 ms they are: padded
        // (100 bytes: the odd one is dropped); then silence.
        #expect(heard.map(\.silence) == [false, false, false, true, true, false, true], "\(heard.map(\.silence))")
        #expect(heard[5].bytes == 100)
        #expect(p.playout.count == 0)
    }

    @Test(
        "a service streaming in real time: its frames go as they arrive, a late one is not replaced by silence, and no timer runs while nothing waits"
    )
    func realTimeService() {
        var p = PacedPlayout(frameBytes: Self.frameBytes, capacityFrames: 100)
        var heard: [Bool] = []
        var now: Int64 = 1_000 * Self.ms
        for k in 0..<6 {
            now += [20, 20, 20, 25, 12, 20][k] * Self.ms  // the fourth frame 5 ms late, the fifth 3 ms early
            _ = Self.audio(1).withUnsafeBytes { p.append($0, at: now) }
            let r = Self.release(&p, at: now)
            heard += r.frames
            #expect(r.frames == [false], "frame \(k) goes as it arrives")
            #expect(r.due == nil, "nothing waits: no timer")
            #expect(Self.release(&p, at: now + 19 * Self.ms).frames.isEmpty, "no silence for a service streaming in real time")
        }
        #expect(!p.sendsAhead)
        // Two frames at once (coalesced by the network): the second waits its turn.
        now += 20 * Self.ms
        _ = Self.audio(2).withUnsafeBytes { p.append($0, at: now) }
        let two = Self.release(&p, at: now)
        #expect(two.frames == [false] && two.due != nil, "the second on a timer: \(two)")
    }

    @Test("after an answer's silence the next answer goes at once and sets the schedule afresh")
    func nextAnswer() {
        var p = PacedPlayout(frameBytes: Self.frameBytes, capacityFrames: 100)
        let start: Int64 = 1_000 * Self.ms
        _ = Self.audio(3).withUnsafeBytes { p.append($0, at: start) }
        #expect(Self.release(&p, at: start).frames == [false])
        #expect(Self.release(&p, at: start + 20 * Self.ms).frames == [false])
        #expect(Self.release(&p, at: start + 40 * Self.ms).frames == [false])
        #expect(Self.release(&p, at: start + 60 * Self.ms).frames == [true])
        _ = Self.audio(3).withUnsafeBytes { p.append($0, at: start + 67 * Self.ms) }
        let next = Self.release(&p, at: start + 67 * Self.ms)
        #expect(next.frames == [false] && next.due == start + 87 * Self.ms, "\(next)")
    }
}
