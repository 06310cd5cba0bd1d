import PatchbayVoiceAPI
import Testing

/// Every transition of a leg's protocol life, without sockets: events in, actions out.
@Suite struct LegLifecycleTests {
    static let ms: Int64 = 1_000_000
    static let limits = LegLifecycle.Limits(
        connectTimeoutNanoseconds: 2_000 * ms, idleTimeoutNanoseconds: 5_000 * ms, pingIntervalNanoseconds: 1_000 * ms,
        maxMessagesPerSecond: 100)

    /// A server-role leg upgraded at t = 0 and, unless `connected` is false, streaming at `rate`.
    func serverLeg(connected: Bool = true, rate: Int = 16000, limits: LegLifecycle.Limits = limits) -> LegLifecycle {
        var leg = LegLifecycle(role: .server, limits: limits)
        #expect(leg.handle(.upgraded(at: 0)) == .none)
        #expect(leg.state == .awaitingConnected)
        if connected {
            #expect(leg.handle(.connected(rate: rate, at: 1)) == .start(rate: rate))
        }
        return leg
    }

    @Test("websocket:connected starts the leg; frames of exactly 20 ms are accepted, others dropped")
    func streaming() {
        var leg = serverLeg(rate: 8000)
        #expect(leg.state == .streaming(rate: 8000))
        #expect(leg.frameBytes == 320)
        #expect(leg.handle(.audio(bytes: 320, at: 2)) == .accept)
        #expect(leg.handle(.audio(bytes: 321, at: 3)) == .drop(.wrongSize(bytes: 321, expected: 320)))
        #expect(leg.handle(.audio(bytes: 0, at: 4)) == .drop(.wrongSize(bytes: 0, expected: 320)))
        #expect(leg.handle(.text(at: 5)) == .accept)
        #expect(leg.handle(.connected(rate: 16000, at: 6)) == .drop(.repeatedConnected))
        #expect(leg.handle(.unusableConnected(reason: "no rate", at: 7)) == .drop(.repeatedConnected))
        #expect(leg.state == .streaming(rate: 8000))
    }

    @Test("audio before websocket:connected closes 1008; an unusable websocket:connected closes 1003")
    func badStart() {
        var early = serverLeg(connected: false)
        let reason = "binary audio before websocket:connected"
        #expect(
            early.handle(.audio(bytes: 640, at: 5))
                == .close(code: 1008, reason: reason, ended: .policy(code: 1008, reason: reason), wasStreaming: false))
        var unusable = serverLeg(connected: false)
        #expect(
            unusable.handle(.unusableConnected(reason: "rate 11025", at: 5))
                == .close(code: 1003, reason: "rate 11025", ended: .policy(code: 1003, reason: "rate 11025"), wasStreaming: false))
        var chatty = serverLeg(connected: false)
        #expect(chatty.handle(.text(at: 5)) == .drop(.beforeConnected))
        #expect(chatty.state == .awaitingConnected)
    }

    @Test("no websocket:connected within the connect timeout closes 1008")
    func connectTimeout() {
        var leg = serverLeg(connected: false)
        #expect(leg.handle(.timer(at: 1_900 * Self.ms)) == .ping)
        #expect(leg.handle(.timer(at: 2_000 * Self.ms)) == .none)
        guard case .close(1008, _, .policy(1008, _), false) = leg.handle(.timer(at: 2_001 * Self.ms)) else {
            Issue.record("no close at the connect timeout: \(leg.state)")
            return
        }
        #expect(leg.hasEnded)
    }

    @Test("silence past the idle timeout closes 1001; anything received, pings included, keeps the leg alive")
    func idle() {
        var leg = serverLeg()
        #expect(leg.handle(.control(at: 4_000 * Self.ms)) == .none)
        #expect(leg.handle(.timer(at: 8_500 * Self.ms)) == .ping, "4.5 s since the last ping: not idle yet")
        #expect(
            leg.handle(.timer(at: 9_001 * Self.ms))
                == .close(code: 1001, reason: "idle for 5.0 s", ended: .policy(code: 1001, reason: "idle for 5.0 s"), wasStreaming: true))
    }

    @Test("a ping goes out once per interval")
    func pings() {
        var leg = serverLeg()
        var pings = 0
        for t in stride(from: Int64(0), through: 4_000, by: 250) {
            if leg.handle(.audio(bytes: 640, at: t * Self.ms)) != .accept { Issue.record("audio refused at \(t) ms") }
            if leg.handle(.timer(at: t * Self.ms)) == .ping { pings += 1 }
        }
        #expect(pings == 4)
    }

    @Test("over the message rate the excess is dropped; a second's allowance may come at once, then it refills")
    func rateLimit() {
        var leg = serverLeg()  // the connected message took one token
        var accepted = 0
        for _ in 0..<150 {
            if leg.handle(.audio(bytes: 640, at: 10 * Self.ms)) == .accept { accepted += 1 }
        }
        #expect(accepted == 99)
        #expect(leg.handle(.audio(bytes: 640, at: 10 * Self.ms)) == .drop(.overRate))
        #expect(leg.handle(.text(at: 10 * Self.ms)) == .drop(.overRate))
        // 100 ms later, ten more.
        accepted = 0
        for _ in 0..<20 where leg.handle(.audio(bytes: 640, at: 110 * Self.ms)) == .accept { accepted += 1 }
        #expect(accepted == 10)
    }

    @Test("the peer's close is answered with its code; none means 1005, answered 1000")
    func peerClose() {
        var leg = serverLeg()
        #expect(leg.handle(.peerClosed(code: 4000)) == .close(code: 4000, reason: "", ended: .peerClosed(code: 4000), wasStreaming: true))
        var bare = serverLeg()
        #expect(bare.handle(.peerClosed(code: nil)) == .close(code: 1000, reason: "", ended: .peerClosed(code: 1005), wasStreaming: true))
    }

    @Test("hang-up closes 1000, the drain deadline 1001, a protocol error ends without a second close")
    func localEnds() {
        var hung = serverLeg()
        #expect(hung.handle(.hangUp(reason: "done")) == .close(code: 1000, reason: "done", ended: .hungUp(reason: "done"), wasStreaming: true))
        var drained = serverLeg(connected: false)
        #expect(
            drained.handle(.drainDeadline) == .close(code: 1001, reason: "server shutting down", ended: .shutdown, wasStreaming: false))
        var oversized = serverLeg()
        #expect(
            oversized.handle(.protocolError(code: 1009, reason: "too big"))
                == .end(.policy(code: 1009, reason: "too big"), wasStreaming: true))
    }

    @Test("a leg ends exactly once: after the first end every event is answered with nothing")
    func endsOnce() {
        var leg = serverLeg()
        #expect(leg.handle(.transportClosed) == .end(.transportLost, wasStreaming: true))
        #expect(leg.state == .ended(.transportLost))
        let later: [LegLifecycle.Event] = [
            .transportClosed, .peerClosed(code: 1000), .hangUp(reason: "x"), .drainDeadline, .audio(bytes: 640, at: 9),
            .text(at: 9), .timer(at: 60_000 * Self.ms), .connected(rate: 8000, at: 9), .protocolError(code: 1002, reason: "x"),
        ]
        for event in later {
            #expect(leg.handle(event) == .none, "\(event)")
        }
        #expect(leg.state == .ended(.transportLost))
    }

    @Test("client role: dialling until the websocket is up, then streaming at its own rate without waiting")
    func clientRole() {
        var leg = LegLifecycle(role: .client(rate: 24000), limits: Self.limits)
        #expect(leg.state == .dialling)
        #expect(leg.handle(.timer(at: 10_000 * Self.ms)) == .none, "no connect or idle timeout while dialling")
        #expect(leg.handle(.upgraded(at: 10_000 * Self.ms)) == .start(rate: 24000))
        #expect(leg.handle(.audio(bytes: 960, at: 10_001 * Self.ms)) == .accept)
        // A service's audio: any length, any rate (the playout buffer re-frames and bounds it).
        #expect(leg.handle(.audio(bytes: 7, at: 10_001 * Self.ms)) == .accept)
        for _ in 0..<1000 { #expect(leg.handle(.audio(bytes: 96_000, at: 10_002 * Self.ms)) == .accept) }
        #expect(leg.handle(.audio(bytes: 0, at: 10_002 * Self.ms)) == .drop(.wrongSize(bytes: 0, expected: 960)))
        #expect(leg.handle(.transportClosed) == .end(.transportLost, wasStreaming: true))
    }
}
