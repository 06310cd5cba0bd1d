import Foundation
import PatchbayConfiguration
import PatchbayServer
import PatchbayVoiceAPI
import Testing

/// The configuration as a value, without a child process: the file's keys (every object's known keys are
/// its type's `CodingKeys`), the environment's overrides, and every validation message.
@Suite struct ConfigurationTests {
    static func decode(_ json: String) throws(ConfigurationError) -> ServerConfiguration {
        try ServerConfiguration.decode(Data(json.utf8), source: "test.json")
    }

    static func message(_ json: String) -> String? {
        do {
            _ = try decode(json)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("an empty file is the embedded defaults; every section round-trips through the file")
    func defaults() throws {
        #expect(try Self.decode("{}") == ServerConfiguration())
        var c = ServerConfiguration()
        c.port = 9000
        c.tls = .init(certificate: "/c.pem", privateKey: "/k.pem")
        c.auth = .init(token: "t", jwtSecret: "0123456789abcdef", jwtMaxAgeSeconds: 60)
        var endpoint = WebSocketEndpoint(uri: "wss://ai.example.com/x", contentType: "audio/l16;rate=24000")
        endpoint.protocol = .raw
        endpoint.keepalive = .init(message: .object(["type": .string("KeepAlive")]), interval: 3)
        endpoint.authorization = .init(type: .custom, value: "Token x")
        c.routes.append(
            .init(path: "/ai", mode: .conversation, stream: .init(url: "https://x/hold.mp3", loop: 2, level: -0.5), connect: [endpoint]))
        c.limits.drainSeconds = 5
        c.storage.database = "/var/lib/patchbay/x.sqlite"
        c.api = .init(applications: [.init(applicationID: "a", publicKey: "/a.pem", eventURL: "https://e", signatureSecret: "s")])
        c.api.webhooks.concurrency = 3
        c.api.listen = "127.0.0.1:9443"
        let text = try JSONEncoder().encode(c)
        #expect(try ServerConfiguration.decode(text, source: "round-trip") == c)
    }

    @Test(
        "a misspelt key is an error naming where it is, at every level",
        arguments: [
            (#"{"prot": 1}"#, "prot"),
            (#"{"limits": {"drain_second": 1}}"#, "limits.drain_second"),
            (#"{"tls": {"certificate": "a", "private_key": "b", "chain": "c"}}"#, "tls.chain"),
            (#"{"auth": {"tokens": "x"}}"#, "auth.tokens"),
            (#"{"storage": {"path": "x"}}"#, "storage.path"),
            (#"{"routes": [{"path": "/a", "mode": "echo", "modes": 1}]}"#, "routes[0].modes"),
            (#"{"routes": [{"path": "/a", "mode": "conversation", "stream": {"stream_url": "x", "loops": 1}}]}"#, "routes[0].stream.loops"),
            (#"{"routes": [{"path": "/a", "mode": "conversation", "connect": [{"uri": "ws://x", "header": {}}]}]}"#, "routes[0].connect[0].header"),
            (
                #"{"routes": [{"path": "/a", "mode": "conversation", "connect": [{"uri": "ws://x", "keepalive": {"message": 1, "interval": 3, "every": 1}}]}]}"#,
                "routes[0].connect[0].keepalive.every"
            ),
            (
                #"{"routes": [{"path": "/a", "mode": "conversation", "connect": [{"uri": "ws://x", "authorization": {"type": "custom", "val": 1}}]}]}"#,
                "routes[0].connect[0].authorization.val"
            ),
            (#"{"api": {"application": []}}"#, "api.application"),
            (#"{"api": {"webhooks": {"retries": 1}}}"#, "api.webhooks.retries"),
            (#"{"api": {"applications": [{"application_id": "a", "public_key": "k", "eventurl": "x"}]}}"#, "api.applications[0].eventurl"),
        ])
    func unknownKeys(_ json: String, _ path: String) {
        #expect(Self.message(json) == "configuration test.json: unknown key \"\(path)\"")
    }

    @Test("values of the wrong type, missing required keys and broken JSON name where and what")
    func wrongShapes() {
        #expect(Self.message(#"{"port": "80"}"#)?.hasPrefix("configuration test.json: port: ") == true)
        #expect(Self.message(#"{"routes": [{"mode": "echo"}]}"#) == "configuration test.json: missing \"path\" at routes[0]")
        #expect(Self.message(#"{"routes": [{"path": "/a", "mode": "loud"}]}"#)?.hasPrefix("configuration test.json: routes[0].mode: ") == true)
        #expect(Self.message(#"{"port": 80"#)?.hasPrefix("configuration test.json is not valid JSON") == true)
    }

    @Test("the environment overrides the file; a bad value is an error naming the variable")
    func environment() throws {
        let c = try ServerConfiguration().applyingEnvironment([
            "PATCHBAY_LISTEN": "[::1]:9001", "PATCHBAY_TLS_CERTIFICATE": "/c", "PATCHBAY_TLS_PRIVATE_KEY": "/k",
            "PATCHBAY_AUTH_TOKEN": "tok", "PATCHBAY_JWT_SECRET": "sec", "PATCHBAY_LOG_LEVEL": "debug", "PATCHBAY_MAX_LEGS": "7",
            "PATCHBAY_SHARDS": "3", "PATCHBAY_DETECT_DTMF": "false", "PATCHBAY_DATABASE": "/db.sqlite",
            "PATCHBAY_RECORDINGS": "/rec", "PATCHBAY_PUBLIC_URL": "https://gw.example.com",
        ])
        #expect(c.host == "::1" && c.port == 9001)
        #expect(c.tls == .init(certificate: "/c", privateKey: "/k"))
        #expect(c.auth.token == "tok" && c.auth.jwtSecret == "sec" && c.logLevel == "debug")
        #expect(c.limits.maxLegs == 7 && c.shards == 3 && !c.detectDTMF && c.storage.database == "/db.sqlite")
        #expect(c.storage.recordings == "/rec" && c.api.publicURL == "https://gw.example.com")
        let bad: [([String: String], String)] = [
            (["PATCHBAY_LISTEN": "9001"], "PATCHBAY_LISTEN must be host:port (got \"9001\")"),
            (["PATCHBAY_TLS_CERTIFICATE": "/c"], "set both PATCHBAY_TLS_CERTIFICATE and PATCHBAY_TLS_PRIVATE_KEY, or neither"),
            (["PATCHBAY_MAX_LEGS": "many"], "PATCHBAY_MAX_LEGS must be a number (got \"many\")"),
            (["PATCHBAY_SHARDS": "x"], "PATCHBAY_SHARDS must be a number (got \"x\")"),
            (["PATCHBAY_DETECT_DTMF": "yes"], "PATCHBAY_DETECT_DTMF must be true or false (got \"yes\")"),
            (["PATCHBAY_DATABASE": ""], "PATCHBAY_DATABASE must be a path"),
            (["PATCHBAY_RECORDINGS": ""], "PATCHBAY_RECORDINGS must be a path"),
        ]
        for (environment, expected) in bad {
            #expect(throws: ConfigurationError(expected)) { try ServerConfiguration().applyingEnvironment(environment) }
        }
    }

    /// A key file that exists, for the applications' `public_key`.
    static let readable = "/etc/hostname"

    static func app(_ adjust: (inout ServerConfiguration.API.Application) -> Void = { _ in }) -> ServerConfiguration.API.Application {
        var a = ServerConfiguration.API.Application(applicationID: "app", publicKey: readable)
        adjust(&a)
        return a
    }

    static func endpoint(_ adjust: (inout WebSocketEndpoint) -> Void) -> WebSocketEndpoint {
        var e = WebSocketEndpoint(uri: "wss://ai.example.com/v")
        adjust(&e)
        return e
    }

    /// A call flow route, `/f` (an `answer_url`), changed by `adjust`.
    static func flow(_ adjust: @escaping @Sendable (inout ServerConfiguration.Route) -> Void) -> @Sendable (inout ServerConfiguration) -> Void {
        { c in
            var route = ServerConfiguration.Route(path: "/f", mode: .conversation)
            route.answerURL = "https://app.example.com/answer"
            adjust(&route)
            c.routes = [route]
        }
    }

    @Test("a call flow route from the file: answer_url and its companions, or a fixed ncco; NCCO hosts allowed")
    func callFlowRoute() throws {
        let c = try Self.decode(
            #"""
            {"routes": [{"path": "/ivr", "mode": "conversation", "answer_url": "https://app.example.com/answer", "answer_method": "POST",
                         "fallback_answer_url": "https://backup.example.com:8443/answer", "answer_timeout": 2},
                        {"path": "/hello", "mode": "conversation", "ncco": [{"action": "talk", "text": "Hello"}]}],
             "api": {"allowed_http_hosts": ["cdn.example.com"]}}
            """#)
        let ivr = c.routes[0]
        #expect(ivr.answerURL == "https://app.example.com/answer" && ivr.answerMethod == "POST" && ivr.answerTimeoutSeconds == 2)
        #expect(ivr.hasCallFlow && c.routes[1].hasCallFlow && c.routes[1].ncco?.count == 1)
        let hosts = c.api.allowedFetchHosts(routes: c.routes)
        #expect(hosts.allows("https://cdn.example.com/hold.mp3") && hosts.allows("https://app.example.com/events"))
        #expect(hosts.allows("https://backup.example.com:8443/x") && !hosts.allows("https://backup.example.com/x"))
        #expect(!hosts.allows("http://169.254.169.254/latest"))
    }

    static func route(_ endpoint: WebSocketEndpoint) -> @Sendable (inout ServerConfiguration) -> Void {
        { $0.routes = [.init(path: "/ai", mode: .conversation, connect: [endpoint])] }
    }

    /// Every validation rule: what breaks it, and the message that names it.
    static let invalid: [(String, @Sendable (inout ServerConfiguration) -> Void)] = [
        ("port must be 0...65535 (got 70000)", { $0.port = 70000 }),
        ("routes: at least one route is needed", { $0.routes = [] }),
        ("route path \"echo\" must start with /", { $0.routes = [.init(path: "echo", mode: .echo)] }),
        ("route path \"/a\" appears twice", { $0.routes = [.init(path: "/a", mode: .echo), .init(path: "/a", mode: .echo)] }),
        ("route path \"/metrics\" is reserved", { $0.routes = [.init(path: "/metrics", mode: .echo)] }),
        ("route path \"/v1/calls\" is reserved", { $0.routes = [.init(path: "/v1/calls", mode: .echo)] }),
        ("route /a: application_id \"nobody\" is not in api.applications", { $0.routes = [.init(path: "/a", mode: .echo, applicationID: "nobody")] }),
        (
            "route /a: an echo route hears only itself (no stream, no dtmf_events)",
            { $0.routes = [.init(path: "/a", mode: .echo, dtmfEvents: true)] }
        ),
        (
            "route /a: connect gives each leg a conversation of its own: mode must be conversation, with no conversation or conversation_header",
            { $0.routes = [.init(path: "/a", mode: .conversation, conversation: "x", connect: [WebSocketEndpoint(uri: "ws://a")])] }
        ),
        ("route /a: connect must list 1...8 endpoints (got 0)", { $0.routes = [.init(path: "/a", mode: .conversation, connect: [])] }),
        ("route /a: stream.stream_url must not be empty", { $0.routes = [.init(path: "/a", mode: .conversation, stream: .init(url: ""))] }),
        (
            "route /a: stream.loop must be 0 (forever) or more (got -1)",
            { $0.routes = [.init(path: "/a", mode: .conversation, stream: .init(url: "x", loop: -1))] }
        ),
        (
            "route /a: stream.level must be -1...1 (got 2.0)",
            { $0.routes = [.init(path: "/a", mode: .conversation, stream: .init(url: "x", level: 2))] }
        ),
        ("auth.token must not be empty", { $0.auth.token = "" }),
        ("auth.jwt_secret must be at least 16 bytes (got 5)", { $0.auth.jwtSecret = "short" }),
        ("auth.jwt_max_age_seconds must be in (0, 86400] (got 0.0)", { $0.auth.jwtMaxAgeSeconds = 0 }),
        ("log_level must be one of trace, debug, info, notice, warning, error, critical (got \"loud\")", { $0.logLevel = "loud" }),
        (
            "api.applications: application_id \"app\" is empty or appears twice",
            { $0.api.applications = [app(), app()] }
        ),
        (
            "api.applications app: public_key /nonexistent.pem does not exist or cannot be read",
            { $0.api.applications = [app { $0.publicKey = "/nonexistent.pem" }] }
        ),
        (
            "api.applications app: event_url must be an http or https URL (got \"ftp://x\")",
            { $0.api.applications = [app { $0.eventURL = "ftp://x" }] }
        ),
        (
            "api.applications app: event_url needs a signature_secret of at least 32 bytes to sign the events",
            { $0.api.applications = [app { $0.eventURL = "https://e" }] }
        ),
        (
            "api.applications app: signature_secret without event_url signs nothing",
            { $0.api.applications = [app { $0.signatureSecret = String(repeating: "s", count: 32) }] }
        ),
        (
            "api.allowed_websocket_hosts: \"a b\" is not a host, host:port, *.domain or *",
            { $0.api.allowedWebSocketHosts = ["a b"] }
        ),
        ("api.listen must be host:port (got \"nowhere\")", { $0.api.listen = "nowhere" }),
        ("api.listen: the control API is off (no api.applications)", { $0.api.listen = "127.0.0.1:9" }),
        ("api.requests_per_second must be 1...100000 (got 0.0)", { $0.api.requestsPerSecond = 0 }),
        ("api.webhooks.queue_limit must be 1...1000000 (got 0)", { $0.api.webhooks.queueLimit = 0 }),
        ("api.webhooks.retry_seconds must be 0...86400 (got -1.0)", { $0.api.webhooks.retrySeconds = -1 }),
        ("api.webhooks.timeout_seconds must be in (0, 300] (got 0.0)", { $0.api.webhooks.timeoutSeconds = 0 }),
        ("api.webhooks.concurrency must be 1...256 (got 0)", { $0.api.webhooks.concurrency = 0 }),
        (
            "api: the control API reads the call records: set storage.database",
            {
                $0.api.applications = [app()]
                $0.storage.database = nil
            }
        ),
        ("shards must be 0...256 (got -1)", { $0.shards = -1 }),
        ("limits.max_legs must be positive", { $0.limits.maxLegs = 0 }),
        ("limits.max_message_bytes must be 1024...16777216 (got 10)", { $0.limits.maxMessageBytes = 10 }),
        ("limits.max_service_message_bytes must be 1024...67108864 (got 10)", { $0.limits.maxServiceMessageBytes = 10 }),
        (
            "limits.max_messages_per_second must be at least 50, the audio rate (got 10)",
            { $0.limits.maxMessagesPerSecond = 10 }
        ),
        ("limits.idle_timeout_seconds must be 0...86400 (got -1.0)", { $0.limits.idleTimeoutSeconds = -1 }),
        ("limits.connect_timeout_seconds must be 0...86400 (got -1.0)", { $0.limits.connectTimeoutSeconds = -1 }),
        ("limits.drain_seconds must be 0...86400 (got 100000.0)", { $0.limits.drainSeconds = 100_000 }),
        ("limits.ping_interval_seconds must be 0...86400 (got -1.0)", { $0.limits.pingIntervalSeconds = -1 }),
        // The endpoints of a route's connect (the same checks as the control API's).
        ("routes[/ai].connect[0].type must be \"websocket\" (got \"sip\")", route(endpoint { $0.type = "sip" })),
        ("routes[/ai].connect[0].uri must be a ws:// or wss:// URL (got \"http://x\")", route(endpoint { $0.uri = "http://x" })),
        (
            "routes[/ai].connect[0].content-type must be audio/l16;rate=8000, 16000, 24000 or 48000 (got \"audio/l16;rate=44100\")",
            route(endpoint { $0.contentType = "audio/l16;rate=44100" })
        ),
        (
            "routes[/ai].connect[0].headers must not set \"event\" (Patchbay sends it)",
            route(endpoint { $0.headers = ["event": .string("x")] })
        ),
        (
            "routes[/ai].connect[0].headers must be at most 4096 bytes of JSON (got 5008)",
            route(endpoint { $0.headers = ["h": .string(String(repeating: "x", count: 5000))] })
        ),
        (
            "routes[/ai].connect[0].authorization.value must be a non-empty header value for type custom",
            route(endpoint { $0.authorization = .init(type: .custom, value: "a\r\nb") })
        ),
        (
            "routes[/ai].connect[0].authorization type vonage signs with auth.jwt_secret: set it",
            route(endpoint { $0.authorization = .init(type: .vonage) })
        ),
        ("routes[/ai].connect[0].connect_timeout must be 0.1...600.0 seconds (got 0.0)", route(endpoint { $0.connectTimeout = 0 })),
        ("routes[/ai].connect[0].retry_deadline must be 0.0...3600.0 seconds (got -1.0)", route(endpoint { $0.retryDeadline = -1 })),
        ("routes[/ai].connect[0].playout_buffer_frames must be 50...100000 (got 1)", route(endpoint { $0.playoutBufferFrames = 1 })),
        ("routes[/ai].connect[0].ca_file /nonexistent does not exist or cannot be read", route(endpoint { $0.caFile = "/nonexistent" })),
        ("routes[/ai].connect[0].init applies to protocol raw only", route(endpoint { $0.initMessage = .object([:]) })),
        (
            "routes[/ai].connect[0].codec applies to protocols raw and openai-realtime (voice-api sends audio/l16)",
            route(
                endpoint {
                    $0.codec = .pcmu
                    $0.contentType = "audio/l16;rate=8000"
                })
        ),
        (
            "routes[/ai].connect[0].codec pcma is G.711 at 8 kHz: content-type must be audio/l16;rate=8000",
            route(
                endpoint {
                    $0.protocol = .raw
                    $0.codec = .pcma
                })
        ),
        (
            "routes[/ai].connect[0].chunk_ms applies to protocols raw and openai-realtime (voice-api sends 20 ms frames)",
            route(endpoint { $0.chunkMilliseconds = 40 })
        ),
        ("routes[/ai].connect[0].session applies to protocol openai-realtime only", route(endpoint { $0.session = .object([:]) })),
        (
            "routes[/ai].connect[0].content-type must be audio/l16;rate=24000 for openai-realtime (its audio/pcm), or rate=8000 with codec pcmu or pcma",
            route(endpoint { $0.protocol = .openAIRealtime })
        ),
        (
            "routes[/ai].connect[0].session must be a JSON object",
            route(
                endpoint {
                    $0.protocol = .openAIRealtime
                    $0.contentType = "audio/l16;rate=24000"
                    $0.session = .string("x")
                })
        ),
        (
            "routes[/ai].connect[0].chunk_ms must be a multiple of 20 in 20...1000 (got 30)",
            route(
                endpoint {
                    $0.protocol = .raw
                    $0.chunkMilliseconds = 30
                })
        ),
        (
            "routes[/ai].connect[0].codec opus sends one 20 ms packet per message: chunk_ms must be 20",
            route(
                endpoint {
                    $0.protocol = .raw
                    $0.codec = .opus
                    $0.chunkMilliseconds = 40
                })
        ),
        (
            "routes[/ai].connect[0].wait_for must be a non-empty JSON object (the fields to match)",
            route(
                endpoint {
                    $0.protocol = .raw
                    $0.waitFor = .object([:])
                })
        ),
        (
            "routes[/ai].connect[0].keepalive.interval must be 0.5...600 seconds (got 0.1)",
            route(
                endpoint {
                    $0.protocol = .raw
                    $0.keepalive = .init(message: .null, interval: 0.1)
                })
        ),
        (
            "route /f: answer_method, fallback_answer_url and answer_timeout need an answer_url",
            flow {
                $0.answerURL = nil; $0.answerMethod = "GET"
            }
        ),
        ("route /f: answer_url and ncco are exclusive (the NCCO comes from one of them)", flow { $0.ncco = [.object([:])] }),
        (
            "route /f: a route with an answer_url or an ncco is a conversation route without connect or stream (the NCCO says what the leg does)",
            flow { $0.stream = .init(url: "https://a/x.mp3") }
        ),
        ("route /f: answer_url must be an http or https URL (got \"ftp://app/answer\")", flow { $0.answerURL = "ftp://app/answer" }),
        ("route /f: fallback_answer_url must be an http or https URL (got \"x\")", flow { $0.fallbackAnswerURL = "x" }),
        ("route /f: answer_method must be GET or POST (got \"PUT\")", flow { $0.answerMethod = "PUT" }),
        ("route /f: answer_timeout must be in (0, 60] seconds (got 0.0)", flow { $0.answerTimeoutSeconds = 0 }),
        (
            "route /f: ncco must hold at least one action",
            flow {
                $0.answerURL = nil; $0.ncco = []
            }
        ),
        (
            "route /f: a call flow's requests and events carry the call records' uuids: set storage.database",
            { c in
                flow { _ in }(&c)
                c.storage.database = nil
            }
        ),
        ("api.allowed_http_hosts: \"a b\" is not a host, host:port, *.domain or *", { $0.api.allowedHTTPHosts = ["a b"] }),
    ]

    @Test("every validation rule refuses with a message naming the value", arguments: 0..<invalid.count)
    func validation(_ index: Int) {
        let (expected, breakIt) = Self.invalid[index]
        var c = ServerConfiguration()
        c.storage.database = "/tmp/x.sqlite"
        breakIt(&c)
        #expect(throws: ConfigurationError(expected)) { try c.validated() }
    }

    @Test("the defaults and a full configuration validate")
    func valid() throws {
        _ = try ServerConfiguration().validated()
        var c = ServerConfiguration()
        c.storage.database = "/tmp/x.sqlite"
        c.api.applications = [
            Self.app {
                $0.eventURL = "https://app.example.com/events"
                $0.signatureSecret = String(repeating: "s", count: 32)
            }
        ]
        c.api.allowedWebSocketHosts = ["*.example.com", "10.0.0.7:8443"]
        c.api.listen = "127.0.0.1:9443"
        c.routes.append(
            .init(path: "/ai", mode: .conversation, connect: [Self.endpoint { $0.headers = ["tenant": .string("acme")] }], applicationID: "app"))
        _ = try c.validated()
    }
}
