import Foundation
import NIOCore
import NIOWebSocket
import PatchbayDSP
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import Testing

@testable import PatchbayServerTestSupport

@Suite(.serialized) struct GatewayTests {
    @Test("handshake, then one correctly sized frame per 20 ms", arguments: [8000, 16000, 24000])
    func frameSizes(rate: Int) async throws {
        let gateway = try await RunningGateway.start()
        let peer = try await gateway.connect("/socket")
        // The clock starts before the leg can exist: read after the send, a test task resumed late on
        // a loaded machine started it after the first frames had left (25 frames "in" 371 ms).
        let clock = ContinuousClock()
        let attached = clock.now
        try await peer.sendConnected(rate: rate, extra: #","caller":"447700900000""#)
        let legs = await gateway.waitForLegs(1)
        #expect(legs.first?.sampleRate == rate)
        #expect(legs.first?.headers["caller"] == "447700900000")
        let arrived = await eventually(timeout: .seconds(20)) { peer.received.binary.count >= 25 }
        let elapsed = clock.now - attached
        let frames = peer.received.binary
        await peer.close()
        await gateway.stop()
        #expect(arrived, "\(frames.count) frames after \(elapsed)")
        #expect(frames.allSatisfy { $0.count == 2 * rate / 50 }, "sizes \(Set(frames.map(\.count)))")
        // Paced by the clock, never ahead of it (a late tick catches up to the schedule, not past it):
        // 25 frames take 24 periods after the leg attaches; checked with five periods to spare.
        #expect(elapsed >= .milliseconds(20 * (25 - 1 - 5)), "25 frames in \(elapsed)")
    }

    @Test("the echo route returns every frame bit-exact, in order")
    func echo() async throws {
        let gateway = try await RunningGateway.start()
        let peer = try await gateway.connect("/echo")
        try await peer.sendConnected(rate: 16000)
        _ = await gateway.waitForLegs(1)
        var rng = SystemRandomNumberGenerator()
        var sent: [[UInt8]] = []
        for _ in 0..<50 {
            let frame = (0..<640).map { _ in UInt8.random(in: 0...255, using: &rng) }
            sent.append(frame)
            try await peer.send(bytes: frame)
        }
        #expect(await eventually { peer.received.binary.count == 50 })
        #expect(peer.received.binary == sent)
        await peer.close()
        await gateway.stop()
    }

    @Test("two legs in one conversation hear each other, 8 kHz <-> 16 kHz")
    func conversation() async throws {
        let gateway = try await RunningGateway.start()
        let narrow = try await gateway.connect("/socket")
        let wide = try await gateway.connect("/socket")
        try await narrow.sendConnected(rate: 8000, extra: #","conversation":"call-1""#)
        try await wide.sendConnected(rate: 16000, extra: #","conversation":"call-1""#)
        _ = await gateway.waitForLegs(2)
        // The narrowband leg says 1 kHz, the wideband leg says 2.5 kHz, both at -12 dBFS.
        async let a: Void = stream(narrow, frames: 50, frameSamples: 160) {
            Tone.sine(1000, rate: 8000, count: 160, amplitude: 8192, offset: 160 * $0)
        }
        async let b: Void = stream(wide, frames: 50, frameSamples: 320) {
            Tone.sine(2500, rate: 16000, count: 320, amplitude: 8192, offset: 320 * $0)
        }
        _ = try await (a, b)
        let heardByWide = wide.receivedSamples
        let heardByNarrow = narrow.receivedSamples
        await narrow.close()
        await wide.close()
        await gateway.stop()
        // Measure the middle of the call (the ends hold the ramp-in and the resampler's delay).
        let w = heardByWide.dropFirst(16000 * 300 / 1000).prefix(16000 * 400 / 1000)
        let n = heardByNarrow.dropFirst(8000 * 300 / 1000).prefix(8000 * 400 / 1000)
        #expect(w.count == 6400 && n.count == 3200)
        let wideHearsNarrow = Tone.amplitude(of: w, at: 1000, rate: 16000)
        let wideHearsItself = Tone.amplitude(of: w, at: 2500, rate: 16000)
        let narrowHearsWide = Tone.amplitude(of: n, at: 2500, rate: 8000)
        let narrowHearsItself = Tone.amplitude(of: n, at: 1000, rate: 8000)
        #expect(abs(20 * log10(wideHearsNarrow / 8192)) < 0.5, "wide hears 1 kHz at \(wideHearsNarrow)")
        #expect(abs(20 * log10(narrowHearsWide / 8192)) < 0.5, "narrow hears 2.5 kHz at \(narrowHearsWide)")
        // N-1: nobody hears themselves.
        #expect(wideHearsItself < 8, "wide hears itself at \(wideHearsItself)")
        #expect(narrowHearsItself < 8, "narrow hears itself at \(narrowHearsItself)")
    }

    @Test("mute stops a leg being heard; earmuff stops a leg hearing")
    func muteAndEarmuff() async throws {
        let gateway = try await RunningGateway.start()
        let a = try await gateway.connect("/room")
        let b = try await gateway.connect("/room")
        try await a.sendConnected(rate: 16000)
        try await b.sendConnected(rate: 16000)
        _ = await gateway.waitForLegs(2)
        func heard(_ peer: TestPeer, during body: () async throws -> Void) async throws -> Double {
            let before = peer.receivedSamples.count
            try await body()
            // A second of what the listener heard from the talk's start (it hears a frame every 20 ms,
            // silence or not), waited for rather than slept.
            let arrived = await eventually(timeout: .seconds(20)) { peer.receivedSamples.count >= before + 16000 }
            #expect(arrived, "\(peer.receivedSamples.count - before) samples after the talk")
            let samples = Array(peer.receivedSamples.dropFirst(before).prefix(16000))
            // The loudest 300 ms of it: where the 500 ms of talk landed, whatever the path's delay and
            // however late the talker's first frame left on a loaded machine (a window fixed at 100 ms
            // after the start measured 0.4 of the tone once, the talk having started late).
            return stride(from: 0, through: samples.count - 4800, by: 320).map {
                Tone.amplitude(of: samples[$0..<($0 + 4800)], at: 1000, rate: 16000)
            }.max() ?? 0
        }
        let talk: () async throws -> Void = {
            try await stream(a, frames: 25, frameSamples: 320) { Tone.sine(1000, rate: 16000, count: 320, amplitude: 8192, offset: 320 * $0) }
        }
        let open = try await heard(b, during: talk)
        #expect(open > 7000, "b hears a at \(open)")
        // Only `a` has sent audio: that tells its leg from b's.
        let aLeg = try #require(gateway.server.engine.legs.first { $0.framesIn.value >= 25 })
        let bLeg = try #require(gateway.server.engine.legs.first { $0.id != aLeg.id })
        aLeg.isMuted = true
        let muted = try await heard(b, during: talk)
        #expect(muted < 10, "b hears a muted at \(muted)")
        aLeg.isMuted = false
        bLeg.isEarmuffed = true
        let earmuffed = try await heard(b, during: talk)
        #expect(earmuffed < 10, "earmuffed b hears a at \(earmuffed)")
        bLeg.isEarmuffed = false
        let again = try await heard(b, during: talk)
        #expect(again > 7000, "b hears a again at \(again)")
        await a.close()
        await b.close()
        await gateway.stop()
    }

    @Test("a wav and an mp3 play mixed with DTMF, and the far side detects the digits", arguments: ["sine1k-s16-mono-16k.wav", "sine1k-xing.mp3"])
    func playersAndDTMF(file: String) async throws {
        let gateway = try await RunningGateway.start()
        let peer = try await gateway.connect("/socket")
        try await peer.sendConnected(rate: 16000)
        let leg = try #require(await gateway.waitForLegs(1).first)
        let events = gateway.server.engine.events.subscribe()
        let path = testdata.appendingPathComponent(file).path
        // Music 12 dB down under the tones: DTMF must dominate what the detector hears (a detector that
        // found digits under equally loud music would also find them in music).
        let music = try gateway.server.engine.playAudio(fileAtPath: path, loop: 0, level: try Level(-0.6), on: leg.id)
        let tones = try gateway.server.engine.playDTMF("159#", on: leg.id)
        // The digits take 640 ms; the measurements below need 900 ms of what the peer heard.
        let heard = await eventually(timeout: .seconds(20)) { peer.receivedSamples.count >= 16000 * 900 / 1000 }
        #expect(heard, "\(peer.receivedSamples.count) samples heard")
        try gateway.server.engine.stopPlayers(.stream, on: leg.id)
        let samples = peer.receivedSamples
        await peer.close()
        await gateway.stop()
        var detector = DTMFDetector(sampleRate: 16000)
        var digits = ""
        samples.withUnsafeBufferPointer { detector.process($0) { digits.append($0.digit) } }
        detector.flush { digits.append($0.digit) }
        #expect(digits == "159#")
        // The music is there too, at level -0.6 (-12 dB) of the file's half scale.
        let tail = samples.dropFirst(16000 * 700 / 1000).prefix(3200)
        let music1k = Tone.amplitude(of: tail, at: 1000, rate: 16000)
        #expect(abs(20 * log10(music1k / (16384 * pow(10, -0.6)))) < 1.0, "1 kHz at \(music1k)")
        var finished: [UUID: Bool] = [:]
        for try await event in events {
            if case .playerFinished(let id, _, let stopped) = event.kind { finished[id] = stopped }
            if case .legEnded = event.kind { break }
        }
        #expect(finished[music] == true)
        #expect(finished[tones] == false)
    }

    @Test("events: detected DTMF and the peer's websocket:dtmf both reach subscribers")
    func dtmfEvents() async throws {
        let gateway = try await RunningGateway.start()
        let events = gateway.server.engine.events.subscribe()
        let peer = try await gateway.connect("/socket")
        try await peer.sendConnected(rate: 8000)
        let leg = try #require(await gateway.waitForLegs(1).first)
        try await peer.send(text: #"{"event":"websocket:dtmf","digit":"7","duration":260}"#)
        let concealedBefore = leg.framesConcealed.value
        let tones = try DTMFGenerator.samples(digits: "42", configuration: .init(sampleRate: 8000))
        let frames = (tones.count + 159) / 160 + 10
        try await stream(peer, frames: frames, frameSamples: 160) { k in
            let start = k * 160
            guard start < tones.count else { return [Int16](repeating: 0, count: 160) }
            let chunk = Array(tones[start..<min(start + 160, tones.count)])
            return chunk + [Int16](repeating: 0, count: 160 - chunk.count)
        }
        // A frame of the tones that came too late for its tick (a loaded machine) was concealed: silence
        // in the tone, which then measures up to a frame shorter.
        let concealed = leg.framesConcealed.value - concealedBefore
        await peer.close()
        var reported: [Character] = []
        var detected: [(Character, Int)] = []
        for try await event in events {
            switch event.kind {
            case .dtmf(let digit, let duration, _, let isDetected):
                if isDetected { detected.append((digit, duration)) } else { reported.append(digit) }
            case .legEnded:
                break
            default:
                continue
            }
            if case .legEnded = event.kind { break }
        }
        await gateway.stop()
        #expect(reported == ["7"])
        #expect(detected.map(\.0) == ["4", "2"])
        let tolerance = concealed == 0 ? 5 : 25
        #expect(detected.allSatisfy { abs($0.1 - 100) <= tolerance }, "\(detected), \(concealed) frames concealed")
    }

    @Test("clear and notify go to the peer; its cleared and notify answers come back as events")
    func clearAndNotify() async throws {
        let gateway = try await RunningGateway.start()
        let events = gateway.server.engine.events.subscribe()
        let peer = try await gateway.connect("/socket")
        try await peer.sendConnected(rate: 16000)
        let leg = try #require(await gateway.waitForLegs(1).first)
        let engine = gateway.server.engine
        try engine.sendClear(to: leg.id)
        try engine.sendNotify(payload: #"{"mark":"after-greeting","n":1}"#, to: leg.id)
        #expect(throws: EngineError.invalidPayload("notify payload must be a JSON object")) {
            try engine.sendNotify(payload: "[1]", to: leg.id)
        }
        #expect(await eventually { peer.received.text.count == 2 })
        let sent = peer.received.text.map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(sent.first??["action"] as? String == "clear")
        #expect(sent.last??["action"] as? String == "notify")
        #expect((sent.last??["payload"] as? [String: Any])?["mark"] as? String == "after-greeting")
        try await peer.send(text: #"{"event":"websocket:cleared"}"#)
        try await peer.send(text: #"{"event":"websocket:notify","payload":{"mark":"after-greeting","n":1}}"#)
        await peer.close()
        var kinds: [EngineEvent.Kind] = []
        for try await event in events {
            if case .legEnded = event.kind { break }
            kinds.append(event.kind)
        }
        await gateway.stop()
        #expect(kinds.contains(.cleared))
        #expect(kinds.contains(.notify(payload: #"{"mark":"after-greeting","n":1}"#)))
    }
}

let testdata = Fixtures.testdata
