import Foundation
import PatchbayDSP
import PatchbayEngine
import Testing

/// What a recording takes from the shard, tick by tick: one frame per 20 ms in each direction, stamped
/// with its place on the recording's clock, on either route; gaps as silence in place; a full ring
/// counted, never blocking the media.
@Suite struct RecordingTapTests {
    /// Every frame waiting in `track`: (place, first sample).
    static func drain(_ track: RecordingTrack) -> [(place: Int64, sample: Int16)] {
        var out: [(Int64, Int16)] = []
        var frame = [Int16](repeating: 0, count: track.frameSamples)
        while let place = track.nextWaiting {
            frame.withUnsafeMutableBufferPointer { track.take(into: $0.baseAddress!) }
            out.append((place, frame[0]))
        }
        return out
    }

    static func track(_ sink: RecordingSink, leg: Leg, side: RecordingTrack.Side) -> RecordingTrack? {
        sink.tracks.first { $0.leg == leg.id && $0.side == side }
    }

    @Test("a leg in a mixed conversation: its own frames and what it heard, one per tick, at consecutive places")
    func mixedRoute() throws {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg(), c = h.leg()
        let sink = RecordingSink(origin: h.engine.now)
        try h.engine.startRecording(sink, capture: .leg(own: true, heard: true), on: a.id)
        h.engine.synchronize(with: a.id)
        for _ in 0..<10 {
            h.send(1000, from: a)
            h.send(2000, from: b)
            h.send(4000, from: c)
            h.tick()
        }
        let own = try #require(Self.track(sink, leg: a, side: .own)).self
        let heard = try #require(Self.track(sink, leg: a, side: .heard))
        let ownFrames = Self.drain(own)
        let heardFrames = Self.drain(heard)
        #expect(ownFrames.map(\.sample) == Array(repeating: 1000, count: 10))
        #expect(heardFrames.map(\.sample) == Array(repeating: 6000, count: 10))
        #expect(ownFrames.map(\.place) == Array(1...10))
        #expect(heardFrames.map(\.place) == ownFrames.map(\.place), "both directions on one clock")
    }

    @Test("the direct route: each frame recorded as it passes; frames that never came leave their places silent, the rest keep time")
    func directRoute() throws {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg()
        let sink = RecordingSink(origin: h.engine.now)
        try h.engine.startRecording(sink, capture: .leg(own: true, heard: true), on: b.id)
        h.engine.synchronize(with: b.id)
        for k in 0..<12 {
            h.wait(milliseconds: 20)
            if !(3..<8).contains(k) { h.send(Int16(3000 + k), from: a) }  // frames 3 to 7 never come
            h.send(500, from: b)
            h.engine.tickNow()
        }
        let heard = Self.drain(try #require(Self.track(sink, leg: b, side: .heard)))
        let own = Self.drain(try #require(Self.track(sink, leg: b, side: .own)))
        #expect(own.map(\.sample) == Array(repeating: 500, count: 12))
        #expect(zip(heard.dropFirst(), heard).allSatisfy { $0.place > $1.place }, "places only grow: \(heard)")
        let first = try #require(heard.first { $0.sample == 3000 })
        let eighth = try #require(heard.first { $0.sample == 3008 })
        #expect(abs((eighth.place - first.place) - 8) <= 1, "frame 8 is 8 frames after frame 0 (±1): \(heard)")
        #expect(abs(eighth.place - own[8].place) <= 1, "the two directions agree: \(heard) \(own)")
    }

    @Test("a muted leg records silence; a stall of the clock is a gap of silence at the clock's place")
    func muteAndGap() throws {
        let h = EngineHarness()
        let a = h.leg(), _ = h.leg(), _ = h.leg()
        let sink = RecordingSink(origin: h.engine.now)
        try h.engine.startRecording(sink, capture: .leg(own: true, heard: false), on: a.id)
        h.engine.synchronize(with: a.id)
        h.send(1000, from: a)
        h.tick()
        a.isMuted = true
        h.send(1000, from: a)
        h.tick()
        a.isMuted = false
        h.wait(milliseconds: 200)  // ten ticks that never ran
        h.send(1000, from: a)
        h.tick()
        let own = Self.drain(try #require(Self.track(sink, leg: a, side: .own)))
        #expect(own.map(\.sample) == [1000, 0, 1000])
        #expect(own.map(\.place) == [1, 2, 13])
    }

    @Test("a full ring drops the new frame and counts it; the media goes on")
    func fullRing() throws {
        let h = EngineHarness()
        let a = h.leg(), b = h.leg(), c = h.leg()
        let sink = RecordingSink(origin: h.engine.now)
        try h.engine.startRecording(sink, capture: .leg(own: true, heard: false), on: a.id)
        h.engine.synchronize(with: a.id)
        for _ in 0..<(RecordingTrack.capacityFrames + 5) {
            h.send(1000, from: a)
            h.tick()
            _ = h.heard(by: a)
            _ = h.heard(by: b)
            _ = h.heard(by: c)
        }
        let track = try #require(Self.track(sink, leg: a, side: .own))
        #expect(track.lost == 5)
        #expect(Self.drain(track).count == RecordingTrack.capacityFrames)
        h.send(2000, from: b)
        h.tick()
        #expect(h.lastHeard(by: a).allSatisfy { $0 == 2000 }, "the leg still hears the others")
    }

    @Test("a conversation's recording: a track per leg, one for a leg that joins later, ended as legs leave, the source with the last")
    func conversation() throws {
        let h = EngineHarness()
        let a = h.leg("room"), b = h.leg("room")
        let sink = RecordingSink(origin: h.engine.now)
        try h.engine.startRecording(sink, capture: .conversation, on: a.id)
        h.engine.synchronize(with: a.id)
        h.send(1000, from: a)
        h.send(2000, from: b)
        h.tick()
        let c = h.leg("room")
        for leg in [a, b, c] { h.send(3000, from: leg) }
        h.tick()
        #expect(sink.tracks.count == 3)
        let late = try #require(Self.track(sink, leg: c, side: .own))
        #expect(Self.drain(late).map(\.place) == [2])
        h.engine.detach(b, reason: .transportLost)
        h.engine.synchronize(with: a.id)
        #expect(try #require(Self.track(sink, leg: b, side: .own)).isEnded)
        #expect(!sink.sourceEnded)
        h.engine.detach(a, reason: .transportLost)
        h.engine.detach(c, reason: .transportLost)
        h.engine.synchronize(with: a.id)
        h.tick()
        #expect(sink.sourceEnded)
    }

    @Test("stopRecording: the shards let go of the tracks; nothing more is written")
    func stop() throws {
        let h = EngineHarness()
        let a = h.leg(), _ = h.leg(), _ = h.leg()
        let sink = RecordingSink(origin: h.engine.now)
        try h.engine.startRecording(sink, capture: .leg(own: true, heard: true), on: a.id)
        h.engine.synchronize(with: a.id)
        h.send(1000, from: a)
        h.tick()
        h.engine.stopRecording(sink, on: a.id)
        h.engine.synchronize(with: a.id)
        h.send(1000, from: a)
        h.tick()
        for track in sink.tracks {
            #expect(track.isEnded)
            #expect(Self.drain(track).count == 1)
        }
    }

    @Test("a leg's company: every leg it is with, through a move to another conversation; the others' tracks end there; the source ends with the leg")
    func company() throws {
        let h = EngineHarness()
        let a = h.leg("lobby"), b = h.leg("lobby"), c = h.leg("room")
        let sink = RecordingSink(origin: h.engine.now)
        try h.engine.startRecording(sink, capture: .company, on: a.id)
        h.engine.synchronize(with: a.id)
        #expect(Set(sink.tracks.map(\.leg)) == [a.id, b.id])
        try h.engine.move(a.id, toConversation: "room")
        h.engine.synchronize(with: a.id)
        h.engine.synchronize(with: b.id)
        #expect(!sink.sourceEnded, "the lobby is not the recording's source: the leg is")
        #expect(try #require(Self.track(sink, leg: b, side: .own)).isEnded, "b is no longer a's company")
        let withC = sink.tracks.filter { $0.leg == c.id }
        #expect(withC.count == 1 && withC.allSatisfy { !$0.isEnded }, "c is")
        #expect(sink.tracks.filter { $0.leg == a.id && !$0.isEnded }.count == 1, "a's own audio goes on, on a track in the room")
        h.send(1000, from: a)
        h.send(2000, from: c)
        h.tick()
        #expect(Self.drain(withC[0]).count == 1)
        h.engine.detach(a, reason: .transportLost)
        h.engine.synchronize(with: c.id)
        #expect(sink.sourceEnded)
        let live = sink.tracks.filter { !$0.isEnded }
        #expect(live.isEmpty, "every track ended with the leg")
    }
}
