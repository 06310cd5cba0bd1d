import Foundation
import PatchbayDSP
import PatchbayEngine
import Testing

/// What each leg of a conversation hears, tick by tick. Legs of one rate and constant frames keep the
/// arithmetic exact: a leg sending 1000 in every sample is heard as 1000 by the others.
@Suite struct ConversationTests {
    @Test("N-1 mixing: each leg hears the sum of the others, never itself")
    func nMinusOne() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg(), c = h.leg()
        h.send(1000, from: a)
        h.send(2000, from: b)
        h.send(4000, from: c)
        h.tick()
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 6000 })
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 5000 })
        #expect(h.lastHeard(by: c).allSatisfy { $0 == 3000 })
    }

    @Test("a leg that hears itself (a service's source: mixed) gets the whole mix; the other leg still hears only it")
    func hearsItself() {
        let h = EngineHarness()
        let caller = h.leg(), service = h.leg(hearsItself: true)
        // No direct route with a leg that hears itself: both go through the tick.
        h.send(1000, from: caller)
        h.send(2000, from: service)
        #expect(h.heard(by: caller).isEmpty, "nothing before the tick")
        h.tick()
        #expect(h.lastHeard(by: caller).allSatisfy { $0 == 2000 })
        #expect(h.lastHeard(by: service).allSatisfy { $0 == 3000 })
    }

    @Test("a muted leg is not heard but still hears; an earmuffed leg hears nothing but is heard")
    func muteAndEarmuff() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg(), c = h.leg()
        a.isMuted = true
        h.send(1000, from: a)
        h.send(2000, from: b)
        h.send(4000, from: c)
        h.tick()
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 6000 })
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 4000 })
        #expect(h.lastHeard(by: c).allSatisfy { $0 == 2000 })
        a.isMuted = false
        b.isEarmuffed = true
        h.send(1000, from: a)
        h.send(2000, from: b)
        h.send(4000, from: c)
        h.tick()
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 6000 })
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 0 })
        #expect(h.lastHeard(by: c).allSatisfy { $0 == 3000 })
    }

    @Test("every leg gets exactly one frame per tick, silence when nobody talks")
    func oneFramePerTick() {
        let h = EngineHarness()
        let a = h.leg(rate: 8000), b = h.leg(rate: 24000)
        h.tick(5)
        #expect(h.heard(by: a).count == 5)
        let wide = h.heard(by: b)
        #expect(wide.count == 5)
        #expect(wide.allSatisfy { $0.count == 480 && $0.allSatisfy { $0 == 0 } })
    }

    @Test("a leg that joins between ticks is heard from the next tick; one that leaves, no more")
    func joinAndLeave() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.send(1000, from: b)
        h.tick()
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 1000 })
        let c = h.leg()
        h.send(1000, from: b)
        h.send(4000, from: c)
        h.tick()
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 5000 })
        h.engine.detach(b, reason: .peerClosed(code: 1000))
        h.engine.synchronize(with: a.id)
        h.send(4000, from: c)
        h.tick()
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 4000 })
        #expect(h.engine.legs.count == 2)
    }

    @Test("conversations are separate: legs hear only their own conversation")
    func separateConversations() {
        let h = EngineHarness()
        let a = h.leg("one"), b = h.leg("one"), c = h.leg("two"), d = h.leg("two")
        h.send(1000, from: a)
        h.send(3000, from: c)
        h.tick()
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 1000 })
        #expect(h.lastHeard(by: d).allSatisfy { $0 == 3000 })
        #expect(h.engine.legs(inConversation: "two").count == 2)
        _ = h.heard(by: a) + h.heard(by: c)
    }

    @Test("a frame that missed its tick is concealed with silence and counted")
    func concealment() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.leg()
        h.send(1000, from: a)
        h.tick()
        h.tick()  // a sent nothing for this one
        let frames = h.heard(by: b)
        #expect(frames.count == 2)
        #expect(frames[0].allSatisfy { $0 == 1000 })
        #expect(frames[1].allSatisfy { $0 == 0 })
        #expect(a.framesConcealed.value == 1)
        #expect(h.count("patchbay_frames_concealed_total") >= 1)
    }

    @Test("a burst beyond the inbound depth limit drops the oldest frames, counted, so delay stays bounded")
    func burstIsBounded() {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        h.leg()  // a third leg: the mixing tick, not the direct route
        for k in 1...6 { h.send(Int16(k * 100), from: a) }
        h.tick()
        // Three frames may wait; of six, the oldest three go (the third-oldest is heard now).
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 400 })
        #expect(a.samplesDropped.value == 3 * 320)
        #expect(h.count("patchbay_samples_dropped_total") == 3 * 320)
    }

    @Test("legs at 8, 16 and 24 kHz hear each other through the mix's resamplers at unity gain")
    func mixedRates() {
        let h = EngineHarness()
        let narrow = h.leg(rate: 8000), wide = h.leg(rate: 24000)
        let third = h.leg(rate: 16000)
        // A 1 kHz tone from the narrowband leg, heard by the 24 kHz leg.
        var phase = 0
        var heard: [Int16] = []
        for _ in 0..<30 {
            let frame = (0..<160).map { i in Int16((8000 * sin(2 * Double.pi * 1000 * Double(phase + i) / 8000)).rounded()) }
            phase += 160
            h.send(frame, from: narrow)
            h.tick()
            heard += h.lastHeard(by: wide)
            _ = h.heard(by: narrow) + h.heard(by: third)
        }
        let tail = heard.suffix(24000 / 5)
        let peak = tail.map { abs(Int($0)) }.max() ?? 0
        #expect((7800...8200).contains(peak), "peak \(peak)")
    }

    @Test("a leg ends exactly once, with the first reason given, however many times it is ended")
    func endsOnce() async {
        let h = EngineHarness()
        let a = h.leg()
        #expect(a.isLive)
        h.engine.detach(a, reason: .peerClosed(code: 1000))
        h.engine.detach(a, reason: .transportLost)
        #expect(!a.isLive)
        #expect(h.engine.legs.isEmpty)
        let ended = await h.events.first {
            if case .legEnded = $0.kind { return true }
            return false
        }
        guard case .legEnded(_, let reason)? = ended?.kind else { return }
        #expect(reason == .peerClosed(code: 1000))
        let count = h.events.all.filter {
            if case .legEnded = $0.kind { return true }
            return false
        }.count
        #expect(count == 1)
    }
}
