public import PatchbayVoiceAPI

/// The endpoints the dialect fuzzers run, and the driver that feeds a dialect the fuzzer's bytes.
public enum FuzzEndpoints {
    public static let voiceAPI: WebSocketEndpoint = {
        var e = WebSocketEndpoint(uri: "wss://ai.example.com/v", contentType: "audio/l16;rate=16000")
        e.headers = ["caller": .string("{caller.from}")]
        return e
    }()

    public static let raw: WebSocketEndpoint = {
        var e = WebSocketEndpoint(uri: "wss://stt.example.com/v", contentType: "audio/l16;rate=16000")
        e.protocol = .raw
        e.waitFor = .object(["type": .string("SettingsApplied")])
        e.clearOn = .object(["type": .string("UserStartedSpeaking")])
        e.keepalive = .init(message: .object(["type": .string("KeepAlive")]), interval: 1)
        e.closeMessage = .object(["type": .string("CloseStream")])
        return e
    }()

    public static let realtime: WebSocketEndpoint = {
        var e = WebSocketEndpoint(uri: "wss://api.openai.com/v1/realtime", contentType: "audio/l16;rate=24000")
        e.protocol = .openAIRealtime
        return e
    }()

    /// Each line of `bytes` is a text message from the service; the playout advances as a driver's would
    /// (what `.play` queues is written, a frame a message is taken, `.clearPlayout` takes the rest).
    public static func drive(_ dialect: inout ServiceDialect, _ bytes: UnsafeRawBufferPointer) {
        var written = 0
        var taken = 0
        var now: Int64 = 0
        _ = dialect.handle(.opened)
        for line in bytes.split(separator: 10, omittingEmptySubsequences: false) {
            now += 20_000_000
            let text = String(decoding: line, as: UTF8.self)
            for action in dialect.handle(.text(text, playout: .init(written: written, taken: taken, bytesPerMillisecond: 48))) {
                switch action {
                case .play(let audio): written += audio.count
                case .clearPlayout: taken = written
                case .send(let message): precondition(!message.isEmpty)
                default: break
                }
            }
            taken = min(written, taken + 960)
            _ = dialect.handle(.timer(now: now, lastAudioSent: 0))
            _ = dialect.handle(.markersReached([text]))
        }
        _ = dialect.handle(.hangUp)
        _ = dialect.handle(.hangUp)
    }
}
