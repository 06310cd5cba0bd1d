/// How Patchbay talks to one speech or AI service it dialled, as a value: what the service's messages
/// mean and what to answer, with no socket and no clock (events carry the time). One of three dialects,
/// chosen by the endpoint's `protocol`:
/// - `voice-api` (`VoiceAPIDialect`): the Voice API's own websocket protocol, from the Voice API's side;
/// - `raw` (`RawDialect`): binary audio both ways and the service's own JSON (Deepgram, AssemblyAI, …);
/// - `openai-realtime` (`RealtimeDialect`): OpenAI's Realtime API.
///
/// The service leg's driver (in the server) feeds it events and performs the actions it returns; the
/// audio itself never passes through here frame by frame: the driver encodes and frames the caller's
/// audio as `outgoing` says, and queues the service's binary audio for playout. Only what needs a
/// decision does (a Realtime audio delta, a barge-in, a `clear`, a `notify`).
public struct ServiceDialect: Sendable {
    /// What happened, for the dialect to decide on.
    public enum Event: Sendable, Equatable {
        /// The websocket is up: the dialect's first message goes now.
        case opened
        /// A text message from the service; `playout` says where the playout stands.
        case text(String, playout: PlayoutCursor)
        /// Playout reached these `notify` markers (or a `clear` dropped them before they played).
        case markersReached([String])
        /// A digit on the call: a key pressed, or a tone detected in the caller's audio.
        case digit(Character, durationMilliseconds: Int)
        /// Housekeeping (every 250 ms): the time now, and when the caller's audio last went to the service.
        case timer(now: Int64, lastAudioSent: Int64)
        /// Patchbay ends the session (the caller hung up, or the control API did).
        case hangUp
    }

    /// What to do about it.
    public enum Action: Sendable, Equatable {
        /// Send this text message to the service.
        case send(String)
        /// Queue this audio for playout, in the endpoint's codec (16-bit PCM, or G.711 codes).
        case play([UInt8])
        /// Queue a `notify` marker after the audio queued so far (answered as `.markersReached`).
        case marker(String)
        /// Drop the audio waiting for playout; its pending markers come back as `.markersReached`.
        case clearPlayout
        /// Publish the service's message (JSON text) as an event on its leg.
        case publish(String)
        /// A text message the dialect refused, and why: counted and logged.
        case invalid(String)
        /// The caller's audio may go to the service from now on (`raw`'s `wait_for` arrived).
        case audioOpened
        /// Audio of a response that was truncated or cancelled, dropped (counted).
        case lateAudioDropped
        /// Close the session now (1000).
        case close
        /// The session's close message has gone: close in two seconds unless the service closes first.
        case closeAfterGrace
    }

    /// Where the playout stands, in bytes of 16-bit PCM at the endpoint's rate.
    public struct PlayoutCursor: Sendable, Equatable {
        /// Bytes ever queued.
        public var written: Int
        /// Bytes ever played (or cleared).
        public var taken: Int
        /// Bytes in one millisecond.
        public var bytesPerMillisecond: Int

        public init(written: Int, taken: Int, bytesPerMillisecond: Int) {
            self.written = written
            self.taken = taken
            self.bytesPerMillisecond = bytesPerMillisecond
        }
    }

    /// How the caller's audio goes to the service.
    public struct OutgoingAudio: Sendable, Equatable {
        public enum Encoding: Sendable, Equatable {
            /// 16-bit little-endian PCM.
            case pcm16
            /// G.711, one byte per sample.
            case g711(WebSocketEndpoint.Codec)
            /// One Opus packet per 20 ms message.
            case opus
        }

        /// How the encoded bytes are carried.
        public enum Envelope: Sendable, Equatable {
            /// As a binary message.
            case binary
            /// As text: `{"type":"input_audio_buffer.append","audio":"<base64>"}` (OpenAI Realtime).
            case realtimeAppend
        }

        public var encoding: Encoding
        public var envelope: Envelope
        /// Encoded bytes per message (`chunk_ms` of audio); Opus sends each packet as it is.
        public var chunkBytes: Int
        /// Frames of digital silence go too (false: only audio).
        public var sendsSilence: Bool

        public init(encoding: Encoding, envelope: Envelope, chunkBytes: Int, sendsSilence: Bool) {
            self.encoding = encoding
            self.envelope = envelope
            self.chunkBytes = chunkBytes
            self.sendsSilence = sendsSilence
        }
    }

    private enum Storage: Sendable {
        case voiceAPI(VoiceAPIDialect)
        case raw(RawDialect)
        case realtime(RealtimeDialect)
        /// Only while a dialect handles an event (so that mutating it never copies its state).
        case handling
    }

    private var storage: Storage
    public let outgoing: OutgoingAudio

    /// - Parameters:
    ///   - callerHeaders: the fields of the caller's `websocket:connected` (for `{caller.NAME}`).
    ///   - textLimit: the largest text message a service may send (`limits.max_service_message_bytes`).
    public init(endpoint: WebSocketEndpoint, callerHeaders: [String: String], textLimit: Int) {
        switch endpoint.protocol {
        case .voiceAPI: storage = .voiceAPI(VoiceAPIDialect(endpoint: endpoint, callerHeaders: callerHeaders))
        case .raw: storage = .raw(RawDialect(endpoint: endpoint))
        case .openAIRealtime: storage = .realtime(RealtimeDialect(endpoint: endpoint, textLimit: textLimit))
        }
        let rate = endpoint.sampleRate ?? 16000
        let encoding: OutgoingAudio.Encoding =
            switch endpoint.codec {
            case .pcm: .pcm16
            case .opus: .opus
            case .pcmu, .pcma: .g711(endpoint.codec)
            }
        let bytesPerSample = endpoint.codec.isG711 ? 1 : 2
        outgoing = OutgoingAudio(
            encoding: encoding, envelope: endpoint.protocol == .openAIRealtime ? .realtimeAppend : .binary,
            chunkBytes: L16.frameSamples(rate: rate) * bytesPerSample * endpoint.chunkMilliseconds / 20,
            sendsSilence: endpoint.sendSilence)
    }

    /// Whether the caller's audio goes to the service now (`raw`: not before `wait_for`, nor after `close`).
    public var acceptsCallerAudio: Bool {
        if case .raw(let raw) = storage { return raw.acceptsAudio }
        return true
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch storage {
        case .voiceAPI(var dialect):
            storage = .handling
            defer { storage = .voiceAPI(dialect) }
            return dialect.handle(event)
        case .raw(var dialect):
            storage = .handling
            defer { storage = .raw(dialect) }
            return dialect.handle(event)
        case .realtime(var dialect):
            storage = .handling
            defer { storage = .realtime(dialect) }
            return dialect.handle(event)
        case .handling:
            preconditionFailure("ServiceDialect.handle re-entered")
        }
    }
}
