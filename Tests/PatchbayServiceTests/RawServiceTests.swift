import Foundation
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import PatchbayVoiceAPI
import Testing

@testable import PatchbayServerTestSupport

/// `"protocol": "raw"` against local emulators of Deepgram, AssemblyAI and a voice agent, each written
/// from the service's public documentation (Tests/python/raw_services.py names the pages). One test at a
/// time, as ServiceTests.
@Suite(.serialized) struct RawServiceTests {
    static func endpoint(_ service: ScriptedService, _ path: String, _ adjust: (inout WebSocketEndpoint) -> Void) -> WebSocketEndpoint {
        var e = WebSocketEndpoint(uri: "ws://127.0.0.1:\(service.port)\(path)", contentType: "audio/l16;rate=16000")
        e.protocol = .raw
        adjust(&e)
        return e
    }

    static func messages(_ events: EventRecorder) -> [String] {
        events.all.compactMap { if case .message(let text) = $0.kind { text } else { nil } }
    }

    static func tone(_ k: Int) -> [Int16] { Tone.sine(1000, rate: 16000, count: 320, amplitude: 8000, offset: 320 * k) }

    @Test("Deepgram: linear16 frames, KeepAlive while the caller is silent, CloseStream at the end and its last results")
    func deepgram() async throws {
        let service = try await ScriptedService.rawService(["--mode", "deepgram", "--idle-seconds", "1.5"])
        defer { service.stop() }
        let endpoint = Self.endpoint(service, "/v1/listen?encoding=linear16&sample_rate=16000") { e in
            e.sendSilence = false
            e.keepalive = .init(message: .object(["type": .string("KeepAlive")]), interval: 0.5)
            e.closeMessage = .object(["type": .string("CloseStream")])
        }
        let gateway = try await ServiceTests.gateway([endpoint])
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { !service.reports("open").isEmpty }, "\(service.log)")
        // Two seconds of speech, then silence for longer than the service's idle timeout.
        try await stream(caller, frames: 100, frameSamples: 320, signal: Self.tone)
        try await stream(caller, frames: 125, frameSamples: 320) { _ in [Int16](repeating: 0, count: 320) }
        #expect(service.reports("idle-timeout").isEmpty, "KeepAlive must hold the idle stream open: \(service.log)")
        let keepalives = service.reports("text").filter { ($0["msg"] as? [String: Any])?["type"] as? String == "KeepAlive" }
        #expect(keepalives.count >= 2, "\(service.log)")
        await caller.close()
        #expect(await eventually { !service.reports("close").isEmpty }, "\(service.log)")
        let close = service.reports("close").first
        #expect(close?["code"] as? Int == 1000, "the service closed after CloseStream: \(service.log)")
        #expect((close?["first_sizes"] as? [Int]) == [640, 640, 640, 640, 640])
        // Digital silence was not sent: at most the two seconds of speech (a loaded machine's shard may
        // have dropped some of it to bound the delay), not the five seconds of the call.
        let bytes = close?["audio_bytes"] as? Int ?? 0
        #expect(bytes >= 50 * 640 && bytes <= 102 * 640, "\(bytes) bytes")
        #expect(service.reports("text").contains { ($0["msg"] as? [String: Any])?["type"] as? String == "CloseStream" })
        #expect(await eventually { Self.messages(events).contains { $0.contains("final words") } }, "\(Self.messages(events))")
        #expect(Self.messages(events).contains { $0.contains("second 1") })
        await gateway.stop()
    }

    @Test("AssemblyAI: 100 ms messages are accepted and Terminate ends the session; 20 ms messages break its rule and it gives up")
    func assemblyAI() async throws {
        let service = try await ScriptedService.rawService(["--mode", "assemblyai"])
        defer { service.stop() }
        let good = Self.endpoint(service, "/v3/ws?sample_rate=16000&encoding=pcm_s16le&case=good") { e in
            e.chunkMilliseconds = 100
            e.closeMessage = .object(["type": .string("Terminate")])
        }
        let bad = Self.endpoint(service, "/v3/ws?sample_rate=16000&encoding=pcm_s16le&case=bad") { e in
            e.reconnect = false
        }
        let gateway = try await RunningGateway.start { c in
            c.routes.append(.init(path: "/good", mode: .conversation, connect: [good]))
            c.routes.append(.init(path: "/bad", mode: .conversation, connect: [bad]))
        }
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/good")
        try await caller.sendConnected(rate: 16000)
        try await stream(caller, frames: 75, frameSamples: 320, signal: Self.tone)
        #expect(await eventually { Self.messages(events).contains { $0.contains("turn 1") } }, "\(service.log)")
        await caller.close()
        #expect(await eventually { Self.messages(events).contains { $0.contains("Termination") } }, "\(Self.messages(events))")
        #expect(service.reports("violation").isEmpty, "\(service.log)")
        #expect(Self.messages(events).first?.contains("Begin") == true, "\(Self.messages(events))")

        let second = try await gateway.connect("/bad")
        try await second.sendConnected(rate: 16000)
        try await stream(second, frames: 10, frameSamples: 320, signal: Self.tone)
        let gaveUp = {
            events.serviceEvents.compactMap { e -> String? in
                if case .gaveUp(let uri, let reason, _) = e, uri.hasSuffix("case=bad") { reason } else { nil }
            }
        }
        #expect(await eventually { !gaveUp().isEmpty }, "\(events.serviceEvents)")
        #expect(gaveUp().first?.contains("3007") == true, "\(gaveUp())")
        #expect(events.serviceEvents.contains { if case .closed(let uri, 3007, _) = $0, uri.hasSuffix("case=bad") { true } else { false } })
        await second.close()
        await gateway.stop()
    }

    @Test("a voice agent: Settings first, no audio before SettingsApplied, its answers played, and UserStartedSpeaking drops what is queued")
    func agent() async throws {
        let service = try await ScriptedService.rawService(["--mode", "agent", "--interrupt-after-ms", "400"])
        defer { service.stop() }
        let endpoint = Self.endpoint(service, "/v1/agent/converse") { e in
            e.initMessage = .object([
                "type": .string("Settings"),
                "audio": .object(["input": .object(["encoding": .string("linear16"), "sample_rate": .number(16000)])]),
            ])
            e.waitFor = .object(["type": .string("SettingsApplied")])
            e.clearOn = .object(["type": .string("UserStartedSpeaking")])
        }
        let gateway = try await ServiceTests.gateway([endpoint])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        try await stream(caller, frames: 150, frameSamples: 320, signal: Self.tone)
        #expect(await eventually { !service.reports("sent").filter { $0["what"] as? String == "UserStartedSpeaking" }.isEmpty })
        #expect(service.reports("audio-before-settings").isEmpty, "\(service.log)")
        let settings = service.reports("text").first?["msg"] as? [String: Any]
        #expect(settings?["type"] as? String == "Settings")
        // Its answers were played, and the clear dropped what was still queued.
        #expect(await eventually { ServiceTests.toneFrames(caller, rate: 16000) >= 5 })
        let metrics = try await fetchMetrics(gateway)
        #expect((metrics["patchbay_service_cleared_milliseconds_total"] ?? 0) > 0, "\(metrics.filter { $0.key.contains("service") })")
        await caller.close()
        await gateway.stop()
    }

    @Test("codec opus: one 20 ms Opus packet per message both ways, decoded into the call")
    func opus() async throws {
        let service = try await ScriptedService.rawService(["--mode", "opus-echo"])
        defer { service.stop() }
        let endpoint = Self.endpoint(service, "/opus") { $0.codec = .opus }
        let gateway = try await ServiceTests.gateway([endpoint])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        try await stream(caller, frames: 50, frameSamples: 320, signal: Self.tone)
        #expect(await eventually { ServiceTests.toneFrames(caller, rate: 16000, frequency: 1000) >= 25 }, "\(service.log)")
        await caller.close()
        #expect(await eventually { !service.reports("close").isEmpty })
        let sizes = service.reports("close").first?["first_sizes"] as? [Int] ?? []
        #expect(!sizes.isEmpty && sizes.allSatisfy { $0 > 0 && $0 < 640 }, "Opus packets, not PCM: \(sizes)")
        await gateway.stop()
    }

    @Test(
        "OpenAI Realtime: session.update from the template, caller audio appended, the answer played, and a barge-in truncates it at what the caller heard"
    )
    func openAIRealtime() async throws {
        let service = try await ScriptedService.openAIRealtime(["--seconds", "3", "--respond-after-ms", "400", "--barge-in-after-ms", "1400"])
        defer { service.stop() }
        var endpoint = WebSocketEndpoint(uri: "ws://127.0.0.1:\(service.port)/v1/realtime?model=gpt-realtime", contentType: "audio/l16;rate=24000")
        endpoint.protocol = .openAIRealtime
        endpoint.authorization = .init(type: .custom, value: "Bearer sk-test")
        endpoint.chunkMilliseconds = 100
        endpoint.session = .object([
            "instructions": .string("Be brief."), "audio": .object(["output": .object(["voice": .string("marin")])]),
        ])
        let gateway = try await ServiceTests.gateway([endpoint])
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        try await stream(caller, frames: 100, frameSamples: 320, signal: Self.tone)
        #expect(
            await eventually {
                service.reports("text").contains { ($0["msg"] as? [String: Any])?["type"] as? String == "conversation.item.truncate" }
            }, "\(service.log)")
        let heardAtBargeIn = ServiceTests.toneFrames(caller, rate: 16000)
        try await Task.sleep(for: .milliseconds(600))
        let heard = ServiceTests.toneFrames(caller, rate: 16000)
        #expect(heard <= heardAtBargeIn + 3, "the answer went on after the barge-in: \(heardAtBargeIn) then \(heard)")
        #expect(heard >= 10 && heard <= 100, "\(heard) frames of the 3 s answer were heard (about 50 unless a loaded machine dropped some)")

        let texts = service.reports("text").compactMap { $0["msg"] as? [String: Any] }
        let update = texts.first
        #expect(update?["type"] as? String == "session.update")
        let session = update?["session"] as? [String: Any]
        #expect(session?["type"] as? String == "realtime" && session?["instructions"] as? String == "Be brief.")
        let audio = session?["audio"] as? [String: Any]
        let input = (audio?["input"] as? [String: Any])?["format"] as? [String: Any]
        let output = audio?["output"] as? [String: Any]
        #expect(input?["type"] as? String == "audio/pcm" && (input?["rate"] as? NSNumber)?.intValue == 24000)
        #expect(output?["voice"] as? String == "marin" && (output?["format"] as? [String: Any])?["type"] as? String == "audio/pcm")
        let truncate = texts.first { $0["type"] as? String == "conversation.item.truncate" }
        let end = (truncate?["audio_end_ms"] as? NSNumber)?.intValue ?? -1
        #expect(truncate?["item_id"] as? String == "item_1" && (truncate?["content_index"] as? NSNumber)?.intValue == 0)
        // audio_end_ms is what playout had released of item_1: at least what the caller had heard (a few
        // frames may still have been on their way to it), at most what real time allowed between the answer
        // and the barge-in (a loaded machine may drop released frames, counted, so the caller can hear less).
        let sentAt = { (what: String) in service.reports("sent").first { $0["what"] as? String == what }?["t"] as? Double ?? 0 }
        let wall = Int((sentAt("speech_started") - sentAt("response")) * 1000)
        #expect(end > 0 && end <= 3000, "audio_end_ms \(end)")
        #expect(end >= 20 * heardAtBargeIn - 200, "audio_end_ms \(end) against \(20 * heardAtBargeIn) ms heard by the caller")
        #expect(end <= wall + 200, "audio_end_ms \(end) against \(wall) ms between the answer and the barge-in")
        #expect(service.reports("open").first?["authorization"] as? String == "Bearer sk-test")
        let published = Self.messages(events)
        #expect(await eventually { Self.messages(events).contains { $0.contains("conversation.item.truncated") } }, "\(published)")
        #expect(!Self.messages(events).contains { $0.contains("output_audio.delta") }, "audio deltas are played, not published")
        #expect(!Self.messages(events).contains { $0.contains("\"error\"") }, "\(Self.messages(events))")
        let metrics = try await fetchMetrics(gateway)
        #expect(metrics["patchbay_service_late_deltas_dropped_total"] == 2)
        await caller.close()
        await gateway.stop()
    }

    @Test(
        "OpenAI Realtime in G.711: session.update names audio/pcmu or audio/pcma, the caller's tone reaches the service intact, the answer is heard",
        arguments: [WebSocketEndpoint.Codec.pcmu, .pcma])
    func openAIRealtimeG711(codec: WebSocketEndpoint.Codec) async throws {
        let service = try await ScriptedService.openAIRealtime(["--seconds", "1", "--respond-after-ms", "400", "--barge-in-after-ms", "100000"])
        defer { service.stop() }
        var endpoint = WebSocketEndpoint(uri: "ws://127.0.0.1:\(service.port)/v1/realtime?model=gpt-realtime", contentType: "audio/l16;rate=8000")
        endpoint.protocol = .openAIRealtime
        endpoint.codec = codec
        endpoint.chunkMilliseconds = 100
        let gateway = try await ServiceTests.gateway([endpoint])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        try await stream(caller, frames: 100, frameSamples: 320, signal: Self.tone)
        // The 1 s answer, G.711 at 8 kHz, expanded and resampled to the caller's 16 kHz.
        #expect(await eventually { ServiceTests.toneFrames(caller, rate: 16000) >= 25 }, "\(ServiceTests.toneFrames(caller, rate: 16000)) frames")
        await caller.close()
        #expect(await eventually { !service.reports("close").isEmpty }, "\(service.log)")
        let update = service.reports("text").compactMap { $0["msg"] as? [String: Any] }.first
        let audio = (update?["session"] as? [String: Any])?["audio"] as? [String: Any]
        for direction in ["input", "output"] {
            let format = ((audio?[direction] as? [String: Any])?["format"] as? [String: Any])?["type"] as? String
            #expect(format == "audio/\(codec.rawValue)", "\(direction): \(String(describing: audio))")
        }
        // The emulator expanded the caller's audio with Python's own G.711 (audioop): nearly all of each
        // loud block's energy is the caller's 1 kHz tone (G.711 quantisation noise is about -38 dB).
        let close = try #require(service.reports("close").first)
        let fraction = (close["caller_tone"] as? NSNumber)?.doubleValue ?? 0
        #expect(fraction > 0.95, "\(close)")
        // 2 s sent; a loaded machine may drop some of it (counted).
        #expect(((close["caller_ms"] as? NSNumber)?.doubleValue ?? 0) >= 1000, "\(close)")
        let metrics = try await fetchMetrics(gateway)
        #expect(metrics["patchbay_service_messages_invalid_total"] ?? 0 == 0)
        await gateway.stop()
    }
}
