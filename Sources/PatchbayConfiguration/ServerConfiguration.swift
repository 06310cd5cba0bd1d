public import Foundation
public import PatchbayVoiceAPI

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
        /// Where the NCCO of each leg comes from, as the Voice API asks an application: fetched when the leg
        /// has said `websocket:connected` (`answer_method` GET or POST), with `fallback_answer_url` when it
        /// fails. Exclusive with `ncco`.
        public var answerURL: String?
        /// GET (the default: the fields as a query) or POST (a JSON body).
        public var answerMethod: String?
        public var fallbackAnswerURL: String?
        /// Seconds one answer request may take (default 5).
        public var answerTimeoutSeconds: Double?
        /// A fixed NCCO run on every leg of the route (checked at startup, as an answer's would be).
        public var ncco: [JSONValue]?

        /// Whether the route's legs run an NCCO (`answer_url` or `ncco`).
        public var hasCallFlow: Bool { answerURL != nil || ncco != nil }

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

            enum CodingKeys: String, CodingKey, CaseIterable {
                case url = "stream_url"
                case loop, level
            }

            public init(from decoder: any Decoder) throws {
                try decoder.rejectUnknownKeys(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                url = try c.decode(String.self, forKey: .url)
                loop = try c.decodeIfPresent(Int.self, forKey: .loop)
                level = try c.decodeIfPresent(Double.self, forKey: .level)
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

        enum CodingKeys: String, CodingKey, CaseIterable {
            case path, mode, conversation, stream, connect, ncco
            case conversationHeader = "conversation_header"
            case dtmfEvents = "dtmf_events"
            case applicationID = "application_id"
            case answerURL = "answer_url"
            case answerMethod = "answer_method"
            case fallbackAnswerURL = "fallback_answer_url"
            case answerTimeoutSeconds = "answer_timeout"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            path = try c.decode(String.self, forKey: .path)
            mode = try c.decode(Mode.self, forKey: .mode)
            conversation = try c.decodeIfPresent(String.self, forKey: .conversation)
            conversationHeader = try c.decodeIfPresent(String.self, forKey: .conversationHeader)
            stream = try c.decodeIfPresent(Stream.self, forKey: .stream)
            dtmfEvents = try c.decodeIfPresent(Bool.self, forKey: .dtmfEvents)
            connect = try c.decodeIfPresent([WebSocketEndpoint].self, forKey: .connect)
            applicationID = try c.decodeIfPresent(String.self, forKey: .applicationID)
            answerURL = try c.decodeIfPresent(String.self, forKey: .answerURL)
            answerMethod = try c.decodeIfPresent(String.self, forKey: .answerMethod)
            fallbackAnswerURL = try c.decodeIfPresent(String.self, forKey: .fallbackAnswerURL)
            answerTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .answerTimeoutSeconds)
            ncco = try c.decodeIfPresent([JSONValue].self, forKey: .ncco)
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

        enum CodingKeys: String, CodingKey, CaseIterable {
            case certificate
            case privateKey = "private_key"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            certificate = try c.decode(String.self, forKey: .certificate)
            privateKey = try c.decode(String.self, forKey: .privateKey)
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

        enum CodingKeys: String, CodingKey, CaseIterable {
            case token
            case jwtSecret = "jwt_secret"
            case jwtMaxAgeSeconds = "jwt_max_age_seconds"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            token = try c.decodeIfPresent(String.self, forKey: .token)
            jwtSecret = try c.decodeIfPresent(String.self, forKey: .jwtSecret)
            jwtMaxAgeSeconds = try c.decodeIfPresent(Double.self, forKey: .jwtMaxAgeSeconds)
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

        enum CodingKeys: String, CodingKey, CaseIterable {
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
            try decoder.rejectUnknownKeys(CodingKeys.self)
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
    public var node: Node = Node()

    /// This gateway among several sharing `storage.postgres`.
    public struct Node: Sendable, Equatable, Codable {
        /// Its name in the shared records: unique in the cluster (nil: the host's name).
        public var id: String?
        /// How often it tells the others it is alive.
        public var heartbeatSeconds: Double = 2
        /// A gateway silent this long is dead: a survivor closes its legs' records.
        public var deadAfterSeconds: Double = 10

        public init(id: String? = nil) {
            self.id = id
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id
            case heartbeatSeconds = "heartbeat_seconds"
            case deadAfterSeconds = "dead_after_seconds"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decodeIfPresent(String.self, forKey: .id)
            heartbeatSeconds = try c.decodeIfPresent(Double.self, forKey: .heartbeatSeconds) ?? 2
            deadAfterSeconds = try c.decodeIfPresent(Double.self, forKey: .deadAfterSeconds) ?? 10
        }

        /// `id`, else the host's name.
        public var resolvedID: String { id ?? ProcessInfo.processInfo.hostName }
    }

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

            enum CodingKeys: String, CodingKey, CaseIterable {
                case applicationID = "application_id"
                case publicKey = "public_key"
                case eventURL = "event_url"
                case signatureSecret = "signature_secret"
            }

            public init(from decoder: any Decoder) throws {
                try decoder.rejectUnknownKeys(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                applicationID = try c.decode(String.self, forKey: .applicationID)
                publicKey = try c.decode(String.self, forKey: .publicKey)
                eventURL = try c.decodeIfPresent(String.self, forKey: .eventURL)
                signatureSecret = try c.decodeIfPresent(String.self, forKey: .signatureSecret)
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

            enum CodingKeys: String, CodingKey, CaseIterable {
                case queueLimit = "queue_limit"
                case retrySeconds = "retry_seconds"
                case timeoutSeconds = "timeout_seconds"
                case concurrency
            }

            public init(from decoder: any Decoder) throws {
                try decoder.rejectUnknownKeys(CodingKeys.self)
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
        /// Hosts an NCCO's `eventUrl`, `streamUrl` and `musicOnHoldUrl` may name, beyond those of the
        /// configured URLs (the applications' `event_url`, the routes' `answer_url` and
        /// `fallback_answer_url`, always allowed). Same patterns as `allowed_websocket_hosts`.
        public var allowedHTTPHosts: [String] = []
        /// The base of the URLs the API hands out (a recording's `recording_url`): the scheme, host and
        /// port applications reach the API at (a load balancer's). Nil: the API listener's own.
        public var publicURL: String?
        public var webhooks: Webhooks

        public init(applications: [Application] = [], allowedWebSocketHosts: [String] = [], webhooks: Webhooks = Webhooks()) {
            self.applications = applications
            self.allowedWebSocketHosts = allowedWebSocketHosts
            self.webhooks = webhooks
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case applications, webhooks, listen
            case allowedWebSocketHosts = "allowed_websocket_hosts"
            case allowedHTTPHosts = "allowed_http_hosts"
            case requestsPerSecond = "requests_per_second"
            case publicURL = "public_url"
        }

        /// `listen` as host and port, or nil when it is not `host:port` (IPv6 in brackets).
        public var listenAddress: (host: String, port: Int)? {
            guard let listen, let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(port)
            else { return nil }
            let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return host.isEmpty ? nil : (host, port)
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            applications = try c.decodeIfPresent([Application].self, forKey: .applications) ?? []
            listen = try c.decodeIfPresent(String.self, forKey: .listen)
            requestsPerSecond = try c.decodeIfPresent(Double.self, forKey: .requestsPerSecond) ?? 100
            allowedWebSocketHosts = try c.decodeIfPresent([String].self, forKey: .allowedWebSocketHosts) ?? []
            allowedHTTPHosts = try c.decodeIfPresent([String].self, forKey: .allowedHTTPHosts) ?? []
            publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
            webhooks = try c.decodeIfPresent(Webhooks.self, forKey: .webhooks) ?? Webhooks()
        }

        /// Where an NCCO may send events and fetch audio from: `allowed_http_hosts` and the hosts of every
        /// configured URL (each as `host:port`).
        public func allowedFetchHosts(routes: [Route]) -> HostPatterns {
            let urls = applications.compactMap(\.eventURL) + routes.flatMap { [$0.answerURL, $0.fallbackAnswerURL].compactMap { $0 } }
            let configured: [String] = urls.compactMap { text in
                guard let url = URL(string: text), let host = url.host else { return nil }
                let port = url.port ?? (url.scheme?.lowercased() == "https" ? 443 : 80)
                return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            }
            return HostPatterns(allowedHTTPHosts + configured)
        }

        /// The application a leg on `route` belongs to: the route's, else the only one configured.
        public func application(of route: Route) -> String? {
            route.applicationID ?? (applications.count == 1 ? applications[0].applicationID : nil)
        }
    }

    /// Where call records are kept.
    public struct Storage: Sendable, Equatable, Codable {
        /// The SQLite database of call records (nil: none; `patchbay serve` uses `defaultDatabase` unless
        /// `postgres` is set).
        public var database: String?
        /// A PostgreSQL database shared by the gateways of a cluster, in place of `database`.
        public var postgres: Postgres?
        /// The folder of recording files (nil: `recordings` beside the database).
        public var recordings: String?
        /// Days a finished recording is kept before it is removed (nil: until it is deleted).
        public var recordingsRetentionDays: Double?

        public init(database: String? = nil, postgres: Postgres? = nil, recordings: String? = nil, recordingsRetentionDays: Double? = nil) {
            self.database = database
            self.postgres = postgres
            self.recordings = recordings
            self.recordingsRetentionDays = recordingsRetentionDays
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case database, postgres, recordings
            case recordingsRetentionDays = "recordings_retention_days"
        }

        /// Whether calls are recorded in a database (either kind).
        public var keepsRecords: Bool { database != nil || postgres != nil }

        /// A PostgreSQL server: `"postgres://user:password@host:5432/database?sslmode=require"`, or the same
        /// as an object. `tls`: `disable` (the default for a URL without `sslmode`), `prefer` or `require`.
        public struct Postgres: Sendable, Equatable, Codable {
            public enum TLSMode: String, Sendable, Codable, CaseIterable {
                case disable, prefer, require
            }

            public var host: String
            public var port: Int = 5432
            public var database: String
            public var user: String
            public var password: String?
            public var tls: TLSMode = .disable

            public init(host: String, port: Int = 5432, database: String, user: String, password: String? = nil, tls: TLSMode = .disable) {
                self.host = host
                self.port = port
                self.database = database
                self.user = user
                self.password = password
                self.tls = tls
            }

            enum CodingKeys: String, CodingKey, CaseIterable {
                case host, port, database, user, password, tls
            }

            /// A `postgres://` (or `postgresql://`) URL, or why it is not one.
            public static func parse(url text: String) -> Result<Postgres, ConfigurationError> {
                guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""),
                    let host = url.host, !host.isEmpty
                else {
                    return .failure(ConfigurationError("storage.postgres must be a postgres://user@host/database URL (got \(Self.redacted(text)))"))
                }
                let database = String(url.path.drop { $0 == "/" })
                guard !database.isEmpty, let user = url.user, !user.isEmpty else {
                    return .failure(ConfigurationError("storage.postgres needs a user and a database (got \(Self.redacted(text)))"))
                }
                var tls = TLSMode.disable
                for item in url.queryItems ?? [] {
                    guard item.name == "sslmode" else {
                        return .failure(ConfigurationError("storage.postgres: unknown URL parameter \(item.name) (only sslmode)"))
                    }
                    guard let mode = TLSMode(rawValue: item.value ?? "") else {
                        return .failure(ConfigurationError("storage.postgres: sslmode must be disable, prefer or require"))
                    }
                    tls = mode
                }
                return .success(
                    Postgres(host: host, port: url.port ?? 5432, database: database, user: user, password: url.password, tls: tls))
            }

            /// The URL with its password hidden, for messages.
            static func redacted(_ text: String) -> String {
                guard var url = URLComponents(string: text), url.password != nil else { return text }
                url.password = "***"
                return url.string ?? "the URL"
            }

            public init(from decoder: any Decoder) throws {
                if let text = try? decoder.singleValueContainer().decode(String.self) {
                    switch Self.parse(url: text) {
                    case .success(let value): self = value
                    case .failure(let error):
                        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
                    }
                    return
                }
                try decoder.rejectUnknownKeys(CodingKeys.self)
                let c = try decoder.container(keyedBy: CodingKeys.self)
                host = try c.decode(String.self, forKey: .host)
                port = try c.decodeIfPresent(Int.self, forKey: .port) ?? 5432
                database = try c.decode(String.self, forKey: .database)
                user = try c.decode(String.self, forKey: .user)
                password = try c.decodeIfPresent(String.self, forKey: .password)
                tls = try c.decodeIfPresent(TLSMode.self, forKey: .tls) ?? .disable
            }

            /// The password is never printed (`--print-config`).
            public func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(host, forKey: .host)
                try c.encode(port, forKey: .port)
                try c.encode(database, forKey: .database)
                try c.encode(user, forKey: .user)
                if password != nil { try c.encode("***", forKey: .password) }
                try c.encode(tls, forKey: .tls)
            }
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            database = try c.decodeIfPresent(String.self, forKey: .database)
            postgres = try c.decodeIfPresent(Postgres.self, forKey: .postgres)
            recordings = try c.decodeIfPresent(String.self, forKey: .recordings)
            recordingsRetentionDays = try c.decodeIfPresent(Double.self, forKey: .recordingsRetentionDays)
        }

        /// The recordings' folder: `recordings`, else a `recordings` folder beside the database.
        public var recordingsFolder: String? {
            if let recordings { return recordings }
            guard let database else { return nil }
            return URL(fileURLWithPath: database).deletingLastPathComponent().path + "/recordings"
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port, tls, auth, routes, limits, shards, storage, api, node
        case logLevel = "log_level"
        case detectDTMF = "detect_dtmf"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
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
        node = try c.decodeIfPresent(Node.self, forKey: .node) ?? d.node
    }
}
