import Foundation
import PatchbayDSP
import PatchbayEngine
import Testing

/// Players on a leg, tick by tick: clips looped and stopped, DTMF tones, levels, and their events.
@Suite struct PlayerTests {
    /// A clip of two frames at 16 kHz: 100 in every sample, then 200.
    static let clip = [Int16](repeating: 100, count: 320) + [Int16](repeating: 200, count: 320)

    @Test("a clip plays its loops in order, then silence, and its finished event says it was not stopped")
    func loops() async throws {
        let h = EngineHarness()
        let leg = h.leg()
        let id = try h.engine.playClip(Self.clip, loop: 2, on: leg.id)
        h.tick(6)
        let frames = h.heard(by: leg).map { $0[0] }
        #expect(frames == [100, 200, 100, 200, 0, 0])
        let finished = await h.events.first { $0.kind == .playerFinished(player: id, kind: .stream, stopped: false) }
        #expect(finished?.leg == leg.id)
    }

    @Test("a clip looped forever plays until stopped; stopping says so in its event")
    func stop() async throws {
        let h = EngineHarness()
        let leg = h.leg()
        let id = try h.engine.playClip(Self.clip, loop: 0, on: leg.id)
        h.tick(7)
        #expect(h.heard(by: leg).map { $0[0] } == [100, 200, 100, 200, 100, 200, 100])
        try h.engine.stopPlayers(.stream, on: leg.id)
        h.tick(2)
        #expect(h.heard(by: leg).map { $0[0] } == [0, 0])
        #expect(await h.events.first { $0.kind == .playerFinished(player: id, kind: .stream, stopped: true) } != nil)
    }

    @Test("players mix with what the leg hears, each at its level")
    func mixedWithConversation() throws {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        try h.engine.playClip([Int16](repeating: 1000, count: 320), loop: 0, level: try Level(-1), on: b.id)
        h.engine.synchronize(with: b.id)
        h.send(3000, from: a)
        h.tick()
        // 3000 from a, plus 1000 at -20 dB.
        #expect(h.lastHeard(by: b).allSatisfy { $0 == 3100 })
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 0 })
    }

    @Test("DTMF digits played into a leg are heard as those digits, then the player finishes")
    func dtmf() async throws {
        let h = EngineHarness()
        let leg = h.leg(rate: 8000)
        let id = try h.engine.playDTMF("5#", on: leg.id)
        // 100 ms tone, 60 ms gap, twice: 16 frames; a few more of silence. Read after every tick, as the
        // I/O does (the ring holds a few frames, not a call).
        var samples: [Int16] = []
        for _ in 0..<20 {
            h.tick()
            samples += h.lastHeard(by: leg)
        }
        #expect(samples.count == 20 * 160)
        var detector = DTMFDetector(sampleRate: 8000)
        var digits = ""
        samples.withUnsafeBufferPointer { detector.process($0) { digits.append($0.digit) } }
        detector.flush { digits.append($0.digit) }
        #expect(digits == "5#")
        #expect(await h.events.first { $0.kind == .playerFinished(player: id, kind: .dtmf, stopped: false) } != nil)
    }

    @Test("bad digits and unknown legs get clear errors")
    func errors() {
        let h = EngineHarness()
        let leg = h.leg()
        #expect(throws: EngineError.self) { try h.engine.playDTMF("12x", on: leg.id) }
        let stranger = UUID()
        #expect(throws: EngineError.unknownLeg(stranger)) { try h.engine.playClip(Self.clip, on: stranger) }
        #expect(throws: EngineError.unknownLeg(stranger)) { try h.engine.stopPlayers(on: stranger) }
    }

    @Test("digits in a leg's audio are detected and published with their duration")
    func detection() async throws {
        let h = EngineHarness(detectDTMF: true)
        let a = h.leg(rate: 8000), b = h.leg(rate: 8000)
        let tones = try DTMFGenerator.samples(digits: "7", configuration: .init(sampleRate: 8000))
        // After 100 ms of silence, as on a call (a tone in the very first samples is measured a little short).
        let padded = [Int16](repeating: 0, count: 800) + tones + [Int16](repeating: 0, count: (160 - tones.count % 160) % 160 + 160 * 5)
        for k in stride(from: 0, to: padded.count, by: 160) {
            h.send(Array(padded[k..<(k + 160)]), from: a)
            h.tick()
            _ = h.heard(by: b)
        }
        guard let found = await h.events.firstDetectedDigit() else { return }
        #expect(found.leg == a.id)
        #expect(found.digit == "7")
        // The detector measures a 100 ms tone as 93-99 ms depending on the digit (block edges).
        #expect(abs(found.duration - 100) <= 10, "duration \(found.duration)")
        #expect(h.count("patchbay_dtmf_detected_total") == 1)
    }
}
