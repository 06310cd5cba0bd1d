public import Foundation

/// One action of an NCCO (the Voice API's call control object): what Patchbay does with a websocket leg.
/// Read and checked by one reader wherever an NCCO comes from (a route's `ncco`, an `answer_url`, the
/// answer to an `input` or `notify` event, `transfer`, `POST /v1/calls`), with the Voice API's parameter
/// names and defaults. `CallFlow` runs them.
public enum NCCOAction: Sendable, Equatable {
    /// Move the leg to the named conversation, where it stays.
    case conversation(Conversation)
    case talk(Talk)
    case stream(Stream)
    /// Collect digits.
    case input(Input)
    /// Send a payload to the application; its answer may replace the rest of the NCCO.
    case notify(Notify)
    /// Pause, in seconds.
    case wait(seconds: Double)
    /// Dial websocket services into the leg's conversation.
    case connect(Connect)
    /// Record the leg (or its conversation).
    case record(Record)

    /// The actions Patchbay runs.
    public static let supported = ["record", "conversation", "talk", "stream", "input", "notify", "wait", "connect"]

    /// Where the application's events for an action go (`eventUrl`, `eventMethod`).
    public struct EventTarget: Sendable, Equatable {
        public enum Method: String, Sendable {
            case get = "GET"
            case post = "POST"
        }

        public var url: String
        public var method: Method

        public init(url: String, method: Method = .post) {
            self.url = url
            self.method = method
        }

        /// Reads `eventUrl` (a list of one http(s) URL, or the URL) and `eventMethod` (default POST).
        static func read(_ fields: inout FieldReader, required: Bool = false, rules: NCCORules) throws(NCCORejection) -> EventTarget? {
            let url = try readURL("eventUrl", in: &fields, required: required, rules: rules)
            var method = Method.post
            if let text = fields.string("eventMethod") {
                if let m = Method(rawValue: text.uppercased()) {
                    method = m
                } else {
                    fields.problem("eventMethod", "must be GET or POST")
                }
            }
            return url.map { EventTarget(url: $0, method: method) }
        }
    }

    /// An http(s) URL the application gave in an NCCO (a list of exactly one, as the Voice API writes
    /// them, or the URL alone), checked against `rules.allowedFetchHosts` (a host not allowed refuses the
    /// whole NCCO, as a websocket host not allowed does).
    static func readURL(_ name: String, in fields: inout FieldReader, required: Bool, rules: NCCORules?) throws(NCCORejection) -> String? {
        guard let urls = fields.strings(name, required: required) else { return nil }
        guard urls.count == 1 else {
            fields.problem(name, "must hold exactly one URL")
            return nil
        }
        guard FieldReader.isFetchableURL(urls[0]) else {
            fields.problem(name, "must be an http or https URL")
            return nil
        }
        if let rules, !rules.allowedFetchHosts.allows(urls[0]) { throw .forbiddenFetchHost(urls[0]) }
        return urls[0]
    }

    /// Speech into a call: the NCCO `talk` action and `PUT /v1/calls/{uuid}/talk`.
    public struct Talk: Sendable, Equatable {
        public var text: String
        /// The voice that speaks it (what `NCCORules.voice` chose for the language and style).
        public var voice: String
        /// Times to say it (0: until stopped).
        public var loop: Int
        /// -1...1, 0 = unchanged.
        public var level: Double
        /// Stops at the caller's first digit, which the next `input` receives.
        public var bargeIn: Bool

        public init(text: String, voice: String, loop: Int = 1, level: Double = 0, bargeIn: Bool = false) {
            self.text = text
            self.voice = voice
            self.loop = loop
            self.level = level
            self.bargeIn = bargeIn
        }

        /// Reads and checks the fields (`text`, `language`, `style`, `premium`, `bargeIn`, `loop`, `level`).
        public static func read(_ fields: inout FieldReader, rules: NCCORules) throws(NCCORejection) -> Talk? {
            let text = fields.string("text", required: true)
            let language = fields.string("language") ?? "en-US"
            let style = fields.integer("style", in: 0...Int(Int32.max)) ?? 0
            _ = fields.boolean("premium")  // one engine: accepted, and every voice is the same kind
            let bargeIn = fields.boolean("bargeIn") ?? false
            let loop = fields.integer("loop", in: 0...1000) ?? 1
            let level = fields.number("level", in: -1...1) ?? 0
            if let text {
                if text.count > rules.maximumTalkCharacters {
                    fields.problem("text", "must be at most \(rules.maximumTalkCharacters) characters")
                } else if !text.contains(where: { !$0.isWhitespace }) {
                    fields.problem("text", "must not be empty")
                }
            }
            var voice: String?
            switch rules.voice(language, style) {
            case .voice(let name): voice = name
            case .unsupportedStyle(let styles): fields.problem("style", "must be 0...\(styles - 1) (espeak-ng voice variants)")
            case .unknownLanguage: fields.problem("language", "no voice speaks \(language)")
            case .unavailable(let reason): throw .speechUnavailable(reason)
            }
            guard let text, let voice, fields.problems.isEmpty else { return nil }
            return Talk(text: text, voice: voice, loop: loop, level: level, bargeIn: bargeIn)
        }
    }

    /// Audio into a call: the NCCO `stream` action (`streamUrl`) and `PUT /v1/calls/{uuid}/stream`
    /// (`stream_url`).
    public struct Stream: Sendable, Equatable {
        /// An http(s) URL of a wav or mp3.
        public var url: String
        /// Times to play it (0: until stopped).
        public var loop: Int
        /// -1...1, 0 = unchanged.
        public var level: Double
        /// Stops at the caller's first digit, which the next `input` receives.
        public var bargeIn: Bool

        public init(url: String, loop: Int = 1, level: Double = 0, bargeIn: Bool = false) {
            self.url = url
            self.loop = loop
            self.level = level
            self.bargeIn = bargeIn
        }

        /// - Parameter rules: for an NCCO's stream, whose host must be allowed; nil for the control API's.
        public static func read(_ fields: inout FieldReader, urlField: String, rules: NCCORules? = nil) throws(NCCORejection) -> Stream? {
            let url = try readURL(urlField, in: &fields, required: true, rules: rules)
            let loop = fields.integer("loop", in: 0...1000) ?? 1
            let level = fields.number("level", in: -1...1) ?? 0
            let bargeIn = fields.boolean("bargeIn") ?? false
            guard let url, fields.problems.isEmpty else { return nil }
            return Stream(url: url, loop: loop, level: level, bargeIn: bargeIn)
        }
    }

    /// The NCCO `input` action: digits pressed, sent to `eventUrl` (default: the application's event URL).
    public struct Input: Sendable, Equatable {
        /// The result is sent once this many digits are in (1...20, default 4).
        public var maxDigits: Int
        /// Seconds after the last digit (or the start) before the result is sent (0...10, default 3).
        public var timeOut: Double
        /// `#` sends the result at once (and is not part of the digits).
        public var submitOnHash: Bool
        /// Each digit is sent on its own as it comes, and the NCCO goes on at once.
        public var asynchronous: Bool
        public var eventTarget: EventTarget?

        public init(maxDigits: Int = 4, timeOut: Double = 3, submitOnHash: Bool = false, asynchronous: Bool = false, eventTarget: EventTarget? = nil)
        {
            self.maxDigits = maxDigits
            self.timeOut = timeOut
            self.submitOnHash = submitOnHash
            self.asynchronous = asynchronous
            self.eventTarget = eventTarget
        }

        static func read(_ a: inout FieldReader, rules: NCCORules) throws(NCCORejection) -> Input? {
            var input = Input()
            if let types = a.strings("type", required: true) {
                if types.isEmpty {
                    a.problem("type", "must name dtmf")
                } else if let other = types.first(where: { $0 != "dtmf" }) {
                    if other == "speech" {
                        a.problem("type", "speech input needs a speech recognition service, which this gateway does not have: use [\"dtmf\"]")
                    } else {
                        a.problem("type", "\(other) is not an input type (dtmf)")
                    }
                }
            }
            if a.fields["speech"] != nil {
                a.problem("speech", "speech input needs a speech recognition service, which this gateway does not have")
            }
            switch a.string("mode") {
            case nil, "synchronous": break
            case "asynchronous": input.asynchronous = true
            case let other?: a.problem("mode", "\(other) is not synchronous or asynchronous")
            }
            if let dtmf = a.object("dtmf") {
                var d = a.nested(dtmf, at: "dtmf")
                input.maxDigits = d.integer("maxDigits", in: 1...20) ?? input.maxDigits
                input.timeOut = d.number("timeOut", in: 0...10) ?? input.timeOut
                input.submitOnHash = d.boolean("submitOnHash") ?? input.submitOnHash
                a.absorb(d)
                if input.asynchronous, !dtmf.isEmpty {
                    a.problem("dtmf", "must be left out in asynchronous mode (each digit is sent as it comes)")
                }
            }
            input.eventTarget = try EventTarget.read(&a, rules: rules)
            return a.problems.isEmpty ? input : nil
        }
    }

    /// The NCCO `notify` action.
    public struct Notify: Sendable, Equatable {
        /// A JSON object, as given.
        public var payload: [String: JSONValue]
        public var eventTarget: EventTarget

        public init(payload: [String: JSONValue], eventTarget: EventTarget) {
            self.payload = payload
            self.eventTarget = eventTarget
        }
    }

    /// The NCCO `record` action: the Voice API's names and defaults.
    public struct Record: Sendable, Equatable {
        public enum Format: String, Sendable, CaseIterable {
            case mp3, wav, ogg
        }

        public var format: Format
        /// `split: "conversation"`: the leg on the first channel, what it heard on the second (or, with
        /// more `channels`, each leg of its conversation on a channel of its own).
        public var split: Bool
        /// 1 without `split`; 2 to 32 with it (default 2).
        public var channels: Int
        /// Seconds of silence on the leg that end the recording (3...10).
        public var endOnSilence: Double?
        /// A digit, `*` or `#` that ends the recording.
        public var endOnKey: Character?
        /// Seconds after which the recording ends (3...7200, default 7200).
        public var timeOut: Double
        /// Whether `timeOut` was given (an end condition: the NCCO waits for the recording).
        public var timeOutGiven: Bool
        /// A beep the leg hears as the recording starts.
        public var beepStart: Bool
        /// Where the record event goes (default: the application's event URL).
        public var eventTarget: EventTarget?

        public init(
            format: Format = .mp3, split: Bool = false, channels: Int = 1, endOnSilence: Double? = nil, endOnKey: Character? = nil,
            timeOut: Double = 7200, timeOutGiven: Bool = false, beepStart: Bool = false, eventTarget: EventTarget? = nil
        ) {
            self.format = format
            self.split = split
            self.channels = channels
            self.endOnSilence = endOnSilence
            self.endOnKey = endOnKey
            self.timeOut = timeOut
            self.timeOutGiven = timeOutGiven
            self.beepStart = beepStart
            self.eventTarget = eventTarget
        }

        /// With an end condition (`endOnSilence`, `endOnKey`, `timeOut`) the NCCO waits until the
        /// recording ends; without one it goes on at once and the recording runs until the call ends.
        public var synchronous: Bool { endOnSilence != nil || endOnKey != nil || timeOutGiven }

        static func read(_ a: inout FieldReader, rules: NCCORules) throws(NCCORejection) -> Record? {
            var record = Record()
            if let text = a.string("format") {
                if let format = Format(rawValue: text) { record.format = format } else { a.problem("format", "must be mp3, wav or ogg") }
            }
            if let split = a.string("split") {
                if split == "conversation" { record.split = true } else { a.problem("split", "must be conversation") }
            }
            if let channels = a.integer("channels", in: 1...32) {
                if !record.split {
                    if channels != 1 { a.problem("channels", "needs split: conversation") }
                } else if channels < 2 {
                    a.problem("channels", "must be 2 to 32 with split")
                } else {
                    record.channels = channels
                }
            } else if record.split {
                record.channels = 2
            }
            record.endOnSilence = a.number("endOnSilence", in: 3...10)
            if let key = a.string("endOnKey") {
                if key.count == 1, let c = key.first, "0123456789*#".contains(c) {
                    record.endOnKey = c
                } else {
                    a.problem("endOnKey", "must be one digit, * or #")
                }
            }
            if let timeOut = a.number("timeOut", in: 3...7200) {
                record.timeOut = timeOut
                record.timeOutGiven = true
            }
            record.beepStart = a.boolean("beepStart") ?? false
            record.eventTarget = try EventTarget.read(&a, rules: rules)
            for unsupported in ["transcription"] where a.fields[unsupported] != nil {
                a.problem(unsupported, "is not supported: the recording is not transcribed here")
            }
            return a.problems.isEmpty ? record : nil
        }
    }

    /// The NCCO `conversation` action.
    public struct Conversation: Sendable, Equatable {
        public var name: String
        /// Played to the leg until another leg is in the conversation (and it has started).
        public var musicOnHoldURL: String?
        /// False: the leg waits (hearing the music, heard by nobody) until a leg that starts the
        /// conversation joins.
        public var startOnEnter: Bool
        /// The conversation ends (its other legs are hung up) when this leg leaves it.
        public var endOnExit: Bool
        public var mute: Bool
        /// The legs that hear this one (nil: every leg).
        public var canSpeak: [UUID]?
        /// The legs this one hears (nil: every leg).
        public var canHear: [UUID]?
        /// Record the whole conversation (every leg mixed), from now until its last leg leaves.
        public var record: Bool

        public init(
            name: String, musicOnHoldURL: String? = nil, startOnEnter: Bool = true, endOnExit: Bool = false, mute: Bool = false,
            canSpeak: [UUID]? = nil, canHear: [UUID]? = nil, record: Bool = false
        ) {
            self.record = record
            self.name = name
            self.musicOnHoldURL = musicOnHoldURL
            self.startOnEnter = startOnEnter
            self.endOnExit = endOnExit
            self.mute = mute
            self.canSpeak = canSpeak
            self.canHear = canHear
        }

        /// Whether the leg only moves: nothing beyond the name was asked for.
        public var isPlainMove: Bool {
            musicOnHoldURL == nil && startOnEnter && !endOnExit && !mute && canSpeak == nil && canHear == nil && !record
        }

        static func read(_ a: inout FieldReader, rules: NCCORules) throws(NCCORejection) -> Conversation? {
            let name = a.string("name", required: true)
            if let name, name.isEmpty || name.utf8.count > 256 { a.problem("name", "must be 1 to 256 bytes") }
            let music = try readURL("musicOnHoldUrl", in: &a, required: false, rules: rules)
            let startOnEnter = a.boolean("startOnEnter") ?? true
            let endOnExit = a.boolean("endOnExit") ?? false
            let mute = a.boolean("mute") ?? false
            let record = a.boolean("record") ?? false
            let canSpeak = legs("canSpeak", in: &a)
            let canHear = legs("canHear", in: &a)
            if mute, canSpeak != nil { a.problem("mute", "cannot be used with canSpeak") }
            _ = try EventTarget.read(&a, rules: rules)  // checked; a conversation sends no events of its own here
            guard let name, a.problems.isEmpty else { return nil }
            return Conversation(
                name: name, musicOnHoldURL: music, startOnEnter: startOnEnter, endOnExit: endOnExit, mute: mute, canSpeak: canSpeak,
                canHear: canHear, record: record)
        }

        private static func legs(_ name: String, in a: inout FieldReader) -> [UUID]? {
            guard let texts = a.strings(name) else { return nil }
            var ids: [UUID] = []
            for text in texts {
                guard let id = UUID(uuidString: text) else {
                    a.problem(name, "\(text) is not a leg UUID")
                    return nil
                }
                ids.append(id)
            }
            return ids
        }
    }

    /// The NCCO `connect` action, to websocket endpoints.
    public struct Connect: Sendable, Equatable {
        public var endpoints: [WebSocketEndpoint]
        /// Where the connected leg's end is reported (and, when synchronous, whose answer may replace the
        /// rest of the NCCO).
        public var eventTarget: EventTarget?
        /// The NCCO waits here until the connected leg has ended (or could not be reached).
        public var synchronous: Bool
        /// Seconds the service has to answer (default 60).
        public var timeout: Double
        /// Seconds the connected leg may last (default 7200).
        public var limit: Double

        public init(
            endpoints: [WebSocketEndpoint], eventTarget: EventTarget? = nil, synchronous: Bool = false, timeout: Double = 60, limit: Double = 7200
        ) {
            self.endpoints = endpoints
            self.eventTarget = eventTarget
            self.synchronous = synchronous
            self.timeout = timeout
            self.limit = limit
        }

        static func read(_ a: inout FieldReader, rules: NCCORules) throws(NCCORejection) -> Connect? {
            var endpoints: [WebSocketEndpoint] = []
            if let objects = a.objects("endpoint", required: true) {
                if objects.isEmpty { a.problem("endpoint", "must hold at least one endpoint") }
                for (j, object) in objects.enumerated() {
                    if let endpoint = try readEndpoint(object, named: "endpoint[\(j)]", in: &a, rules: rules) { endpoints.append(endpoint) }
                }
            }
            var synchronous = false
            switch a.string("eventType") {
            case nil: break
            case "synchronous": synchronous = true
            case let other?: a.problem("eventType", "\(other) is not synchronous")
            }
            let timeout = a.number("timeout", in: 1...600) ?? 60
            let limit = a.number("limit", in: 1...7200) ?? 7200
            // The caller id of a phone call: accepted (the Voice API's SDKs require one of them) and not used.
            _ = a.string("from")
            _ = a.boolean("randomFromNumber")
            for unsupported in ["machineDetection", "advancedMachineDetection", "ringbackTone"] where a.fields[unsupported] != nil {
                a.problem(unsupported, "is for phone endpoints: websocket endpoints do not support it")
            }
            let target = try EventTarget.read(&a, rules: rules)
            guard !endpoints.isEmpty, a.problems.isEmpty else { return nil }
            return Connect(endpoints: endpoints, eventTarget: target, synchronous: synchronous, timeout: timeout, limit: limit)
        }
    }

    /// Reads and checks every action, problems reported as `ncco[i].field` under `fields`' path.
    public static func read(
        _ objects: [[String: JSONValue]], in fields: inout FieldReader, rules: NCCORules
    ) throws(NCCORejection) -> [NCCOAction] {
        if objects.isEmpty { fields.problem("ncco", "must hold at least one action") }
        var actions: [NCCOAction] = []
        for (i, object) in objects.enumerated() {
            var a = fields.nested(object, at: "ncco[\(i)]")
            switch a.string("action", required: true) {
            case "conversation":
                if let conversation = try Conversation.read(&a, rules: rules) { actions.append(.conversation(conversation)) }
            case "talk":
                if let talk = try Talk.read(&a, rules: rules) { actions.append(.talk(talk)) }
            case "stream":
                if let stream = try Stream.read(&a, urlField: "streamUrl", rules: rules) { actions.append(.stream(stream)) }
            case "input":
                if let input = try Input.read(&a, rules: rules) { actions.append(.input(input)) }
            case "notify":
                let payload = a.object("payload", required: true)
                let target = try EventTarget.read(&a, required: true, rules: rules)
                if let payload, let target { actions.append(.notify(Notify(payload: payload, eventTarget: target))) }
            case "wait":
                // The Voice API's range; values outside it are clamped, as it does.
                if let seconds = a.number("timeout", in: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) {
                    actions.append(.wait(seconds: min(7200, max(0.1, seconds))))
                } else if a.fields["timeout"] == nil {
                    actions.append(.wait(seconds: 10))
                }
            case "connect":
                if let connect = try Connect.read(&a, rules: rules) { actions.append(.connect(connect)) }
            case "record":
                if let record = try Record.read(&a, rules: rules) { actions.append(.record(record)) }
            case let other?:
                a.problem("action", "\(other) is not supported (\(supported.joined(separator: ", ")))")
            case nil:
                break
            }
            // A prompt that a digit may stop must hand the digit to an input, as the Voice API requires.
            if case .string(let kind) = object["action"] ?? .null, kind == "talk" || kind == "stream",
                case .bool(true) = object["bargeIn"] ?? .null
            {
                let next = i + 1 < objects.count ? objects[i + 1]["action"] : nil
                if next != .string("input") { a.problem("bargeIn", "must be followed by an input action") }
            }
            fields.absorb(a)
        }
        return actions
    }

    /// One websocket endpoint an application gave (a `connect` action's, `POST /v1/calls`' `to`), checked
    /// as the configuration's are, and against `rules.allowedWebSocketHosts`.
    static func readEndpoint(
        _ object: [String: JSONValue], named name: String, in a: inout FieldReader, rules: NCCORules
    ) throws(NCCORejection) -> WebSocketEndpoint? {
        guard case .string("websocket") = object["type"] ?? .null else {
            a.problem(name + ".type", "must be websocket (Patchbay dials websocket services only)")
            return nil
        }
        guard object["ca_file"] == nil else {
            a.problem(name + ".ca_file", "is for the configuration file only")
            return nil
        }
        if case .string(let uri) = object["uri"] ?? .null,
            uri.range(of: FieldReader.urlPattern(schemes: "wss?"), options: .regularExpression) == nil
        {
            a.problem(name + ".uri", "must be a ws:// or wss:// URL (a host of letters, digits, dots and dashes)")
            return nil
        }
        let endpoint: WebSocketEndpoint
        do {
            endpoint = try JSONDecoder().decode(WebSocketEndpoint.self, from: JSONEncoder().encode(JSONValue.object(object)))
            try endpoint.validate(at: a.path + name, jwtSecret: rules.jwtSecret)
        } catch let error as ConfigurationError {
            a.problem(name, error.description)
            return nil
        } catch DecodingError.keyNotFound(let key, _) {
            a.problem(name + "." + key.stringValue, "is required")
            return nil
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            a.problem(name + "." + context.codingPath.map(\.stringValue).joined(separator: "."), "has the wrong type")
            return nil
        } catch {
            a.problem(name, "is not a websocket endpoint")
            return nil
        }
        guard rules.allowedWebSocketHosts.allows(endpoint.uri) else { throw .forbiddenHost(endpoint.uri) }
        return endpoint
    }
}

/// What the NCCO reader checks against the gateway it runs on.
public struct NCCORules: Sendable {
    /// Where `connect` may dial (`api.allowed_websocket_hosts`).
    public var allowedWebSocketHosts: HostPatterns
    /// Where an NCCO's `eventUrl`, `streamUrl` and `musicOnHoldUrl` may point (`api.allowed_http_hosts`,
    /// and the hosts of the gateway's own configured application URLs).
    public var allowedFetchHosts: HostPatterns
    /// The secret a `vonage` authorization signs with (an endpoint asking for one needs it).
    public var jwtSecret: String?
    /// The voice that speaks a language in a style (0 = the default voice).
    public var voice: @Sendable (_ language: String, _ style: Int) -> VoiceLookup
    /// The longest `talk` text, in characters.
    public var maximumTalkCharacters: Int

    public init(
        allowedWebSocketHosts: HostPatterns, allowedFetchHosts: HostPatterns = HostPatterns(["*"]), jwtSecret: String?,
        maximumTalkCharacters: Int, voice: @escaping @Sendable (_ language: String, _ style: Int) -> VoiceLookup
    ) {
        self.allowedWebSocketHosts = allowedWebSocketHosts
        self.allowedFetchHosts = allowedFetchHosts
        self.jwtSecret = jwtSecret
        self.maximumTalkCharacters = maximumTalkCharacters
        self.voice = voice
    }

    /// The answer of a voice lookup.
    public enum VoiceLookup: Sendable, Equatable {
        case voice(String)
        /// The language has a voice, with this many styles.
        case unsupportedStyle(styles: Int)
        case unknownLanguage
        /// Speech cannot be made at all here, for this reason.
        case unavailable(String)
    }
}

/// Why an NCCO (or a request carrying one) is refused as a whole, beyond the fields it names.
public enum NCCORejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// A `connect` endpoint whose host is not allowed (`api.allowed_websocket_hosts`).
    case forbiddenHost(String)
    /// A `talk` cannot be spoken: there is no speech here.
    case speechUnavailable(String)
    /// An `eventUrl`, `streamUrl` or `musicOnHoldUrl` whose host is not allowed (`api.allowed_http_hosts`).
    case forbiddenFetchHost(String)

    public var description: String {
        switch self {
        case .forbiddenHost(let uri): "\(uri) is not in api.allowed_websocket_hosts"
        case .speechUnavailable(let reason): "talk cannot be spoken here (\(reason))"
        case .forbiddenFetchHost(let url): "\(url) is not in api.allowed_http_hosts"
        }
    }
}
