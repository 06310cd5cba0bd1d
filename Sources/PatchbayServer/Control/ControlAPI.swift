import Foundation
import NIOHTTP1
import PatchbayRecords
import Synchronization

/// An error answer of the control API, in the Voice API's shape: `type`, `title`, `detail`, and for a
/// bad request the `invalid_parameters` (name and reason of each).
struct APIError: Error, Equatable {
    let status: HTTPResponseStatus
    let title: String
    let detail: String
    var invalidParameters: [(name: String, reason: String)] = []
    /// For a 405: the methods the path takes.
    var allow: String?

    static func unauthorized(_ detail: String) -> APIError { .init(status: .unauthorized, title: "Unauthorized", detail: detail) }
    static func notFound(_ detail: String) -> APIError { .init(status: .notFound, title: "Not Found", detail: detail) }
    /// The call is not in a state the action applies to (completed, failed, still being dialled).
    static func conflict(_ detail: String) -> APIError { .init(status: .conflict, title: "Conflict", detail: detail) }
    /// The action cannot apply to this kind of leg (an echo leg plays nothing) or its input (a stream
    /// that is not audio).
    static func unprocessable(_ detail: String) -> APIError {
        .init(status: .unprocessableEntity, title: "Unprocessable Entity", detail: detail)
    }
    static func methodNotAllowed(_ method: HTTPMethod, allow: String) -> APIError {
        .init(status: .methodNotAllowed, title: "Method Not Allowed", detail: "\(method.rawValue) is not supported here", allow: allow)
    }
    static func invalid(_ parameters: [(String, String)]) -> APIError {
        .init(
            status: .badRequest, title: "Bad Request", detail: "The request failed due to validation errors",
            invalidParameters: parameters.map { (name: $0.0, reason: $0.1) })
    }

    static func == (a: APIError, b: APIError) -> Bool {
        a.status == b.status && a.title == b.title && a.detail == b.detail
            && a.invalidParameters.map { "\($0.name)=\($0.reason)" } == b.invalidParameters.map { "\($0.name)=\($0.reason)" }
    }

    var body: [String: Any] {
        let slug = title.lowercased().replacingOccurrences(of: " ", with: "-")
        var object: [String: Any] = ["type": "https://developer.vonage.com/api-errors#\(slug)", "title": title, "detail": detail]
        if !invalidParameters.isEmpty {
            object["invalid_parameters"] = invalidParameters.map { ["name": $0.name, "reason": $0.reason] }
        }
        return object
    }
}

/// A control API answer: status, JSON body, and any extra headers.
struct APIResponse {
    let status: HTTPResponseStatus
    /// The body as sent ("" for a 204).
    let json: String
    var headers: [(String, String)] = []

    init(status: HTTPResponseStatus = .ok, body: [String: Any]) {
        self.status = status
        if status == .noContent {
            json = ""
        } else {
            json = JSONText.encode(body)
        }
    }

    init(status: HTTPResponseStatus = .ok, json: String) {
        self.status = status
        self.json = json
    }

    init(_ error: APIError) {
        self.init(status: error.status, body: error.body)
        if let allow = error.allow { headers.append(("allow", allow)) }
    }

    /// 204: done, nothing to say.
    static let noContent = APIResponse(status: .noContent, body: [:])
}

/// The control API, shaped like the Voice API's `/v1/calls`: what an application's legs are and were.
/// Every request carries the application's RS256 JWT; an application sees only its own legs.
final class ControlAPI: Sendable {
    let auth: ApplicationAuth
    let store: any CallStore
    /// The gateway whose legs the API steers (it owns the API).
    unowned let gateway: GatewayServer
    /// Where `connect` may dial (`api.allowed_websocket_hosts`).
    let allowedHosts: HostPatterns
    /// Each application's requests (`api.requests_per_second`).
    let limiter: RateLimiter

    init(auth: ApplicationAuth, store: any CallStore, gateway: GatewayServer) {
        self.auth = auth
        self.store = store
        self.gateway = gateway
        allowedHosts = HostPatterns(gateway.configuration.api.allowedWebSocketHosts)
        limiter = RateLimiter(perSecond: gateway.configuration.api.requestsPerSecond)
    }

    /// The OpenAPI document (made once: it lists the languages espeak-ng speaks).
    static let openAPI = OpenAPIDocument.json()

    /// Answers one request (`path` and `query` from its URI, `body` as sent).
    func respond(method: HTTPMethod, uri: String, authorization: String?, body: [UInt8] = []) async -> APIResponse {
        if URLComponents(string: uri)?.path == "/v1/openapi.json" {
            guard method == .GET else { return APIResponse(.methodNotAllowed(method, allow: "GET")) }
            return APIResponse(json: Self.openAPI)
        }
        let application: String
        switch await auth.authenticate(authorization) {
        case .success(let id): application = id
        case .failure(let error): return APIResponse(error)
        }
        if let wait = limiter.take(application) {
            var response = APIResponse(
                APIError(
                    status: .tooManyRequests, title: "Too Many Requests",
                    detail: "over api.requests_per_second (\(limiter.perSecond)) for application \(application)"))
            response.headers.append(("retry-after", "\(wait)"))
            return response
        }
        let components = URLComponents(string: uri)
        let path = components?.path ?? uri
        let query = Dictionary(
            (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, _ in first })
        let parts = path.split(separator: "/").map(String.init)
        do {
            switch (method, parts.count) {
            case (.GET, 2) where parts == ["v1", "calls"]:
                return try await list(application: application, query: query)
            case (.GET, 3) where parts[0] == "v1" && parts[1] == "calls":
                return try await get(application: application, uuid: parts[2])
            case (.PUT, 3) where parts[0] == "v1" && parts[1] == "calls":
                return try await modify(application: application, uuid: parts[2], body: body)
            case (_, 4) where parts[0] == "v1" && parts[1] == "calls" && ["stream", "talk", "dtmf"].contains(parts[3]):
                return try await media(method: method, part: parts[3], application: application, uuid: parts[2], body: body)
            case (.POST, 2) where parts == ["v1", "calls"]:
                return try await create(application: application, body: body)
            case (_, 2) where parts == ["v1", "calls"]:
                throw APIError.methodNotAllowed(method, allow: "GET, POST")
            case (_, 3) where parts[0] == "v1" && parts[1] == "calls":
                throw APIError.methodNotAllowed(method, allow: "GET, PUT")
            default:
                return APIResponse(.notFound("no such resource: \(path)"))
            }
        } catch let error as APIError {
            return APIResponse(error)
        } catch {
            return APIResponse(APIError(status: .internalServerError, title: "Internal Server Error", detail: "records: \(error)"))
        }
    }

    // MARK: GET /v1/calls

    private func list(application: String, query: [String: String]) async throws -> APIResponse {
        var q = CallQuery(applicationID: application)
        var invalid: [(String, String)] = []
        if let text = query["page_size"] {
            if let n = Int(text), (1...100).contains(n) { q.pageSize = n } else { invalid.append(("page_size", "must be 1...100")) }
        }
        if let text = query["record_index"] {
            if let n = Int(text), n >= 0 { q.recordIndex = n } else { invalid.append(("record_index", "must be 0 or more")) }
        }
        if let text = query["order"] {
            if let order = CallQuery.Order(rawValue: text) { q.order = order } else { invalid.append(("order", "must be asc or desc")) }
        }
        if let text = query["status"] {
            if let status = CallRecord.Status(rawValue: text) {
                q.status = status
            } else {
                invalid.append(("status", "must be one of \(CallRecord.Status.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        for (name, keyPath) in [("date_start", \CallQuery.dateStart), ("date_end", \CallQuery.dateEnd)] {
            guard let text = query[name] else { continue }
            if let date = Self.parseDate(text) { q[keyPath: keyPath] = date } else { invalid.append((name, "must be an ISO 8601 time")) }
        }
        if let text = query["conversation_uuid"] {
            if let uuid = UUID(uuidString: text.hasPrefix("CON-") ? String(text.dropFirst(4)) : text) {
                q.conversationUUID = uuid
            } else {
                invalid.append(("conversation_uuid", "must be a UUID"))
            }
        }
        guard invalid.isEmpty else { throw APIError.invalid(invalid) }
        let page = try await store.calls(q)
        func href(_ index: Int) -> [String: String] {
            var items = [URLQueryItem(name: "page_size", value: "\(q.pageSize)"), URLQueryItem(name: "record_index", value: "\(index)")]
            items.append(URLQueryItem(name: "order", value: q.order.rawValue))
            for name in ["status", "date_start", "date_end", "conversation_uuid"] {
                if let value = query[name] { items.append(URLQueryItem(name: name, value: value)) }
            }
            var c = URLComponents()
            c.path = "/v1/calls"
            c.queryItems = items
            return ["href": c.string ?? "/v1/calls"]
        }
        var links: [String: Any] = ["self": href(q.recordIndex), "first": href(0)]
        if q.recordIndex + q.pageSize < page.total { links["next"] = href(q.recordIndex + q.pageSize) }
        if q.recordIndex > 0 { links["prev"] = href(max(0, q.recordIndex - q.pageSize)) }
        let now = Date()
        return APIResponse(body: [
            "count": page.total, "page_size": q.pageSize, "record_index": q.recordIndex, "_links": links,
            "_embedded": ["calls": page.calls.map { Self.callObject($0, now: now) }],
        ])
    }

    // MARK: GET /v1/calls/{uuid}

    private func get(application: String, uuid text: String) async throws -> APIResponse {
        guard let uuid = UUID(uuidString: text), let record = try await store.call(uuid), record.applicationID == application else {
            throw APIError.notFound("no call \(text)")
        }
        return APIResponse(body: Self.callObject(record, now: Date()))
    }

    /// A record as the Voice API's call object.
    static func callObject(_ r: CallRecord, now: Date) -> [String: Any] {
        let uuid = r.uuid.uuidString.lowercased()
        var object: [String: Any] = [
            "uuid": uuid, "conversation_uuid": "CON-" + r.conversationUUID.uuidString.lowercased(),
            "to": Self.endpoint(r.to), "from": Self.endpoint(r.from), "status": r.status.rawValue,
            "direction": r.direction.rawValue, "start_time": Self.formatDate(r.startTime),
            "_links": ["self": ["href": "/v1/calls/" + uuid]],
        ]
        if let end = r.endTime { object["end_time"] = Self.formatDate(end) }
        if let duration = r.duration(now: now) { object["duration"] = "\(duration)" }
        return object
    }

    /// A recorded endpoint (a flat object of strings, as the ledger writes them) as JSON to answer with.
    private static func endpoint(_ json: String) -> Any {
        (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [String: String]()
    }

    /// `2024-04-19T01:34:18.000Z`, as the Voice API writes times.
    /// Made by hand: an `ISO8601DateFormatter` costs a locale and an ICU formatter to make, which was
    /// most of a list request's time (BENCHMARKS.md, "The control API").
    static func formatDate(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
        let millis = Int(milliseconds - Int64(seconds) * 1000)
        var t = tm()
        gmtime_r(&seconds, &t)
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return digits(Int(t.tm_year) + 1900, 4) + "-" + digits(Int(t.tm_mon) + 1, 2) + "-" + digits(Int(t.tm_mday), 2) + "T"
            + digits(Int(t.tm_hour), 2) + ":" + digits(Int(t.tm_min), 2) + ":" + digits(Int(t.tm_sec), 2) + "."
            + digits(millis, 3) + "Z"
    }

    /// An ISO 8601 time, with or without fractional seconds.
    static func parseDate(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }
}

/// A token bucket per application: `perSecond` tokens a second, holding at most as many.
final class RateLimiter: Sendable {
    let perSecond: Double
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    init(perSecond: Double) {
        self.perSecond = perSecond
    }

    /// Takes a token for `key`: nil when there was one, else the whole seconds until there is.
    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? (perSecond, now)
            let (seconds, attoseconds) = (now - bucket.at).components
            bucket.tokens = min(perSecond, bucket.tokens + (Double(seconds) + Double(attoseconds) * 1e-18) * perSecond)
            bucket.at = now
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up))) }
            bucket.tokens -= 1
            return nil
        }
    }
}
