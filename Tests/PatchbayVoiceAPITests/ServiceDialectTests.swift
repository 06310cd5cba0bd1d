import Foundation
import PatchbayVoiceAPI
import Testing

/// The three service dialects as values: events in, actions out, no sockets. What each answers to a
/// service's messages, and — for OpenAI Realtime — where a barge-in truncates the answer that was playing.
@Suite struct ServiceDialectTests {
    static let bytesPerMillisecond = 48  // 24 kHz PCM16

    static func cursor(written: Int, taken: Int) -> ServiceDialect.PlayoutCursor {
        .init(written: written, taken: taken, bytesPerMillisecond: bytesPerMillisecond)
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    static func sent(_ actions: [ServiceDialect.Action]) -> [String] {
        actions.compactMap { if case .send(let text) = $0 { text } else { nil } }
    }

    // MARK: voice-api

    @Test("voice-api: websocket:connected with the endpoint's headers and the caller's fields; clear, notify, other text, digits")
    func voiceAPI() throws {
        var endpoint = WebSocketEndpoint(uri: "wss://ai.example.com/voice", contentType: "audio/l16;rate=16000")
        endpoint.headers = ["tenant": .string("acme"), "caller": .string("{caller.from}"), "n": .number(2)]
        var dialect = ServiceDialect(endpoint: endpoint, callerHeaders: ["from": "447700900001"], textLimit: 1 << 20)
        let opened = Self.sent(dialect.handle(.opened))
        let connected = Self.json(try #require(opened.first))
        #expect(connected["event"] as? String == "websocket:connected" && connected["content-type"] as? String == "audio/l16;rate=16000")
        #expect(connected["tenant"] as? String == "acme" && connected["caller"] as? String == "447700900001" && connected["n"] as? Int == 2)
        #expect(dialect.outgoing == .init(encoding: .pcm16, envelope: .binary, chunkBytes: 640, sendsSilence: true))

        let at = Self.cursor(written: 0, taken: 0)
        #expect(dialect.handle(.text(#"{"action":"clear"}"#, playout: at)) == [.clearPlayout, .send(#"{"event":"websocket:cleared"}"#)])
        #expect(dialect.handle(.text(#"{"action":"notify","payload":{"mark":"end"}}"#, playout: at)) == [.marker(#"{"mark":"end"}"#)])
        #expect(dialect.handle(.markersReached([#"{"mark":"end"}"#])) == [.send(#"{"event":"websocket:notify","payload":{"mark":"end"}}"#)])
        let transcript = #"{"type":"transcript","text":"hello"}"#
        #expect(dialect.handle(.text(transcript, playout: at)) == [.publish(transcript)])
        guard case .invalid(let reason)? = dialect.handle(.text("not json", playout: at)).first else {
            Issue.record("text that is not JSON is refused")
            return
        }
        #expect(reason.contains("not valid JSON"))
        #expect(dialect.handle(.digit("5", durationMilliseconds: 120)) == [.send(#"{"event":"websocket:dtmf","digit":"5","duration":120}"#)])
        #expect(dialect.handle(.timer(now: 1, lastAudioSent: 0)).isEmpty)
        #expect(dialect.handle(.hangUp) == [.close])
        #expect(dialect.acceptsCallerAudio)
    }

    // MARK: raw

    static func rawEndpoint() throws -> WebSocketEndpoint {
        var e = WebSocketEndpoint(uri: "wss://api.example.com/v1/agent", contentType: "audio/l16;rate=16000")
        e.protocol = .raw
        e.chunkMilliseconds = 100
        e.initMessage = .object(["type": .string("Settings")])
        e.waitFor = .object(["type": .string("SettingsApplied")])
        e.clearOn = .object(["type": .string("UserStartedSpeaking")])
        e.keepalive = .init(message: .object(["type": .string("KeepAlive")]), interval: 3)
        e.closeMessage = .object(["type": .string("CloseStream")])
        e.sendSilence = false
        return e
    }

    @Test("raw: the init message, no audio before wait_for, clear_on drops the playout, every JSON message published")
    func rawSession() throws {
        var dialect = ServiceDialect(endpoint: try Self.rawEndpoint(), callerHeaders: [:], textLimit: 1 << 20)
        #expect(dialect.handle(.opened) == [.send(#"{"type":"Settings"}"#)])
        #expect(dialect.outgoing == .init(encoding: .pcm16, envelope: .binary, chunkBytes: 3200, sendsSilence: false))
        #expect(!dialect.acceptsCallerAudio, "not before wait_for")
        let at = Self.cursor(written: 0, taken: 0)
        let welcome = #"{"type":"Welcome"}"#
        #expect(dialect.handle(.text(welcome, playout: at)) == [.publish(welcome)])
        #expect(!dialect.acceptsCallerAudio)
        let applied = #"{"type":"SettingsApplied","extra":1}"#
        #expect(dialect.handle(.text(applied, playout: at)) == [.audioOpened, .publish(applied)])
        #expect(dialect.acceptsCallerAudio)
        let speaking = #"{"type":"UserStartedSpeaking"}"#
        #expect(dialect.handle(.text(speaking, playout: at)) == [.clearPlayout, .publish(speaking)])
        #expect(dialect.handle(.digit("1", durationMilliseconds: 100)).isEmpty, "a raw service is sent no Voice API events")
        #expect(dialect.handle(.markersReached(["{}"])).isEmpty)
    }

    @Test("raw: a keepalive once no audio has gone for its interval, and not more often; close with a grace, then at once")
    func rawKeepaliveAndClose() throws {
        var dialect = ServiceDialect(endpoint: try Self.rawEndpoint(), callerHeaders: [:], textLimit: 1 << 20)
        let s: Int64 = 1_000_000_000
        _ = dialect.handle(.text(#"{"type":"SettingsApplied"}"#, playout: Self.cursor(written: 0, taken: 0)))
        #expect(dialect.handle(.timer(now: 2 * s, lastAudioSent: 0)).isEmpty, "2 s without audio: not yet")
        #expect(dialect.handle(.timer(now: 3 * s, lastAudioSent: 0)) == [.send(#"{"type":"KeepAlive"}"#)])
        #expect(dialect.handle(.timer(now: 4 * s, lastAudioSent: 0)).isEmpty, "not again within the interval")
        #expect(dialect.handle(.timer(now: 6 * s, lastAudioSent: 0)) == [.send(#"{"type":"KeepAlive"}"#)])
        #expect(dialect.handle(.timer(now: 10 * s, lastAudioSent: 9 * s)).isEmpty, "audio went a second ago")
        #expect(dialect.handle(.hangUp) == [.send(#"{"type":"CloseStream"}"#), .closeAfterGrace])
        #expect(!dialect.acceptsCallerAudio, "no audio after close")
        #expect(dialect.handle(.timer(now: 20 * s, lastAudioSent: 0)).isEmpty, "no keepalive while closing")
        #expect(dialect.handle(.hangUp) == [.close], "a second hang-up closes at once")
    }

    @Test("raw without a close message closes at once; G.711 and Opus frame the caller's audio as the endpoint says")
    func rawFraming() throws {
        var plain = WebSocketEndpoint(uri: "wss://stt.example.com/", contentType: "audio/l16;rate=8000")
        plain.protocol = .raw
        plain.codec = .pcmu
        plain.chunkMilliseconds = 60
        var dialect = ServiceDialect(endpoint: plain, callerHeaders: [:], textLimit: 1 << 20)
        #expect(dialect.handle(.opened).isEmpty && dialect.acceptsCallerAudio)
        #expect(dialect.outgoing == .init(encoding: .g711(.pcmu), envelope: .binary, chunkBytes: 480, sendsSilence: true))
        #expect(dialect.handle(.hangUp) == [.close])
        var opus = WebSocketEndpoint(uri: "wss://stt.example.com/", contentType: "audio/l16;rate=16000")
        opus.protocol = .raw
        opus.codec = .opus
        #expect(ServiceDialect(endpoint: opus, callerHeaders: [:], textLimit: 1 << 20).outgoing.encoding == .opus)
    }

    // MARK: openai-realtime

    static func realtime() -> ServiceDialect {
        var e = WebSocketEndpoint(uri: "wss://api.openai.com/v1/realtime?model=gpt-realtime", contentType: "audio/l16;rate=24000")
        e.protocol = .openAIRealtime
        e.session = .object(["instructions": .string("Be brief."), "audio": .object(["output": .object(["voice": .string("marin")])])])
        return ServiceDialect(endpoint: e, callerHeaders: [:], textLimit: 1 << 20)
    }

    static func delta(_ item: String, response: String = "r1", bytes: Int) -> String {
        #"{"type":"response.output_audio.delta","item_id":"\#(item)","response_id":"\#(response)","delta":""#
            + Data(repeating: 1, count: bytes).base64EncodedString() + #""}"#
    }

    @Test("openai-realtime: session.update with the template and the audio formats filled in; caller audio as base64 text")
    func realtimeSession() throws {
        var dialect = Self.realtime()
        let update = Self.json(try #require(Self.sent(dialect.handle(.opened)).first))
        #expect(update["type"] as? String == "session.update")
        let session = try #require(update["session"] as? [String: Any])
        #expect(session["type"] as? String == "realtime" && session["instructions"] as? String == "Be brief.")
        let audio = try #require(session["audio"] as? [String: Any])
        let output = try #require(audio["output"] as? [String: Any])
        #expect(output["voice"] as? String == "marin", "the template's own fields kept")
        #expect((output["format"] as? [String: Any])?["rate"] as? Int == 24000)
        #expect(((audio["input"] as? [String: Any])?["format"] as? [String: Any])?["type"] as? String == "audio/pcm")
        #expect(dialect.outgoing == .init(encoding: .pcm16, envelope: .realtimeAppend, chunkBytes: 960, sendsSilence: true))
        #expect(RealtimeDialect.append(base64: "AAE=") == #"{"type":"input_audio_buffer.append","audio":"AAE="}"#)
    }

    @Test(
        "openai-realtime barge-in: the item playing is truncated where the caller stopped hearing it; later items dropped whole, their late deltas too"
    )
    func realtimeBargeIn() throws {
        var dialect = Self.realtime()
        // Item A: 1 s of audio queued from 0; item B: 0.5 s queued after it.
        #expect(
            dialect.handle(.text(Self.delta("A", bytes: 48_000), playout: Self.cursor(written: 0, taken: 0))) == [
                .play(Array(repeating: 1, count: 48_000))
            ])
        _ = dialect.handle(.text(Self.delta("B", bytes: 24_000), playout: Self.cursor(written: 48_000, taken: 9_600)))
        // The caller has heard 700 ms of A when it starts to speak.
        let started = #"{"type":"input_audio_buffer.speech_started","audio_start_ms":700}"#
        let actions = dialect.handle(.text(started, playout: Self.cursor(written: 72_000, taken: 33_600)))
        #expect(actions.first == .clearPlayout && actions.last == .publish(started))
        let truncate = Self.json(try #require(Self.sent(actions).first))
        #expect(truncate["type"] as? String == "conversation.item.truncate" && truncate["item_id"] as? String == "A")
        #expect(truncate["audio_end_ms"] as? Int == 700 && truncate["content_index"] as? Int == 0)
        // Late audio of A and of B is dropped; a new item plays.
        #expect(dialect.handle(.text(Self.delta("A", bytes: 480), playout: Self.cursor(written: 72_000, taken: 72_000))) == [.lateAudioDropped])
        #expect(dialect.handle(.text(Self.delta("B", bytes: 480), playout: Self.cursor(written: 72_000, taken: 72_000))) == [.lateAudioDropped])
        #expect(dialect.handle(.text(Self.delta("C", response: "r2", bytes: 480), playout: Self.cursor(written: 72_000, taken: 72_000))).count == 1)
    }

    @Test("openai-realtime: a barge-in before an item began truncates it at 0; after everything played, nothing is truncated")
    func realtimeBargeInEdges() throws {
        var early = Self.realtime()
        _ = early.handle(.text(Self.delta("A", bytes: 4_800), playout: Self.cursor(written: 9_600, taken: 0)))
        let cut = early.handle(.text(#"{"type":"input_audio_buffer.speech_started"}"#, playout: Self.cursor(written: 14_400, taken: 4_800)))
        #expect(Self.json(try #require(Self.sent(cut).first))["audio_end_ms"] as? Int == 0)
        var played = Self.realtime()
        _ = played.handle(.text(Self.delta("A", bytes: 4_800), playout: Self.cursor(written: 0, taken: 0)))
        let none = played.handle(.text(#"{"type":"input_audio_buffer.speech_started"}"#, playout: Self.cursor(written: 4_800, taken: 4_800)))
        #expect(Self.sent(none).isEmpty, "the answer had played to its end: \(none)")
    }

    @Test("openai-realtime: a cancelled response's late deltas are dropped; a delta that is not base64 is refused; other events published")
    func realtimeMessages() {
        var dialect = Self.realtime()
        let at = Self.cursor(written: 0, taken: 0)
        let done = #"{"type":"response.done","response":{"id":"r9","status":"cancelled"}}"#
        #expect(dialect.handle(.text(done, playout: at)) == [.publish(done)])
        #expect(dialect.handle(.text(Self.delta("Z", response: "r9", bytes: 480), playout: at)) == [.lateAudioDropped])
        let bad = #"{"type":"response.output_audio.delta","item_id":"Y","delta":"%%%"}"#
        #expect(dialect.handle(.text(bad, playout: at)) == [.invalid("an audio delta that is not base64")])
        let transcript = #"{"type":"response.output_audio_transcript.done","transcript":"Hi"}"#
        #expect(dialect.handle(.text(transcript, playout: at)) == [.publish(transcript)])
        #expect(dialect.handle(.digit("1", durationMilliseconds: 100)).isEmpty && dialect.handle(.hangUp) == [.close])
    }
}
