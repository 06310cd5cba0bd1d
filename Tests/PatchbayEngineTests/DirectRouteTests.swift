import Foundation
import PatchbayDSP
import PatchbayEngine
import Testing

/// Two-leg conversations where each leg hears only the other: audio passes as it arrives, paced, with no
/// mixing tick in between. The clock is the harness's: it moves 20 ms per tick and nowhere else.
@Suite struct DirectRouteTests {
    @Test("a frame reaches the other leg as it arrives, before any tick")
    func noTickNeeded() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.send(1234, from: a)
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 1234 })
        h.wait(milliseconds: 20)
        h.send(-77, from: b)
        #expect(h.lastHeard(by: a).allSatisfy { $0 == -77 })
        #expect(b.framesOut.value == 1 && a.framesOut.value == 1)
    }

    @Test("audio is resampled straight to the listener's rate, 8 to 24 kHz, at unity gain")
    func resampled() {
        let h = EngineHarness()
        let narrow = h.leg(rate: 8000), wide = h.leg(rate: 24000)
        var heard: [Int16] = []
        for k in 0..<30 {
            let frame = (0..<160).map { i in Int16((8000 * sin(2 * Double.pi * 1000 * Double(160 * k + i) / 8000)).rounded()) }
            h.send(frame, from: narrow)
            heard += h.lastHeard(by: wide)
            h.tick()
            _ = h.heard(by: narrow)
        }
        #expect(heard.count == 30 * 480)
        let peak = heard.suffix(24000 / 5).map { abs(Int($0)) }.max() ?? 0
        #expect((7800...8200).contains(peak), "peak \(peak)")
    }

    @Test("a burst leaves at most one frame ahead of a 20 ms schedule; the rest wait for their turn")
    func burstIsPaced() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.send([Int16](repeating: 100, count: 320) + [Int16](repeating: 200, count: 320) + [Int16](repeating: 300, count: 320), from: a)
        #expect(h.heard(by: b).map { $0[0] } == [100, 200])
        h.tick()
        #expect(h.heard(by: b).map { $0[0] } == [300])
        h.tick()
        #expect(h.heard(by: b).isEmpty, "the next frame is not overdue yet")
        #expect(a.framesConcealed.value == 0)
    }

    @Test("a listener switched from the mixing tick to the direct route starts with full credit: the tick's sends hold nothing back")
    func switchRefillsCredit() {
        let h = EngineHarness()
        let a = h.leg()
        h.tick()  // alone: a hears the tick's (silent) mix
        h.wait(milliseconds: 10)
        h.engine.tickNow()  // a tick 10 ms after the last: little credit left
        _ = h.heard(by: a)
        let b = h.leg()  // two legs: b's audio goes straight to a
        h.wait(milliseconds: 5)
        for k in 0..<5 {
            h.send(Int16(100 + k), from: b)
            #expect(h.heard(by: a).map { $0[0] } == [Int16(100 + k)], "frame \(k) held back")
            h.wait(milliseconds: 20)
        }
    }

    @Test("when the source falls silent, silence stands in once a frame is 40 ms overdue, then every 20 ms")
    func concealment() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.send(500, from: a)
        #expect(h.heard(by: b).count == 1)
        h.tick(2)  // 20 and 40 ms: the next frame is due, then late, not yet overdue
        #expect(h.heard(by: b).isEmpty)
        h.tick()  // 60 ms: overdue
        #expect(h.heard(by: b).map { $0[0] } == [0])
        h.tick(3)
        #expect(h.heard(by: b).count == 3)
        #expect(a.framesConcealed.value == 4)
        // The source comes back: its frame goes at once.
        h.wait(milliseconds: 5)
        h.send(600, from: a)
        #expect(h.heard(by: b).map { $0[0] } == [600])
    }

    @Test("a source that starts after silence stood in sets the schedule: its frames 3 ms after the silence, and one 8 ms early, go at once")
    func sourceStartSetsSchedule() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.tick(2)  // b has sent nothing: silence stands in toward a at every tick
        #expect(h.heard(by: a).map { $0[0] } == [0, 0])
        h.wait(milliseconds: 3)  // b starts 3 ms after the last silence (a service's first answer)
        for (k, gap) in ([20, 20, 12, 20, 20] as [Int64]).enumerated() {
            h.send(Int16(100 + k), from: b)
            #expect(h.heard(by: a).map { $0[0] } == [Int16(100 + k)], "frame \(k) held back")
            h.wait(milliseconds: gap)  // the fourth frame comes 8 ms early
        }
        // Quiet again for longer than restartAfter (silence standing in), then a new answer at another phase.
        for _ in 0..<15 {
            h.tick()
            _ = h.heard(by: a)  // as a's writer would (its ring holds a few frames only)
        }
        h.wait(milliseconds: 3)
        for k in 0..<3 {
            h.send(Int16(200 + k), from: b)
            #expect(h.heard(by: a).map { $0[0] } == [Int16(200 + k)], "restart frame \(k) held back")
            h.wait(milliseconds: k == 0 ? 14 : 20)
        }
    }

    @Test("mute and earmuff send the audio through the mixing tick; a player is mixed into the direct route")
    func switchesToMixing() throws {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.tick()
        _ = h.heard(by: a) + h.heard(by: b)
        a.isMuted = true
        h.send(1000, from: a)
        #expect(h.heard(by: b).isEmpty)
        h.tick()
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 0 }, "a muted leg is not heard")
        a.isMuted = false
        b.isEarmuffed = true
        h.send(1000, from: a)
        h.tick()
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 0 }, "an earmuffed leg hears nothing")
        b.isEarmuffed = false
        let player = try h.engine.playClip([Int16](repeating: 1000, count: 320), loop: 1, level: try Level(-1), on: b.id)
        h.engine.synchronize(with: b.id)
        h.wait(milliseconds: 20)
        h.send(2000, from: a)
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 2100 }, "the player mixed in as the frame passes, no tick")
        // The clip has ended: the next frame is the speaker's alone.
        h.wait(milliseconds: 20)
        h.send(3000, from: a)
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 3000 })
        _ = player
        _ = h.heard(by: a)
    }

    @Test("DTMF in the audio is detected on the direct route")
    func detection() async throws {
        let h = EngineHarness(detectDTMF: true)
        let a = h.leg(rate: 8000), b = h.leg(rate: 16000)
        let tones = [Int16](repeating: 0, count: 800) + (try DTMFGenerator.samples(digits: "9", configuration: .init(sampleRate: 8000)))
        let padded = tones + [Int16](repeating: 0, count: (160 - tones.count % 160) % 160 + 800)
        for k in stride(from: 0, to: padded.count, by: 160) {
            h.send(Array(padded[k..<(k + 160)]), from: a)
            #expect(h.heard(by: b).count == 1)
            h.tick()
        }
        guard let found = await h.events.firstDetectedDigit() else { return }
        #expect(found.leg == a.id)
        #expect(found.digit == "9")
        // The detector measures a 100 ms tone as 93-99 ms depending on the digit (block edges).
        #expect(abs(found.duration - 100) <= 10, "duration \(found.duration)")
    }

    @Test("a frame held at every tick for a second is trimmed once, and the delay drops by one frame")
    func trimsSurplus() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        // Three at once: two leave, the third waits; from then on every frame waits one period.
        h.send([Int16](repeating: 1, count: 320) + [Int16](repeating: 2, count: 320) + [Int16](repeating: 3, count: 320), from: a)
        _ = h.heard(by: b)
        var delays: [Int] = []
        var k = 4
        for _ in 0..<120 {
            h.send(Int16(k), from: a)
            h.tick()
            delays.append(k - Int(h.lastHeard(by: b)[0]))
            k += 1
        }
        #expect(h.count("patchbay_frames_trimmed_total") == 1)
        #expect(delays.prefix(40).allSatisfy { $0 == 1 }, "\(delays.prefix(40))")
        #expect(delays.suffix(60).allSatisfy { $0 == 0 }, "\(delays.suffix(60))")
        #expect(a.framesConcealed.value == 0)
    }
}
