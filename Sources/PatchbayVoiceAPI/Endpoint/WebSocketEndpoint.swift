import Foundation

/// A speech or AI service Patchbay dials for a call: the Voice API's NCCO websocket endpoint
/// (`type`, `uri`, `content-type`, `headers`, `authorization`), with what Patchbay adds — the protocol to
/// speak, the failure policy, the playout buffer and TLS. The same object a route's `connect` lists.
public struct WebSocketEndpoint: Sendable, Equatable, Codable {
    /// How Patchbay talks to the service.
    public enum ServiceProtocol: String, Sendable, Codable, CaseIterable {
        /// The Voice API's own websocket protocol, from the Voice API's side: any service built for the
        /// Voice API works unchanged.
        case voiceAPI = "voice-api"
        /// Binary audio both ways and the service's own JSON (speech-to-text services such as Deepgram and
        /// AssemblyAI, voice agents that take raw audio): shaped by `chunk_ms`, `codec`, `init`,
        /// `wait_for`, `keepalive`, `close`, `clear_on` and `send_silence`.
        case raw
        /// OpenAI's Realtime API (the GA interface): `session.update` from the `session` template, the
        /// caller's audio as `input_audio_buffer.append`, `response.output_audio.delta` played, and on
        /// `input_audio_buffer.speech_started` the playout cleared and `conversation.item.truncate` sent.
        case openAIRealtime = "openai-realtime"
    }

    /// The audio as the service wants it, both ways (`raw` and `openai-realtime`).
    public enum Codec: String, Sendable, Codable {
        /// 16-bit little-endian PCM at the endpoint's rate.
        case pcm
        /// One Opus packet (libopus, 20 ms) per message (`raw`).
        case opus
        /// G.711 μ-law, one byte per sample, at 8 kHz (OpenAI Realtime's `audio/pcmu`; Deepgram's `mulaw`).
        case pcmu
        /// G.711 A-law, one byte per sample, at 8 kHz (`audio/pcma`; Deepgram's `alaw`).
        case pcma

        /// G.711 (`pcmu`, `pcma`): one byte per sample.
        public var isG711: Bool { self == .pcmu || self == .pcma }
    }

    /// A text message sent while no audio flows (`raw`), e.g. Deepgram's `{"type":"KeepAlive"}`.
    public struct KeepAlive: Sendable, Equatable, Codable {
        public var message: JSONValue
        /// Seconds without audio sent before it goes (and between two of them).
        public var interval: Double

        public init(message: JSONValue, interval: Double) {
            self.message = message
            self.interval = interval
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case message, interval
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            message = try c.decode(JSONValue.self, forKey: .message)
            interval = try c.decode(Double.self, forKey: .interval)
        }
    }

    /// The `Authorization` header of the upgrade.
    public struct Authorization: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable {
            /// `value` is sent as the header, as it is.
            case custom
            /// A bearer JWT signed as the Voice API signs its own (HS256 with `auth.jwt_secret`).
            case vonage
        }

        public var type: Kind
        public var value: String?

        public init(type: Kind, value: String? = nil) {
            self.type = type
            self.value = value
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case type, value
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decode(Kind.self, forKey: .type)
            value = try c.decodeIfPresent(String.self, forKey: .value)
        }
    }

    /// What the service hears.
    public enum Source: String, Sendable, Codable {
        /// The other legs of the conversation — the caller — without the service's own audio (N-1).
        case caller
        /// The whole conversation, the service's own audio included (both sides of a call, for a
        /// transcription service).
        case mixed
    }

    /// What happens to the caller when the service cannot be reached (or is lost for good).
    public enum OnFailure: String, Sendable, Codable {
        /// The caller stays: it hears silence, or the route's stream.
        case `continue`
        /// The caller is hung up.
        case hangup
    }

    public var type: String
    /// `ws://` or `wss://`.
    public var uri: String
    /// `audio/l16;rate=8000`, `16000`, `24000` or `48000`.
    public var contentType: String
    /// Flattened into the `websocket:connected` Patchbay sends. String values may name fields of the
    /// caller's own `websocket:connected` as `{caller.NAME}` (an absent field becomes empty).
    public var headers: [String: JSONValue]
    public var authorization: Authorization?
    public var `protocol`: ServiceProtocol
    /// How long one attempt to connect (TCP, TLS and the upgrade) may take, in seconds.
    public var connectTimeout: Double
    /// Attempts are retried, with backoff and jitter, until this long after the first (0: no retry).
    public var retryDeadline: Double
    /// Dial again when the service drops the connection mid-call (within `retry_deadline` again).
    public var reconnect: Bool
    public var onFailure: OnFailure
    public var source: Source
    /// The most audio the service may send ahead of playout, in 20 ms frames (the Voice API's 3072 ≈ 60 s
    /// by default); what overflows is dropped and counted.
    public var playoutBufferFrames: Int
    /// Verify the service's TLS certificate (`wss://`).
    public var tlsVerify: Bool
    /// A PEM bundle of the certificate authorities to trust for `wss://` instead of the system's.
    public var caFile: String?

    // `raw` only.
    /// Milliseconds of audio per binary message (a multiple of 20, 20...1000; AssemblyAI wants 50 or more).
    public var chunkMilliseconds: Int
    public var codec: Codec
    /// Sent as text as soon as the websocket is up (a session's settings).
    public var initMessage: JSONValue?
    /// No audio is sent until a text message containing every field of this object arrives (e.g.
    /// `{"type":"SettingsApplied"}`); the caller's audio until then is not sent.
    public var waitFor: JSONValue?
    public var keepalive: KeepAlive?
    /// Sent when Patchbay ends the session (e.g. `{"type":"CloseStream"}`): no audio follows it, and the
    /// service has two seconds to send its last results and close before Patchbay closes.
    public var closeMessage: JSONValue?
    /// A text message containing every field of this object drops the audio queued for playout (a voice
    /// agent's barge-in, e.g. `{"type":"UserStartedSpeaking"}`).
    public var clearOn: JSONValue?
    /// Send frames of digital silence (false: only audio; the keepalive covers the gaps).
    public var sendSilence: Bool
    /// `openai-realtime`: the `session` object of the first `session.update` (instructions, voice, turn
    /// detection...); the audio formats are filled in from the content type where it leaves them out.
    public var session: JSONValue?

    public init(uri: String, contentType: String = "audio/l16;rate=16000") {
        type = "websocket"
        self.uri = uri
        self.contentType = contentType
        headers = [:]
        authorization = nil
        self.protocol = .voiceAPI
        connectTimeout = 5
        retryDeadline = 10
        reconnect = true
        onFailure = .continue
        source = .caller
        playoutBufferFrames = 3072
        tlsVerify = true
        caFile = nil
        chunkMilliseconds = 20
        codec = .pcm
        initMessage = nil
        waitFor = nil
        keepalive = nil
        closeMessage = nil
        clearOn = nil
        sendSilence = true
        session = nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, uri, headers, authorization, reconnect
        case contentType = "content-type"
        case `protocol`
        case connectTimeout = "connect_timeout"
        case retryDeadline = "retry_deadline"
        case onFailure = "on_failure"
        case source
        case playoutBufferFrames = "playout_buffer_frames"
        case tlsVerify = "tls_verify"
        case caFile = "ca_file"
        case chunkMilliseconds = "chunk_ms"
        case codec
        case initMessage = "init"
        case waitFor = "wait_for"
        case keepalive
        case closeMessage = "close"
        case clearOn = "clear_on"
        case sendSilence = "send_silence"
        case session
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var e = WebSocketEndpoint(uri: try c.decode(String.self, forKey: .uri))
        e.type = try c.decodeIfPresent(String.self, forKey: .type) ?? e.type
        e.contentType = try c.decodeIfPresent(String.self, forKey: .contentType) ?? e.contentType
        e.headers = try c.decodeIfPresent([String: JSONValue].self, forKey: .headers) ?? e.headers
        e.authorization = try c.decodeIfPresent(Authorization.self, forKey: .authorization)
        e.protocol = try c.decodeIfPresent(ServiceProtocol.self, forKey: .protocol) ?? e.protocol
        e.connectTimeout = try c.decodeIfPresent(Double.self, forKey: .connectTimeout) ?? e.connectTimeout
        e.retryDeadline = try c.decodeIfPresent(Double.self, forKey: .retryDeadline) ?? e.retryDeadline
        e.reconnect = try c.decodeIfPresent(Bool.self, forKey: .reconnect) ?? e.reconnect
        e.onFailure = try c.decodeIfPresent(OnFailure.self, forKey: .onFailure) ?? e.onFailure
        e.source = try c.decodeIfPresent(Source.self, forKey: .source) ?? e.source
        e.playoutBufferFrames = try c.decodeIfPresent(Int.self, forKey: .playoutBufferFrames) ?? e.playoutBufferFrames
        e.tlsVerify = try c.decodeIfPresent(Bool.self, forKey: .tlsVerify) ?? e.tlsVerify
        e.caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        e.chunkMilliseconds = try c.decodeIfPresent(Int.self, forKey: .chunkMilliseconds) ?? e.chunkMilliseconds
        e.codec = try c.decodeIfPresent(Codec.self, forKey: .codec) ?? e.codec
        e.initMessage = try c.decodeIfPresent(JSONValue.self, forKey: .initMessage)
        e.waitFor = try c.decodeIfPresent(JSONValue.self, forKey: .waitFor)
        e.keepalive = try c.decodeIfPresent(KeepAlive.self, forKey: .keepalive)
        e.closeMessage = try c.decodeIfPresent(JSONValue.self, forKey: .closeMessage)
        e.clearOn = try c.decodeIfPresent(JSONValue.self, forKey: .clearOn)
        e.sendSilence = try c.decodeIfPresent(Bool.self, forKey: .sendSilence) ?? e.sendSilence
        e.session = try c.decodeIfPresent(JSONValue.self, forKey: .session)
        self = e
    }

    /// The audio rate the content type names (any rate a leg may have: a service may take 48 kHz).
    public var sampleRate: Int? { try? L16.rate(ofContentType: contentType, allowed: L16.rates) }

    /// Checks every field, naming the first that is wrong (`at` says where the endpoint is).
    public func validate(at place: String, jwtSecret: String?) throws(ConfigurationError) {
        guard type == "websocket" else { throw ConfigurationError("\(place).type must be \"websocket\" (got \"\(type)\")") }
        guard let url = URL(string: uri), ["ws", "wss"].contains(url.scheme?.lowercased() ?? ""), let host = url.host,
            !host.isEmpty
        else {
            throw ConfigurationError("\(place).uri must be a ws:// or wss:// URL (got \"\(uri)\")")
        }
        guard sampleRate != nil else {
            throw ConfigurationError(
                "\(place).content-type must be audio/l16;rate=\(L16.list(L16.rates)) (got \"\(contentType)\")")
        }
        for key in headers.keys where ["event", "content-type"].contains(key) {
            throw ConfigurationError("\(place).headers must not set \"\(key)\" (Patchbay sends it)")
        }
        if let data = try? JSONEncoder().encode(headers), data.count > 4096 {
            throw ConfigurationError("\(place).headers must be at most 4096 bytes of JSON (got \(data.count))")
        }
        switch authorization?.type {
        case .custom?:
            guard let value = authorization?.value, !value.isEmpty, !value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                throw ConfigurationError("\(place).authorization.value must be a non-empty header value for type custom")
            }
        case .vonage?:
            guard jwtSecret != nil else {
                throw ConfigurationError("\(place).authorization type vonage signs with auth.jwt_secret: set it")
            }
        case nil:
            break
        }
        for (name, value, range) in [
            ("connect_timeout", connectTimeout, 0.1...600.0), ("retry_deadline", retryDeadline, 0.0...3600.0),
        ] where !range.contains(value) {
            throw ConfigurationError("\(place).\(name) must be \(range.lowerBound)...\(range.upperBound) seconds (got \(value))")
        }
        guard (50...100_000).contains(playoutBufferFrames) else {
            throw ConfigurationError("\(place).playout_buffer_frames must be 50...100000 (got \(playoutBufferFrames))")
        }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ConfigurationError("\(place).ca_file \(caFile) does not exist or cannot be read")
        }
        let rawOnly: [(String, Bool)] = [
            ("codec", codec == .opus), ("init", initMessage != nil), ("wait_for", waitFor != nil),
            ("keepalive", keepalive != nil), ("close", closeMessage != nil), ("clear_on", clearOn != nil),
            ("send_silence", !sendSilence),
        ]
        if self.protocol != .raw, let (key, _) = rawOnly.first(where: { $0.1 }) {
            throw ConfigurationError("\(place).\(key) applies to protocol raw only")
        }
        if self.protocol == .voiceAPI, codec != .pcm {
            throw ConfigurationError("\(place).codec applies to protocols raw and openai-realtime (voice-api sends audio/l16)")
        }
        if codec.isG711, sampleRate != 8000 {
            throw ConfigurationError("\(place).codec \(codec.rawValue) is G.711 at 8 kHz: content-type must be audio/l16;rate=8000")
        }
        if self.protocol == .voiceAPI, chunkMilliseconds != 20 {
            throw ConfigurationError("\(place).chunk_ms applies to protocols raw and openai-realtime (voice-api sends 20 ms frames)")
        }
        if self.protocol != .openAIRealtime, session != nil {
            throw ConfigurationError("\(place).session applies to protocol openai-realtime only")
        }
        if self.protocol == .openAIRealtime {
            guard codec.isG711 || sampleRate == 24000 else {
                throw ConfigurationError(
                    "\(place).content-type must be audio/l16;rate=24000 for openai-realtime (its audio/pcm), or rate=8000 with codec pcmu or pcma")
            }
            if let session, case .object = session {
            } else if session != nil {
                throw ConfigurationError("\(place).session must be a JSON object")
            }
        }
        guard chunkMilliseconds % 20 == 0, (20...1000).contains(chunkMilliseconds) else {
            throw ConfigurationError("\(place).chunk_ms must be a multiple of 20 in 20...1000 (got \(chunkMilliseconds))")
        }
        if codec == .opus, chunkMilliseconds != 20 {
            throw ConfigurationError("\(place).codec opus sends one 20 ms packet per message: chunk_ms must be 20")
        }
        for (key, value) in [("wait_for", waitFor), ("clear_on", clearOn)] {
            if let value, case .object(let o) = value, !o.isEmpty { continue }
            if value != nil { throw ConfigurationError("\(place).\(key) must be a non-empty JSON object (the fields to match)") }
        }
        if let keepalive, !(0.5...600).contains(keepalive.interval) {
            throw ConfigurationError("\(place).keepalive.interval must be 0.5...600 seconds (got \(keepalive.interval))")
        }
    }

    /// Whether a service's JSON message contains every field of `pattern` (`wait_for`, `clear_on`).
    public static func matches(_ message: [String: Any], _ pattern: JSONValue?) -> Bool {
        guard case .object(let fields)? = pattern else { return false }
        for (key, value) in fields {
            guard let got = message[key] else { return false }
            let expected = value.foundationObject
            guard let a = try? JSONSerialization.data(withJSONObject: [got], options: [.sortedKeys]),
                let b = try? JSONSerialization.data(withJSONObject: [expected], options: [.sortedKeys]), a == b
            else { return false }
        }
        return true
    }

    /// The `websocket:connected` message for this endpoint: the content type, then the headers with
    /// `{caller.NAME}` replaced by the caller's own fields.
    public func connectedMessage(caller: [String: String]) -> String {
        var object: [String: Any] = [:]
        for (key, value) in headers {
            object[key] = value.mapStrings { Self.substitute($0, caller: caller) }.foundationObject
        }
        object["event"] = "websocket:connected"
        object["content-type"] = contentType
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `text` with every `{caller.NAME}` replaced by the caller's field NAME (empty when it has none).
    public static func substitute(_ text: String, caller: [String: String]) -> String {
        guard text.contains("{caller.") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{caller.") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                rest = rest[open.lowerBound...]
                break
            }
            out += caller[String(rest[open.upperBound..<close])] ?? ""
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
