import Foundation

/// One action of an NCCO (the Voice API's call control object): what Patchbay does with a websocket leg.
/// Read and checked by one reader wherever an NCCO comes from (`transfer`, `POST /v1/calls`).
public enum NCCOAction: Sendable, Equatable {
    /// Move the leg to the named conversation.
    case conversation(name: String)
    case talk(Talk)
    case stream(Stream)
    /// Dial websocket services into the leg's conversation.
    case connect([WebSocketEndpoint])

    /// The actions Patchbay runs.
    public static let supported = ["conversation", "talk", "stream", "connect"]

    /// Speech into a call: the NCCO `talk` action and `PUT /v1/calls/{uuid}/talk`.
    public struct Talk: Sendable, Equatable {
        public var text: String
        /// The voice that speaks it (what `NCCORules.voice` chose for the language and style).
        public var voice: String
        /// Times to say it (0: until stopped).
        public var loop: Int
        /// -1...1, 0 = unchanged.
        public var level: Double

        public init(text: String, voice: String, loop: Int = 1, level: Double = 0) {
            self.text = text
            self.voice = voice
            self.loop = loop
            self.level = level
        }

        /// Reads and checks the fields (`text`, `language`, `style`, `premium`, `bargeIn`, `loop`, `level`).
        public static func read(_ fields: inout FieldReader, rules: NCCORules) throws(NCCORejection) -> Talk? {
            let text = fields.string("text", required: true)
            let language = fields.string("language") ?? "en-US"
            let style = fields.integer("style", in: 0...Int(Int32.max)) ?? 0
            _ = fields.boolean("premium")  // one engine: accepted, and every voice is the same kind
            _ = fields.boolean("bargeIn")
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
            return Talk(text: text, voice: voice, loop: loop, level: level)
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

        public init(url: String, loop: Int = 1, level: Double = 0) {
            self.url = url
            self.loop = loop
            self.level = level
        }

        public static func read(_ fields: inout FieldReader, urlField: String) -> Stream? {
            let urls = fields.strings(urlField, required: true)
            let loop = fields.integer("loop", in: 0...1000) ?? 1
            let level = fields.number("level", in: -1...1) ?? 0
            var url: String?
            if let urls {
                if urls.count != 1 {
                    fields.problem(urlField, "must hold exactly one URL")
                } else if FieldReader.isFetchableURL(urls[0]) {
                    url = urls[0]
                } else {
                    fields.problem(urlField, "must be an http or https URL")
                }
            }
            guard let url, fields.problems.isEmpty else { return nil }
            return Stream(url: url, loop: loop, level: level)
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
                if let name = a.string("name", required: true) {
                    if name.isEmpty || name.utf8.count > 256 {
                        a.problem("name", "must be 1 to 256 bytes")
                    } else {
                        actions.append(.conversation(name: name))
                    }
                }
            case "talk":
                if let talk = try Talk.read(&a, rules: rules) { actions.append(.talk(talk)) }
            case "stream":
                if let stream = Stream.read(&a, urlField: "streamUrl") { actions.append(.stream(stream)) }
            case "connect":
                if let objects = a.objects("endpoint", required: true) {
                    if objects.isEmpty { a.problem("endpoint", "must hold at least one endpoint") }
                    var endpoints: [WebSocketEndpoint] = []
                    for (j, object) in objects.enumerated() {
                        if let endpoint = try readEndpoint(object, named: "endpoint[\(j)]", in: &a, rules: rules) {
                            endpoints.append(endpoint)
                        }
                    }
                    if !endpoints.isEmpty { actions.append(.connect(endpoints)) }
                }
            case let other?:
                a.problem("action", "\(other) is not supported (\(supported.joined(separator: ", ")))")
            case nil:
                break
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
    /// The secret a `vonage` authorization signs with (an endpoint asking for one needs it).
    public var jwtSecret: String?
    /// The voice that speaks a language in a style (0 = the default voice).
    public var voice: @Sendable (_ language: String, _ style: Int) -> VoiceLookup
    /// The longest `talk` text, in characters.
    public var maximumTalkCharacters: Int

    public init(
        allowedWebSocketHosts: HostPatterns, jwtSecret: String?, maximumTalkCharacters: Int,
        voice: @escaping @Sendable (_ language: String, _ style: Int) -> VoiceLookup
    ) {
        self.allowedWebSocketHosts = allowedWebSocketHosts
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
public enum NCCORejection: Error, Equatable, Sendable {
    /// A `connect` endpoint whose host is not allowed (`api.allowed_websocket_hosts`).
    case forbiddenHost(String)
    /// A `talk` cannot be spoken: there is no speech here.
    case speechUnavailable(String)
}
