import Foundation
import PatchbayDSP
import Testing

@testable import PatchbayEngine

/// Moving a live leg from one conversation to another (the control API's transfer), tick by tick.
@Suite struct TransferTests {
    /// Whether any frame the leg has waiting is `value` in every sample (the direct route paces frames
    /// against the clock, so which tick delivers one is not the point here).
    static func hears(_ h: EngineHarness, _ leg: Leg, _ value: Int16) -> Bool {
        h.heard(by: leg).contains { $0.allSatisfy { $0 == value } }
    }

    @Test("a moved leg hears its new conversation, not its old one; its players go with it", arguments: [1, 4])
    func move(shards: Int) async throws {
        let h = EngineHarness(shards: shards)
        // With four shards, conversations whose names hash apart: the move crosses shards.
        let names = shards == 1 ? ("x", "y") : Self.namesOnDifferentShards(h)
        let a = h.leg(names.0), b = h.leg(names.0), c = h.leg(names.1)
        let player = try h.engine.playClip([Int16](repeating: 7, count: 320), loop: 0, on: b.id)
        h.engine.synchronize(with: b.id)
        for _ in 0..<3 {
            h.send(1000, from: a)
            h.send(2000, from: c)
            h.tick()
        }
        #expect(Self.hears(h, b, 1007))
        #expect(Self.hears(h, c, 0))

        try h.engine.move(b.id, toConversation: names.1)
        #expect(b.conversationName == names.1)
        #expect(h.engine.legs(inConversation: names.1).count == 2)
        if shards > 1 { #expect(b.shard !== a.shard && b.shard === c.shard) }
        _ = h.heard(by: b)
        _ = h.heard(by: a)
        for _ in 0..<3 {
            h.send(1000, from: a)
            h.send(2000, from: c)
            h.send(500, from: b)
            h.tick()
        }
        #expect(Self.hears(h, b, 2007), "b hears c and its own player")
        #expect(!h.heard(by: a).contains { $0.contains(7) || $0.contains(500) }, "a no longer hears b")
        #expect(Self.hears(h, c, 500), "c hears b")
        let moved = await h.events.first {
            if case .transferred(let from) = $0.kind { return from == names.0 && $0.leg == b.id && $0.conversation == names.1 }
            return false
        }
        #expect(moved != nil)
        try h.engine.stopPlayers(.stream, on: b.id)
        #expect(await h.events.first { $0.kind == .playerFinished(player: player, kind: .stream, stopped: true) } != nil)
    }

    @Test("moving into the conversation the leg is in does nothing; an ended leg cannot move; the emptied conversation ends")
    func edges() async throws {
        let h = EngineHarness()
        let a = h.leg("x")
        try h.engine.move(a.id, toConversation: "x")
        try h.engine.move(a.id, toConversation: "z")
        h.engine.synchronize(with: a.id)
        #expect(h.engine.legs(inConversation: "x").isEmpty)
        #expect(a.conversationName == "z")
        h.engine.detach(a, reason: .hungUp(reason: "test"))
        #expect(throws: EngineError.unknownLeg(a.id)) { try h.engine.move(a.id, toConversation: "y") }
        let echo = Leg(sampleRate: 8000, isEcho: true, transport: EngineHarness.Transport(), waker: LegWaker {})
        h.engine.attach(echo)
        #expect(throws: EngineError.echoLeg(echo.id)) { try h.engine.move(echo.id, toConversation: "y") }
    }

    /// Two conversation names whose legs the engine puts on different shards.
    static func namesOnDifferentShards(_ h: EngineHarness) -> (String, String) {
        let probe = h.leg("probe-0")
        for i in 1..<100 {
            let other = h.leg("probe-\(i)")
            let apart = other.shard !== probe.shard
            h.engine.detach(other, reason: .hungUp(reason: "probe"))
            if apart {
                h.engine.detach(probe, reason: .hungUp(reason: "probe"))
                return ("probe-0", "probe-\(i)")
            }
        }
        Issue.record("no two names on different shards")
        return ("x", "y")
    }
}
