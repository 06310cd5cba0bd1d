import Crypto
import Foundation
import NIOCore
import PatchbayBench
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import PatchbayVoiceAPI
import Synchronization
import Testing

@testable import PatchbayServerTestSupport

/// Routes with `connect`: Patchbay dials a service in the Voice API's role for every caller, against a
/// real Python `websockets` service, and plays what the service sends back into the call.
///
/// One test at a time (this suite and RawServiceTests run beside each other): each test runs a gateway, a
/// caller and a service process in real time, and a dozen at once on two cores starve them all — frames
/// dropped, counted, and echoes that never come back in time.
@Suite(.serialized) struct ServiceTests {
    static func endpoint(_ service: ScriptedService, rate: Int = 16000, _ adjust: (inout WebSocketEndpoint) -> Void = { _ in })
        -> WebSocketEndpoint
    {
        var e = WebSocketEndpoint(uri: "ws://127.0.0.1:\(service.port)/voice?tenant=acme", contentType: "audio/l16;rate=\(rate)")
        adjust(&e)
        return e
    }

    /// A gateway whose route `/ai` connects every caller to `endpoints`.
    static func gateway(_ endpoints: [WebSocketEndpoint], jwtSecret: String? = nil) async throws -> RunningGateway {
        try await RunningGateway.start { c in
            c.routes.append(.init(path: "/ai", mode: .conversation, connect: endpoints))
            c.auth.jwtSecret = jwtSecret
        }
    }

    /// Waits for the caller to hear at least `count` frames of the 1 kHz tone it sent, echoed by the
    /// service; says what it heard when it does not.
    static func expectEcho(
        _ caller: TestPeer, count: Int = 15, _ context: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let heard = await eventually { toneFrames(caller, rate: 16000, frequency: 1000) >= count }
        #expect(
            heard, "\(toneFrames(caller, rate: 16000, frequency: 1000)) tone frames in \(caller.received.binary.count); \(context())",
            sourceLocation: sourceLocation)
    }

    static func toneFrames(_ peer: TestPeer, rate: Int, frequency: Double = 440) -> Int {
        peer.received.binary.count { frame in
            let samples = stride(from: 0, to: frame.count - 1, by: 2).map { Int16(bitPattern: UInt16(frame[$0]) | UInt16(frame[$0 + 1]) << 8) }
            return Tone.amplitude(of: samples[...], at: frequency, rate: rate) > 1000
        }
    }

    @Test(
        "the service is dialled as the Voice API would: no content-length, Authorization, websocket:connected with the headers; audio and digits both ways"
    )
    func voiceAPIRole() async throws {
        let service = try await ScriptedService.python(["--mode", "echo"])
        defer { service.stop() }
        let endpoint = Self.endpoint(service, rate: 8000) { e in
            e.headers = ["tenant": .string("acme"), "caller": .string("{caller.from}"), "priority": .number(2)]
            e.authorization = .init(type: .custom, value: "Bearer secret-token")
        }
        let gateway = try await Self.gateway([endpoint])
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000, extra: #","from":"447700900001""#)
        #expect(await eventually { service.texts.contains { $0["event"] as? String == "websocket:connected" } }, "\(service.log)")
        // One second of a 1 kHz tone from the caller: the service hears it at 8 kHz and echoes it back.
        try await stream(caller, frames: 50, frameSamples: 320) { k in Tone.sine(1000, rate: 16000, count: 320, amplitude: 8000, offset: 320 * k) }
        try await caller.send(text: #"{"event":"websocket:dtmf","digit":"7","duration":200}"#)
        #expect(
            await eventually { Self.toneFrames(caller, rate: 16000, frequency: 1000) >= 40 },
            "caller heard \(Self.toneFrames(caller, rate: 16000, frequency: 1000)) tone frames back")
        #expect(await eventually { service.texts.contains { $0["event"] as? String == "websocket:dtmf" } }, "\(service.log)")
        await caller.close()
        #expect(await eventually { !service.reports("close").isEmpty }, "\(service.log)")
        await gateway.stop()

        let upgrade = service.reports("upgrade").first
        #expect(upgrade?["content_length"] is NSNull, "the upgrade must not declare a body: \(service.log)")
        #expect(upgrade?["path"] as? String == "/voice?tenant=acme")
        #expect(service.reports("open").first?["authorization"] as? String == "Bearer secret-token")
        let connected = service.texts.first { $0["event"] as? String == "websocket:connected" }
        #expect(connected?["content-type"] as? String == "audio/l16;rate=8000")
        #expect(connected?["tenant"] as? String == "acme" && connected?["caller"] as? String == "447700900001")
        #expect((connected?["priority"] as? NSNumber)?.intValue == 2)
        let dtmf = service.texts.first { $0["event"] as? String == "websocket:dtmf" }
        #expect(dtmf?["digit"] as? String == "7" && (dtmf?["duration"] as? NSNumber)?.intValue == 200)
        let close = service.reports("close").first
        #expect((close?["first_sizes"] as? [Int])?.allSatisfy { $0 == 320 } == true, "20 ms frames at 8 kHz: \(service.log)")
        // The caller's second of audio reached the service (its first frames may come before the service
        // has joined the conversation on the shard).
        #expect((close?["audio_messages"] as? Int ?? 0) >= 40, "\(service.log)")
        #expect(close?["code"] as? Int == 1000, "the caller hung up: the service is closed normally")
        let kinds = events.serviceEvents
        #expect(kinds.contains { if case .attempt(_, 1) = $0 { true } else { false } })
        #expect(kinds.contains { if case .connected(_, 1, _) = $0 { true } else { false } })
    }

    @Test("a 48 kHz service hears an 8 kHz caller and is heard by it, resampled both ways")
    func wideband() async throws {
        let service = try await ScriptedService.python(["--mode", "echo"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service, rate: 48000)])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 8000)
        #expect(await eventually { service.texts.contains { $0["event"] as? String == "websocket:connected" } }, "\(service.log)")
        try await stream(caller, frames: 50, frameSamples: 160) { k in Tone.sine(1000, rate: 8000, count: 160, amplitude: 8000, offset: 160 * k) }
        #expect(
            await eventually { Self.toneFrames(caller, rate: 8000, frequency: 1000) >= 20 },
            "heard \(Self.toneFrames(caller, rate: 8000, frequency: 1000)) tone frames of \(caller.received.binary.count); sizes \(Set(caller.received.binary.map(\.count)))\n\(service.log)"
        )
        await caller.close()
        #expect(await eventually { !service.reports("close").isEmpty })
        let connected = service.texts.first { $0["event"] as? String == "websocket:connected" }
        #expect(connected?["content-type"] as? String == "audio/l16;rate=48000")
        #expect((service.reports("close").first?["first_sizes"] as? [Int])?.allSatisfy { $0 == 1920 } == true, "\(service.log)")
        await gateway.stop()
    }

    @Test("a burst faster than real time is played one frame per 20 ms, and notify is answered when playout reaches it")
    func burstAndNotify() async throws {
        let service = try await ScriptedService.python(["--mode", "burst", "--seconds", "2"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { !service.reports("sent").isEmpty }, "\(service.log)")
        let sentAt = ContinuousClock.now
        // Half-way through, no more than half the audio (and the pacer's one frame ahead) has reached the caller.
        try await Task.sleep(until: sentAt + .milliseconds(1000))
        let halfway = Self.toneFrames(caller, rate: 16000)
        #expect(halfway <= 54, "\(halfway) frames of tone after 1 s: played faster than real time")
        #expect(await eventually { !service.texts.filter { $0["event"] as? String == "websocket:notify" }.isEmpty }, "\(service.log)")
        let sent = service.reports("sent").first?["t"] as? Double ?? 0
        let notified =
            service.reports("text").first { ($0["msg"] as? [String: Any])?["event"] as? String == "websocket:notify" }?["t"] as? Double ?? 0
        #expect(notified - sent >= 1.9, "notify answered \(notified - sent) s after 2 s of audio was queued")
        #expect(notified - sent < 4, "notify answered \(notified - sent) s after 2 s of audio was queued")
        let payload = service.texts.first { $0["event"] as? String == "websocket:notify" }?["payload"] as? [String: Any]
        #expect(payload?["mark"] as? String == "end")
        // Every frame reaches the caller or is counted where the engine bounded the delay (a media shard
        // starved by a loaded machine catches up by dropping the oldest frames: samples_dropped).
        var accounted = 0
        let allAccounted = await eventuallyAsync {
            let dropped = Int((try? await fetchMetrics(gateway))?["patchbay_samples_dropped_total"] ?? 0)
            accounted = Self.toneFrames(caller, rate: 16000) + dropped / 320
            return accounted >= 99
        }
        #expect(allAccounted, "caller heard \(Self.toneFrames(caller, rate: 16000)) of 100 frames, \(accounted) accounted for")
        #expect(Self.toneFrames(caller, rate: 16000) >= 50)
        await caller.close()
        await gateway.stop()
    }

    @Test("a service that answers in one message and then goes quiet: the caller hears a frame every 20 ms, through the answer and after it")
    func noHoleAfterAnAnswer() async throws {
        // 3 s of audio in one message, then nothing (as Vonage's audio-connector server SDK answers).
        let service = try await ScriptedService.python(["--mode", "burst", "--seconds", "3"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        // The whole answer, then two seconds of the quiet after it. Polled cheaply: a poll that analysed
        // every frame would take the CPU the gateway's timing is measured on.
        let heard = await eventually { caller.received.audibleFrames.count >= 150 && caller.received.audibleFrames.since >= 100 }
        let timed = caller.received.timedBinary
        #expect(heard, "heard \(caller.received.audibleFrames): the answer, and frames after it")
        #expect(Self.toneFrames(caller, rate: 16000) >= 148, "\(Self.toneFrames(caller, rate: 16000)) frames of the answer's tone")
        let start = try #require(timed.firstIndex { $0.frame.contains { $0 != 0 } })
        let stretch = timed[start...]
        var gaps: [(frame: Int, milliseconds: Double)] = []
        for (i, (previous, next)) in zip(stretch, stretch.dropFirst()).enumerated() {
            gaps.append((i + 1, Double(next.at - previous.at) / 1e6))
        }
        let longest = gaps.max { $0.milliseconds < $1.milliseconds }
        let late = gaps.filter { $0.milliseconds >= 25 }
        print(
            "answer and quiet: \(stretch.count) frames, longest gap \(longest.map { String(format: "%.1f ms at frame %d", $0.milliseconds, $0.frame) } ?? "-")"
        )
        #expect(late.isEmpty, "gaps of 25 ms or more (frame, ms) from the answer's first frame: \(late.map { ($0.frame, Int($0.milliseconds)) })")
        await caller.close()
        await gateway.stop()
    }

    @Test("clear drops the queued audio at once: the pending notify and websocket:cleared come back, the caller stops hearing it")
    func clear() async throws {
        let service = try await ScriptedService.python(["--mode", "clear"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { service.texts.contains { $0["event"] as? String == "websocket:cleared" } }, "\(service.log)")
        let clearedAt = (service.reports("sent").first { $0["what"] as? String == "clear" })?["t"] as? Double ?? 0
        let notify = service.reports("text").first { ($0["msg"] as? [String: Any])?["event"] as? String == "websocket:notify" }
        let cleared = service.reports("text").first { ($0["msg"] as? [String: Any])?["event"] as? String == "websocket:cleared" }
        #expect(notify != nil, "the notify queued behind the cleared audio is answered: \(service.log)")
        #expect((cleared?["t"] as? Double ?? 99) - clearedAt < 1, "cleared within a second, not after the 5 s of audio")
        // The caller heard about 300 ms of the 5 s, and then nothing more.
        try await Task.sleep(for: .milliseconds(500))
        let heard = Self.toneFrames(caller, rate: 16000)
        #expect(heard >= 5 && heard <= 45, "\(heard) frames of tone")
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.toneFrames(caller, rate: 16000) == heard, "tone still playing after the clear")
        await caller.close()
        await gateway.stop()
    }

    @Test("an unreachable service is retried until the deadline; then on_failure hangup closes the caller, continue keeps it")
    func unreachable() async throws {
        // A port nothing listens on: bound, then closed.
        let probe = try await ScriptedService.python(["--mode", "echo", "--lifetime", "0.1"])
        let deadPort = probe.port
        _ = await eventually { !probe.process.isRunning }
        probe.stop()
        var hangup = WebSocketEndpoint(uri: "ws://127.0.0.1:\(deadPort)/gone")
        hangup.retryDeadline = 1
        hangup.onFailure = .hangup
        var keep = hangup
        keep.onFailure = .continue
        let gateway = try await RunningGateway.start { c in
            c.routes.append(.init(path: "/hangup", mode: .conversation, connect: [hangup]))
            c.routes.append(.init(path: "/keep", mode: .conversation, connect: [keep]))
        }
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let first = try await gateway.connect("/hangup")
        try await first.sendConnected(rate: 16000)
        let second = try await gateway.connect("/keep")
        try await second.sendConnected(rate: 16000)
        #expect(await eventually { first.received.closeCode != nil }, "on_failure hangup: the caller is closed")
        #expect(first.received.closeCode == .normalClosure)
        let gaveUp = { events.serviceEvents.compactMap { e -> Bool? in if case .gaveUp(_, _, let hungUp) = e { hungUp } else { nil } } }
        #expect(await eventually { gaveUp().count == 2 }, "\(events.serviceEvents)")
        #expect(Set(gaveUp()) == [true, false])
        let failures = events.serviceEvents.filter { if case .attemptFailed = $0 { true } else { false } }
        #expect(failures.count >= 4, "each caller's service was retried within its second: \(failures)")
        // The caller with on_failure continue is still there, hearing the engine's frames.
        let heard = second.received.binary.count
        #expect(await eventually { second.received.binary.count > heard + 5 })
        #expect(second.received.closeCode == nil)
        let metrics = try await fetchMetrics(gateway)
        #expect(metrics["patchbay_service_gave_up_total"] == 2)
        #expect((metrics["patchbay_service_attempts_failed_total"] ?? 0) >= 4)
        await first.close()
        await second.close()
        await gateway.stop()
    }

    @Test("refused upgrades (HTTP 503) are retried with backoff; the third attempt connects")
    func refusedThenAccepted() async throws {
        let service = try await ScriptedService.python(["--mode", "refuse", "--refusals", "2"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        let connected = { events.serviceEvents.compactMap { e -> Int? in if case .connected(_, let attempt, _) = e { attempt } else { nil } } }
        #expect(await eventually { !connected().isEmpty }, "\(events.serviceEvents)\n\(service.log)")
        #expect(connected() == [3])
        let reasons = events.serviceEvents.compactMap { e -> String? in if case .attemptFailed(_, _, let reason, _) = e { reason } else { nil } }
        #expect(reasons == ["upgrade refused: HTTP 503", "upgrade refused: HTTP 503"])
        await caller.close()
        await gateway.stop()
    }

    @Test("a service that drops mid-call is dialled again, and the call goes on through the new connection")
    func reconnect() async throws {
        let service = try await ScriptedService.python(["--mode", "drop", "--after-ms", "300", "--close-code", "1011"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { service.reports("open").count == 2 }, "\(service.log)")
        // The engine's events reach the recorder asynchronously: wait for the close to be recorded too.
        #expect(
            await eventually { events.serviceEvents.contains { if case .closed(_, 1011, _) = $0 { true } else { false } } },
            "\(events.serviceEvents)")
        // The second connection echoes: the caller's tone comes back through it.
        try await stream(caller, frames: 25, frameSamples: 320) { k in Tone.sine(1000, rate: 16000, count: 320, amplitude: 8000, offset: 320 * k) }
        await Self.expectEcho(caller, service.log)
        let metrics = try await fetchMetrics(gateway)
        #expect(metrics["patchbay_service_reconnects_total"] == 1)
        await caller.close()
        await gateway.stop()
    }

    @Test("a hostile service (odd-length audio, text that is not JSON, its own events) is counted and logged; the call goes on")
    func hostileService() async throws {
        let service = try await ScriptedService.python(["--mode", "hostile"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        let messages = { events.all.compactMap { e -> String? in if case .message(let text) = e.kind { text } else { nil } } }
        #expect(await eventually { !messages().isEmpty }, "\(service.log)")
        #expect(messages().first?.contains("hello world") == true)
        // The odd byte of the 321-byte message starts the next message's audio (a service may split a
        // byte stream anywhere); once no audio has come for 40 ms the partial frame is played, padded, and
        // the stream is aligned again. The caller hears that frame (samples 0x0101) before it speaks:
        // echo arriving sooner would continue the odd stream, one byte out.
        #expect(
            await eventually {
                caller.received.binary.contains { $0.count >= 2 && $0[0] == 1 && $0[1] == 1 }
            }, "the partial frame was never played")
        try await stream(caller, frames: 25, frameSamples: 320) { k in Tone.sine(1000, rate: 16000, count: 320, amplitude: 8000, offset: 320 * k) }
        await Self.expectEcho(caller, "the service's echo still plays: \(service.log)")
        let metrics = try await fetchMetrics(gateway)
        #expect(metrics["patchbay_service_odd_messages_total"] == 1)
        #expect(metrics["patchbay_service_messages_invalid_total"] == 1)
        #expect(metrics["patchbay_service_messages_total"] == 1)
        #expect(caller.received.closeCode == nil)
        await caller.close()
        await gateway.stop()
    }

    @Test("authorization vonage: the upgrade carries a bearer JWT signed with auth.jwt_secret (HS256)")
    func vonageJWT() async throws {
        let secret = "a-signature-secret-of-32-bytes!!"
        let service = try await ScriptedService.python(["--mode", "echo", "--jwt-secret", secret])
        defer { service.stop() }
        let endpoint = Self.endpoint(service) { $0.authorization = .init(type: .vonage) }
        let gateway = try await Self.gateway([endpoint], jwtSecret: secret)
        let caller = try await gateway.connect("/ai", headers: [("authorization", "Bearer " + Self.callerJWT(secret))])
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { !service.reports("open").isEmpty }, "\(service.log)")
        #expect(service.reports("open").first?["jwt"] as? String == "valid", "\(service.log)")
        await caller.close()
        await gateway.stop()
    }

    /// A token for the caller's own upgrade (the gateway checks it too when jwt_secret is set).
    static func callerJWT(_ secret: String) -> String {
        func b64(_ d: Data) -> String {
            d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let header = b64(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = b64(Data(#"{"iat":\#(Int(Date().timeIntervalSince1970))}"#.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data((header + "." + payload).utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return header + "." + payload + "." + b64(Data(mac))
    }

    @Test("wss: a certificate that does not verify is refused; the endpoint's ca_file or tls_verify false lets it through")
    func tlsVerification() async throws {
        let cert = try await SelfSigned.make()
        defer { cert.remove() }
        let service = try await ScriptedService.python(["--mode", "echo", "--certificate", cert.certificate, "--private-key", cert.privateKey])
        defer { service.stop() }
        var strict = WebSocketEndpoint(uri: "wss://localhost:\(service.port)/v?case=strict")
        strict.retryDeadline = 0
        var trusted = strict
        trusted.uri = "wss://localhost:\(service.port)/v?case=trusted"
        trusted.caFile = cert.certificate
        var unverified = strict
        unverified.uri = "wss://localhost:\(service.port)/v?case=unverified"
        unverified.tlsVerify = false
        let gateway = try await RunningGateway.start { c in
            c.routes.append(.init(path: "/strict", mode: .conversation, connect: [strict]))
            c.routes.append(.init(path: "/trusted", mode: .conversation, connect: [trusted]))
            c.routes.append(.init(path: "/unverified", mode: .conversation, connect: [unverified]))
        }
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        /// How the attempt for the endpoint whose URI names `name` ended.
        func outcome(_ name: String) -> String? {
            for e in events.serviceEvents {
                if case .connected(let uri, _, _) = e, uri.hasSuffix(name) { return "connected" }
                if case .gaveUp(let uri, let reason, _) = e, uri.hasSuffix(name) { return "gave up: \(reason)" }
            }
            return nil
        }
        var peers: [TestPeer] = []
        for path in ["/strict", "/trusted", "/unverified"] {
            let peer = try await gateway.connect(path)
            try await peer.sendConnected(rate: 16000)
            peers.append(peer)
        }
        #expect(await eventually { ["strict", "trusted", "unverified"].allSatisfy { outcome($0) != nil } }, "\(events.serviceEvents)")
        let strictOutcome = outcome("strict") ?? ""
        #expect(strictOutcome.hasPrefix("gave up") && strictOutcome.contains("TLS"), "\(strictOutcome)")
        #expect(outcome("trusted") == "connected")
        #expect(outcome("unverified") == "connected")
        for peer in peers { await peer.close() }
        await gateway.stop()
    }

    @Test(
        "Patchbay's websocket client works against other people's servers: Node.js ws as a service, and patchbay bench against Python websockets and Node.js ws"
    )
    func interoperability() async throws {
        // An outbound leg to a Node.js `ws` service: its echo reaches the caller.
        let node = try await ScriptedService.node()
        defer { node.stop() }
        let gateway = try await Self.gateway([Self.endpoint(node)])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { !node.texts.isEmpty }, "\(node.log)")
        try await stream(caller, frames: 25, frameSamples: 320) { k in Tone.sine(1000, rate: 16000, count: 320, amplitude: 8000, offset: 320 * k) }
        await Self.expectEcho(caller, node.log)
        #expect(node.texts.first?["event"] as? String == "websocket:connected", "\(node.log)")
        await caller.close()
        await gateway.stop()

        // patchbay bench, as the Voice API, against an echo service on each stack: every tagged frame comes back.
        let python = try await ScriptedService.python(["--mode", "echo"])
        defer { python.stop() }
        for (name, service) in [("Python websockets", python), ("Node.js ws", node)] {
            var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(service.port)/bench")!)
            c.calls = 3
            c.duration = .milliseconds(600)
            c.grace = .milliseconds(300)
            let result = try await BenchRunner(configuration: c).run()
            #expect(result.callsConnected == 3 && result.callsFailed == 0, "\(name): \(result.failures)")
            #expect(result.framesLost == 0 && result.framesReceived == result.framesSent && result.framesSent >= 3 * 25, "\(name)")
        }
        #expect(python.reports("upgrade").allSatisfy { $0["content_length"] is NSNull }, "\(python.log)")
    }
}
