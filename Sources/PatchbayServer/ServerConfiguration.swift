import Foundation

/// Everything `patchbay serve` can be told, with embedded defaults.
///
/// Read from a JSON file (`--config patchbay.json`); any key may be left out and takes its default.
/// Environment variables override the file (see `applyingEnvironment`).
public struct ServerConfiguration: Sendable, Equatable, Codable {
    /// What a route does with the legs that connect to it.
    public struct Route: Sendable, Equatable, Codable {
        public enum Mode: String, Sendable, Codable {
            /// The leg hears itself, frame for frame, with no added delay.
            case echo
            /// The leg joins a conversation: the one named by `conversation_header` in its `connected`
            /// message when present, else `conversation` when set, else one of its own.
            case conversation
        }

        /// The request path the Voice API connects to, e.g. "/socket".
        public var path: String
        public var mode: Mode
        /// A fixed conversation every leg of this route joins.
        public var conversation: String?
        /// A field of the `connected` message (an NCCO header) naming the conversation to join.
        public var conversationHeader: String?
        /// A wav or mp3 every leg of this route hears from the moment it connects (hold music, a
        /// greeting, a benchmark's background), mixed with the conversation.
        public var stream: Stream?
        /// Send each DTMF digit detected in a leg's audio to the other legs of its conversation, as
        /// the Voice API's own `{"event":"websocket:dtmf","digit":"5","duration":260}` (a leg's peer must
        /// be a service that understands it: the Voice API itself does not expect it).
        public var dtmfEvents: Bool?
        /// Speech or AI services to dial for every leg of this route (NCCO `connect` endpoints): each leg
        /// gets a conversation of its own with one outbound leg per endpoint.
        public var connect: [WebSocketEndpoint]?
        /// The control API application the route's legs belong to (default: the only one configured).
        public var applicationID: String?

        /// A stream played on connect: `stream_url` is an http(s) URL or a file path.
        public struct Stream: Sendable, Equatable, Codable {
            public var url: String
            /// Times to play it (0: forever).
            public var loop: Int?
            /// -1...1 (0: unchanged); see `Level`.
            public var level: Double?

            public init(url: String, loop: Int? = nil, level: Double? = nil) {
                self.url = url
                self.loop = loop
                self.level = level
            }

            enum CodingKeys: String, CodingKey {
                case url = "stream_url"
                case loop, level
            }
        }

        public init(
            path: String, mode: Mode, conversation: String? = nil, conversationHeader: String? = nil, stream: Stream? = nil,
            dtmfEvents: Bool? = nil, connect: [WebSocketEndpoint]? = nil, applicationID: String? = nil
        ) {
            self.applicationID = applicationID
            self.path = path
            self.mode = mode
            self.conversation = conversation
            self.conversationHeader = conversationHeader
            self.stream = stream
            self.dtmfEvents = dtmfEvents
            self.connect = connect
        }

        enum CodingKeys: String, CodingKey {
            case path, mode, conversation, stream, connect
            case conversationHeader = "conversation_header"
            case dtmfEvents = "dtmf_events"
            case applicationID = "application_id"
        }
    }

    public struct TLS: Sendable, Equatable, Codable {
        /// PEM certificate chain.
        public var certificate: String
        /// PEM private key.
        public var privateKey: String

        public init(certificate: String, privateKey: String) {
            self.certificate = certificate
            self.privateKey = privateKey
        }

        enum CodingKeys: String, CodingKey {
            case certificate
            case privateKey = "private_key"
        }
    }

    public struct Auth: Sendable, Equatable, Codable {
        /// A fixed token: the upgrade must carry `Authorization: Bearer <token>` (or the bare token).
        public var token: String?
        /// The Voice API signature secret: the upgrade may instead carry `Authorization: Bearer <JWT>`
        /// signed with it (HS256, `iat` within `jwt_max_age_seconds`).
        public var jwtSecret: String?
        /// How old a JWT's `iat` may be.
        public var jwtMaxAgeSeconds: Double?

        public init(token: String? = nil, jwtSecret: String? = nil, jwtMaxAgeSeconds: Double? = nil) {
            self.token = token
            self.jwtSecret = jwtSecret
            self.jwtMaxAgeSeconds = jwtMaxAgeSeconds
        }

        enum CodingKeys: String, CodingKey {
            case token
            case jwtSecret = "jwt_secret"
            case jwtMaxAgeSeconds = "jwt_max_age_seconds"
        }
    }

    public struct Limits: Sendable, Equatable, Codable {
        /// Legs connected at once; further upgrades get 503.
        public var maxLegs: Int = 2000
        /// The largest websocket message accepted; larger ones close the leg with 1009.
        public var maxMessageBytes: Int = 64 * 1024
        /// Messages per second a peer may send (the Voice API sends 50); excess is dropped and counted.
        public var maxMessagesPerSecond: Int = 150
        /// A leg that sends nothing for this long is closed.
        public var idleTimeoutSeconds: Double = 30
        /// How often a ping is sent to each leg (0: never).
        public var pingIntervalSeconds: Double = 10
        /// How long a leg may take to send `websocket:connected` after the upgrade.
        public var connectTimeoutSeconds: Double = 10
        /// On SIGTERM, how long legs may go on before they are closed.
        public var drainSeconds: Double = 30
        /// The largest message a service Patchbay dialled may send (its audio comes in any length, a
        /// whole prompt at once from some); larger ones close its leg with 1009.
        public var maxServiceMessageBytes: Int = 4 << 20

        public init() {}

        enum CodingKeys: String, CodingKey {
            case maxLegs = "max_legs"
            case maxMessageBytes = "max_message_bytes"
            case maxMessagesPerSecond = "max_messages_per_second"
            case idleTimeoutSeconds = "idle_timeout_seconds"
            case pingIntervalSeconds = "ping_interval_seconds"
            case connectTimeoutSeconds = "connect_timeout_seconds"
            case drainSeconds = "drain_seconds"
            case maxServiceMessageBytes = "max_service_message_bytes"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Limits.defaults
            maxLegs = try c.decodeIfPresent(Int.self, forKey: .maxLegs) ?? d.maxLegs
            maxMessageBytes = try c.decodeIfPresent(Int.self, forKey: .maxMessageBytes) ?? d.maxMessageBytes
            maxMessagesPerSecond = try c.decodeIfPresent(Int.self, forKey: .maxMessagesPerSecond) ?? d.maxMessagesPerSecond
            idleTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? d.idleTimeoutSeconds
            pingIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .pingIntervalSeconds) ?? d.pingIntervalSeconds
            connectTimeoutSeconds =
                try c.decodeIfPresent(Double.self, forKey: .connectTimeoutSeconds) ?? d.connectTimeoutSeconds
            drainSeconds = try c.decodeIfPresent(Double.self, forKey: .drainSeconds) ?? d.drainSeconds
            maxServiceMessageBytes =
                try c.decodeIfPresent(Int.self, forKey: .maxServiceMessageBytes) ?? d.maxServiceMessageBytes
        }

        static let defaults = Limits()
    }

    /// Address to listen on.
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var tls: TLS?
    public var auth: Auth = Auth()
    public var routes: [Route] = ServerConfiguration.defaultRoutes
    public var limits: Limits = Limits()
    /// trace, debug, info, notice, warning, error or critical.
    public var logLevel: String = "info"
    /// Media shards (0: one per core).
    public var shards: Int = 0
    /// Detect DTMF in every leg's audio.
    public var detectDTMF: Bool = true
    public var storage: Storage = Storage()
    public var api: API = API()

    /// The control API (`/v1/calls`), on the same listener as the websocket routes, and the event
    /// webhooks it sends.
    public struct API: Sendable, Equatable, Codable {
        /// An application allowed to use the API: its requests are JWTs signed with the private key whose
        /// public half is `public_key` (PEM). Events about its legs are POSTed to `event_url`, signed with
        /// `signature_secret` (HS256).
        public struct Application: Sendable, Equatable, Codable {
            public var applicationID: String
            public var publicKey: String
            /// Where the application's events go (none: no webhooks).
            public var eventURL: String?
            /// Signs each event (`Authorization: Bearer <JWT>`, HS256, with a `payload_hash` claim).
            public var signatureSecret: String?

            public init(applicationID: String, publicKey: String, eventURL: String? = nil, signatureSecret: String? = nil) {
                self.applicationID = applicationID
                self.publicKey = publicKey
                self.eventURL = eventURL
                self.signatureSecret = signatureSecret
            }

            enum CodingKeys: String, CodingKey {
                case applicationID = "application_id"
                case publicKey = "public_key"
                case eventURL = "event_url"
                case signatureSecret = "signature_secret"
            }
        }

        /// How events reach the applications.
        public struct Webhooks: Sendable, Equatable, Codable {
            /// Events waiting per application; beyond this, new events are dropped (counted and logged).
            public var queueLimit: Int = 10_000
            /// How long an event is retried (with backoff) before it is dropped.
            public var retrySeconds: Double = 300
            /// How long one POST may take.
            public var timeoutSeconds: Double = 10
            /// POSTs in flight per application (each call's events still go one at a time, in order).
            public var concurrency: Int = 8

            public init() {}

            enum CodingKeys: String, CodingKey {
                case queueLimit = "queue_limit"
                case retrySeconds = "retry_seconds"
                case timeoutSeconds = "timeout_seconds"
                case concurrency
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                let d = Webhooks()
                queueLimit = try c.decodeIfPresent(Int.self, forKey: .queueLimit) ?? d.queueLimit
                retrySeconds = try c.decodeIfPresent(Double.self, forKey: .retrySeconds) ?? d.retrySeconds
                timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? d.timeoutSeconds
                concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? d.concurrency
            }
        }

        /// None: the API is off (404).
        public var applications: [Application]
        /// `host:port` of a listener of its own for the API (with the same TLS): then the media
        /// listener answers `/v1/...` with 404. Nil: the API shares the media listener.
        public var listen: String?
        /// Requests per second each application may make (a token bucket holding as many): over it, 429
        /// with `Retry-After`.
        public var requestsPerSecond: Double = 100
        /// Hosts the API may make Patchbay dial (`connect`): `host`, `host:port`, `*.domain`, or `*`.
        /// Empty: none (the API cannot be used to reach internal hosts unless they are listed).
        public var allowedWebSocketHosts: [String]
        public var webhooks: Webhooks

        public init(applications: [Application] = [], allowedWebSocketHosts: [String] = [], webhooks: Webhooks = Webhooks()) {
            self.applications = applications
            self.allowedWebSocketHosts = allowedWebSocketHosts
            self.webhooks = webhooks
        }

        enum CodingKeys: String, CodingKey {
            case applications, webhooks, listen
            case allowedWebSocketHosts = "allowed_websocket_hosts"
            case requestsPerSecond = "requests_per_second"
        }

        /// `listen` as host and port, or nil when it is not `host:port` (IPv6 in brackets).
        var listenAddress: (host: String, port: Int)? {
            guard let listen, let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(port)
            else { return nil }
            let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return host.isEmpty ? nil : (host, port)
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            applications = try c.decodeIfPresent([Application].self, forKey: .applications) ?? []
            listen = try c.decodeIfPresent(String.self, forKey: .listen)
            requestsPerSecond = try c.decodeIfPresent(Double.self, forKey: .requestsPerSecond) ?? 100
            allowedWebSocketHosts = try c.decodeIfPresent([String].self, forKey: .allowedWebSocketHosts) ?? []
            webhooks = try c.decodeIfPresent(Webhooks.self, forKey: .webhooks) ?? Webhooks()
        }

        /// The application a leg on `route` belongs to: the route's, else the only one configured.
        func application(of route: Route) -> String? {
            route.applicationID ?? (applications.count == 1 ? applications[0].applicationID : nil)
        }
    }

    /// Where call records are kept.
    public struct Storage: Sendable, Equatable, Codable {
        /// The SQLite database of call records (nil: none; `patchbay serve` uses `defaultDatabase`).
        public var database: String?

        public init(database: String? = nil) {
            self.database = database
        }

        /// `patchbay.sqlite` in the state directory systemd gives the service (`$STATE_DIRECTORY`, its first
        /// entry), else in the working directory.
        public static func defaultDatabase(environment: [String: String], workingDirectory: String) -> String {
            if let state = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !state.isEmpty {
                return String(state) + "/patchbay.sqlite"
            }
            return workingDirectory + "/patchbay.sqlite"
        }
    }

    /// `/echo` hears itself; `/socket` joins the conversation its `conversation` header names (else its own).
    public static let defaultRoutes = [
        Route(path: "/echo", mode: .echo),
        Route(path: "/socket", mode: .conversation, conversationHeader: "conversation"),
    ]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case host, port, tls, auth, routes, limits, shards, storage, api
        case logLevel = "log_level"
        case detectDTMF = "detect_dtmf"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ServerConfiguration()
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? d.host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? d.port
        tls = try c.decodeIfPresent(TLS.self, forKey: .tls)
        auth = try c.decodeIfPresent(Auth.self, forKey: .auth) ?? d.auth
        routes = try c.decodeIfPresent([Route].self, forKey: .routes) ?? d.routes
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? d.limits
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        shards = try c.decodeIfPresent(Int.self, forKey: .shards) ?? d.shards
        detectDTMF = try c.decodeIfPresent(Bool.self, forKey: .detectDTMF) ?? d.detectDTMF
        storage = try c.decodeIfPresent(Storage.self, forKey: .storage) ?? d.storage
        api = try c.decodeIfPresent(API.self, forKey: .api) ?? d.api
    }
}

/// A configuration that cannot be used, with what to fix.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension ServerConfiguration {
    /// Reads a JSON configuration file.
    public static func load(path: String) throws(ConfigurationError) -> ServerConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read configuration \(path): \(error.localizedDescription)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error.localizedDescription)"
            throw ConfigurationError("configuration \(path) is not valid JSON: \(detail)")
        }
        if let unknown = Self.unknownKey(in: object) {
            throw ConfigurationError("configuration \(path): unknown key \"\(unknown)\"")
        }
        do {
            return try JSONDecoder().decode(ServerConfiguration.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigurationError("configuration \(path): \(Self.describe(context))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ConfigurationError("configuration \(path): \(Self.describe(context))")
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigurationError(
                "configuration \(path): missing \"\(key.stringValue)\" at \(Self.path(context.codingPath))")
        } catch {
            throw ConfigurationError("configuration \(path): \(error)")
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        guard !codingPath.isEmpty else { return "the top level" }
        var text = ""
        for key in codingPath {
            if let i = key.intValue {
                text += "[\(i)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text
    }

    /// The keys each object of the file may hold: a misspelt key is an error, not a silent default.
    private static let knownKeys: [String: Set<String>] = [
        "": ["host", "port", "tls", "auth", "routes", "limits", "log_level", "shards", "detect_dtmf", "storage", "api"],
        "storage": ["database"],
        "api": ["applications", "allowed_websocket_hosts", "webhooks", "listen", "requests_per_second"],
        "api.applications": ["application_id", "public_key", "event_url", "signature_secret"],
        "api.webhooks": ["queue_limit", "retry_seconds", "timeout_seconds", "concurrency"],
        "tls": ["certificate", "private_key"],
        "auth": ["token", "jwt_secret", "jwt_max_age_seconds"],
        "limits": [
            "max_legs", "max_message_bytes", "max_messages_per_second", "idle_timeout_seconds",
            "ping_interval_seconds", "connect_timeout_seconds", "drain_seconds", "max_service_message_bytes",
        ],
        "routes": ["path", "mode", "conversation", "conversation_header", "stream", "dtmf_events", "connect", "application_id"],
        "routes.stream": ["stream_url", "loop", "level"],
        "routes.connect": WebSocketEndpoint.knownKeys,
        "routes.connect.authorization": ["type", "value"],
        "routes.connect.keepalive": ["message", "interval"],
    ]

    /// The first key no part of the configuration knows, as a path ("limits.drain_second").
    private static func unknownKey(in object: Any) -> String? {
        guard let top = object as? [String: Any] else { return nil }
        for key in top.keys.sorted() where !knownKeys[""]!.contains(key) { return key }
        for section in ["tls", "auth", "limits", "storage", "api"] {
            guard let inner = top[section] as? [String: Any] else { continue }
            for key in inner.keys.sorted() where !knownKeys[section]!.contains(key) { return "\(section).\(key)" }
        }
        if let webhooks = (top["api"] as? [String: Any])?["webhooks"] as? [String: Any] {
            for key in webhooks.keys.sorted() where !knownKeys["api.webhooks"]!.contains(key) { return "api.webhooks.\(key)" }
        }
        for (i, app) in ((top["api"] as? [String: Any])?["applications"] as? [Any] ?? []).enumerated() {
            for key in (app as? [String: Any] ?? [:]).keys.sorted() where !knownKeys["api.applications"]!.contains(key) {
                return "api.applications[\(i)].\(key)"
            }
        }
        if let routes = top["routes"] as? [Any] {
            for (i, route) in routes.enumerated() {
                guard let r = route as? [String: Any] else { continue }
                for key in r.keys.sorted() where !knownKeys["routes"]!.contains(key) { return "routes[\(i)].\(key)" }
                if let stream = r["stream"] as? [String: Any] {
                    for key in stream.keys.sorted() where !knownKeys["routes.stream"]!.contains(key) {
                        return "routes[\(i)].stream.\(key)"
                    }
                }
                for (j, endpoint) in (r["connect"] as? [Any] ?? []).enumerated() {
                    guard let e = endpoint as? [String: Any] else { continue }
                    for key in e.keys.sorted() where !knownKeys["routes.connect"]!.contains(key) {
                        return "routes[\(i)].connect[\(j)].\(key)"
                    }
                    for section in ["authorization", "keepalive"] {
                        for key in (e[section] as? [String: Any] ?? [:]).keys.sorted()
                        where !knownKeys["routes.connect.\(section)"]!.contains(key) {
                            return "routes[\(i)].connect[\(j)].\(section).\(key)"
                        }
                    }
                }
            }
        }
        return nil
    }

    private static func describe(_ context: DecodingError.Context) -> String {
        let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return "\(path(context.codingPath)): \(underlying ?? context.debugDescription)"
    }

    /// Overrides from the environment:
    /// `PATCHBAY_LISTEN` (host:port), `PATCHBAY_TLS_CERTIFICATE`, `PATCHBAY_TLS_PRIVATE_KEY`,
    /// `PATCHBAY_AUTH_TOKEN`, `PATCHBAY_JWT_SECRET`, `PATCHBAY_LOG_LEVEL`, `PATCHBAY_MAX_LEGS`,
    /// `PATCHBAY_SHARDS`, `PATCHBAY_DETECT_DTMF` (true/false), `PATCHBAY_DATABASE` (storage.database).
    public func applyingEnvironment(_ environment: [String: String]) throws(ConfigurationError) -> ServerConfiguration {
        var c = self
        if let listen = environment["PATCHBAY_LISTEN"] {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                throw ConfigurationError("PATCHBAY_LISTEN must be host:port (got \"\(listen)\")")
            }
            c.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            c.port = port
        }
        switch (environment["PATCHBAY_TLS_CERTIFICATE"], environment["PATCHBAY_TLS_PRIVATE_KEY"]) {
        case (let cert?, let key?): c.tls = TLS(certificate: cert, privateKey: key)
        case (nil, nil): break
        default: throw ConfigurationError("set both PATCHBAY_TLS_CERTIFICATE and PATCHBAY_TLS_PRIVATE_KEY, or neither")
        }
        if let token = environment["PATCHBAY_AUTH_TOKEN"] { c.auth.token = token }
        if let secret = environment["PATCHBAY_JWT_SECRET"] { c.auth.jwtSecret = secret }
        if let level = environment["PATCHBAY_LOG_LEVEL"] { c.logLevel = level }
        if let value = environment["PATCHBAY_MAX_LEGS"] {
            guard let n = Int(value) else { throw ConfigurationError("PATCHBAY_MAX_LEGS must be a number (got \"\(value)\")") }
            c.limits.maxLegs = n
        }
        if let value = environment["PATCHBAY_SHARDS"] {
            guard let n = Int(value) else { throw ConfigurationError("PATCHBAY_SHARDS must be a number (got \"\(value)\")") }
            c.shards = n
        }
        if let value = environment["PATCHBAY_DETECT_DTMF"] {
            guard let b = Bool(value) else { throw ConfigurationError("PATCHBAY_DETECT_DTMF must be true or false (got \"\(value)\")") }
            c.detectDTMF = b
        }
        if let value = environment["PATCHBAY_DATABASE"] {
            guard !value.isEmpty else { throw ConfigurationError("PATCHBAY_DATABASE must be a path") }
            c.storage.database = value
        }
        return c
    }

    /// Checks every value, naming the first that is wrong.
    public func validated() throws(ConfigurationError) -> ServerConfiguration {
        guard (0...65535).contains(port) else { throw ConfigurationError("port must be 0...65535 (got \(port))") }
        guard !routes.isEmpty else { throw ConfigurationError("routes: at least one route is needed") }
        var seen = Set<String>()
        for r in routes {
            guard r.path.hasPrefix("/") else { throw ConfigurationError("route path \"\(r.path)\" must start with /") }
            guard seen.insert(r.path).inserted else { throw ConfigurationError("route path \"\(r.path)\" appears twice") }
            guard !["/health", "/metrics"].contains(r.path), !r.path.hasPrefix("/v1/") else {
                throw ConfigurationError("route path \"\(r.path)\" is reserved")
            }
            if let app = r.applicationID, !api.applications.contains(where: { $0.applicationID == app }) {
                throw ConfigurationError("route \(r.path): application_id \"\(app)\" is not in api.applications")
            }
            if r.mode == .echo, r.stream != nil || r.dtmfEvents == true {
                throw ConfigurationError("route \(r.path): an echo route hears only itself (no stream, no dtmf_events)")
            }
            if let connect = r.connect {
                guard r.mode == .conversation, r.conversation == nil, r.conversationHeader == nil else {
                    throw ConfigurationError(
                        "route \(r.path): connect gives each leg a conversation of its own: mode must be conversation, with no conversation or conversation_header"
                    )
                }
                guard (1...8).contains(connect.count) else {
                    throw ConfigurationError("route \(r.path): connect must list 1...8 endpoints (got \(connect.count))")
                }
                for (j, endpoint) in connect.enumerated() {
                    try endpoint.validate(at: "routes[\(r.path)].connect[\(j)]", jwtSecret: auth.jwtSecret)
                }
            }
            if let stream = r.stream {
                guard !stream.url.isEmpty else { throw ConfigurationError("route \(r.path): stream.stream_url must not be empty") }
                if let loop = stream.loop, loop < 0 {
                    throw ConfigurationError("route \(r.path): stream.loop must be 0 (forever) or more (got \(loop))")
                }
                if let level = stream.level, !(-1...1).contains(level) {
                    throw ConfigurationError("route \(r.path): stream.level must be -1...1 (got \(level))")
                }
            }
        }
        if let token = auth.token, token.isEmpty { throw ConfigurationError("auth.token must not be empty") }
        if let secret = auth.jwtSecret, secret.utf8.count < 16 {
            throw ConfigurationError("auth.jwt_secret must be at least 16 bytes (got \(secret.utf8.count))")
        }
        if let age = auth.jwtMaxAgeSeconds, !(age > 0 && age <= 86400) {
            throw ConfigurationError("auth.jwt_max_age_seconds must be in (0, 86400] (got \(age))")
        }
        guard Self.logLevels.contains(logLevel) else {
            throw ConfigurationError("log_level must be one of \(Self.logLevels.joined(separator: ", ")) (got \"\(logLevel)\")")
        }
        var applications = Set<String>()
        for app in api.applications {
            guard !app.applicationID.isEmpty, applications.insert(app.applicationID).inserted else {
                throw ConfigurationError("api.applications: application_id \"\(app.applicationID)\" is empty or appears twice")
            }
            guard FileManager.default.isReadableFile(atPath: app.publicKey) else {
                throw ConfigurationError("api.applications \(app.applicationID): public_key \(app.publicKey) does not exist or cannot be read")
            }
        }
        for app in api.applications {
            if let url = app.eventURL {
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                    parsed.host?.isEmpty == false
                else {
                    throw ConfigurationError("api.applications \(app.applicationID): event_url must be an http or https URL (got \"\(url)\")")
                }
                guard let secret = app.signatureSecret, secret.utf8.count >= 32 else {
                    throw ConfigurationError(
                        "api.applications \(app.applicationID): event_url needs a signature_secret of at least 32 bytes to sign the events")
                }
            } else if app.signatureSecret != nil {
                throw ConfigurationError("api.applications \(app.applicationID): signature_secret without event_url signs nothing")
            }
        }
        for pattern in api.allowedWebSocketHosts {
            if let problem = HostPatterns.problem(with: pattern) { throw ConfigurationError("api.allowed_websocket_hosts: \(problem)") }
        }
        if let listen = api.listen {
            guard api.listenAddress != nil else { throw ConfigurationError("api.listen must be host:port (got \"\(listen)\")") }
            guard !api.applications.isEmpty else { throw ConfigurationError("api.listen: the control API is off (no api.applications)") }
        }
        guard api.requestsPerSecond >= 1, api.requestsPerSecond <= 100_000 else {
            throw ConfigurationError("api.requests_per_second must be 1...100000 (got \(api.requestsPerSecond))")
        }
        let w = api.webhooks
        guard (1...1_000_000).contains(w.queueLimit) else {
            throw ConfigurationError("api.webhooks.queue_limit must be 1...1000000 (got \(w.queueLimit))")
        }
        guard (0...86400).contains(w.retrySeconds) else {
            throw ConfigurationError("api.webhooks.retry_seconds must be 0...86400 (got \(w.retrySeconds))")
        }
        guard w.timeoutSeconds > 0, w.timeoutSeconds <= 300 else {
            throw ConfigurationError("api.webhooks.timeout_seconds must be in (0, 300] (got \(w.timeoutSeconds))")
        }
        guard (1...256).contains(w.concurrency) else {
            throw ConfigurationError("api.webhooks.concurrency must be 1...256 (got \(w.concurrency))")
        }
        if !api.applications.isEmpty, storage.database == nil {
            throw ConfigurationError("api: the control API reads the call records: set storage.database")
        }
        guard shards >= 0, shards <= 256 else { throw ConfigurationError("shards must be 0...256 (got \(shards))") }
        let l = limits
        guard l.maxLegs > 0 else { throw ConfigurationError("limits.max_legs must be positive") }
        guard (1024...(16 << 20)).contains(l.maxMessageBytes) else {
            throw ConfigurationError("limits.max_message_bytes must be 1024...16777216 (got \(l.maxMessageBytes))")
        }
        guard (1024...(64 << 20)).contains(l.maxServiceMessageBytes) else {
            throw ConfigurationError("limits.max_service_message_bytes must be 1024...67108864 (got \(l.maxServiceMessageBytes))")
        }
        guard l.maxMessagesPerSecond >= 50 else {
            throw ConfigurationError("limits.max_messages_per_second must be at least 50, the audio rate (got \(l.maxMessagesPerSecond))")
        }
        for (name, value) in [
            ("idle_timeout_seconds", l.idleTimeoutSeconds), ("connect_timeout_seconds", l.connectTimeoutSeconds),
            ("drain_seconds", l.drainSeconds), ("ping_interval_seconds", l.pingIntervalSeconds),
        ] where !(value >= 0 && value <= 86400) {
            throw ConfigurationError("limits.\(name) must be 0...86400 (got \(value))")
        }
        return self
    }

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}
