public import Foundation
public import PatchbayVoiceAPI

extension ServerConfiguration {
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
            try r.validateCallFlow()
        }
        for pattern in api.allowedHTTPHosts {
            if let problem = HostPatterns.problem(with: pattern) { throw ConfigurationError("api.allowed_http_hosts: \(problem)") }
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
        if let url = api.publicURL {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil, parsed.query == nil else {
                throw ConfigurationError("api.public_url must be an http or https URL with a host and no query (got \(url))")
            }
        }
        if let days = storage.recordingsRetentionDays, !(days > 0 && days <= 36500) {
            throw ConfigurationError("storage.recordings_retention_days must be in (0, 36500] (got \(days))")
        }
        if storage.database != nil, storage.postgres != nil {
            throw ConfigurationError("storage: set storage.database (one gateway, SQLite) or storage.postgres (shared), not both")
        }
        if let pg = storage.postgres {
            guard !pg.host.isEmpty, (1...65535).contains(pg.port), !pg.database.isEmpty, !pg.user.isEmpty else {
                throw ConfigurationError("storage.postgres needs a host, a port in 1...65535, a database and a user")
            }
        }
        guard node.heartbeatSeconds >= 0.1, node.heartbeatSeconds <= 60 else {
            throw ConfigurationError("node.heartbeat_seconds must be 0.1...60 (got \(node.heartbeatSeconds))")
        }
        guard node.deadAfterSeconds >= 3 * node.heartbeatSeconds, node.deadAfterSeconds <= 3600 else {
            throw ConfigurationError(
                "node.dead_after_seconds must be at least three heartbeats (\(3 * node.heartbeatSeconds)) and at most 3600 (got \(node.deadAfterSeconds))"
            )
        }
        if let id = node.id, id.isEmpty || id.count > 128 {
            throw ConfigurationError("node.id must be 1 to 128 characters (got \"\(id)\")")
        }
        if storage.recordings != nil, !storage.keepsRecords {
            throw ConfigurationError("storage.recordings: recordings are listed in the call records: set storage.database")
        }
        if !api.applications.isEmpty, !storage.keepsRecords {
            throw ConfigurationError("api: the control API reads the call records: set storage.database")
        }
        if !storage.keepsRecords, let route = routes.first(where: \.hasCallFlow) {
            throw ConfigurationError(
                "route \(route.path): a call flow's requests and events carry the call records' uuids: set storage.database")
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

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

extension ServerConfiguration.Route {
    /// The call flow's settings (`answer_url` and its companions, or a fixed `ncco`); the NCCO itself is
    /// read by the NCCO reader when the gateway starts (it needs the voices).
    func validateCallFlow() throws(ConfigurationError) {
        let isFlow = hasCallFlow
        guard isFlow || (answerMethod == nil && fallbackAnswerURL == nil && answerTimeoutSeconds == nil) else {
            throw ConfigurationError("route \(path): answer_method, fallback_answer_url and answer_timeout need an answer_url")
        }
        guard isFlow else { return }
        if answerURL != nil, ncco != nil {
            throw ConfigurationError("route \(path): answer_url and ncco are exclusive (the NCCO comes from one of them)")
        }
        guard mode == .conversation, connect == nil, stream == nil else {
            throw ConfigurationError(
                "route \(path): a route with an answer_url or an ncco is a conversation route without connect or stream (the NCCO says what the leg does)"
            )
        }
        for (name, url) in [("answer_url", answerURL), ("fallback_answer_url", fallbackAnswerURL)] {
            guard let url else { continue }
            guard FieldReader.isFetchableURL(url) else {
                throw ConfigurationError("route \(path): \(name) must be an http or https URL (got \"\(url)\")")
            }
        }
        if let method = answerMethod, !["GET", "POST"].contains(method.uppercased()) {
            throw ConfigurationError("route \(path): answer_method must be GET or POST (got \"\(method)\")")
        }
        if let timeout = answerTimeoutSeconds, !(timeout > 0 && timeout <= 60) {
            throw ConfigurationError("route \(path): answer_timeout must be in (0, 60] seconds (got \(timeout))")
        }
        if let ncco, ncco.isEmpty { throw ConfigurationError("route \(path): ncco must hold at least one action") }
    }
}
