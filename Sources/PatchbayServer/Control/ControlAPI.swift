import Foundation
import Logging
import NIOHTTP1
import PatchbayAuth
import PatchbayRecords
import PatchbayVoiceAPI

/// Where a REST request goes: the control API, shaped like the Voice API's `/v1/calls`. Every request
/// (but the OpenAPI document) carries an application's RS256 JWT (`ApplicationAuth`) and is held to its
/// rate (`RateLimiter`); the router then hands it to the resource its path names — the call list
/// (`CallsResource`), one call (`CallResource`), a call's stream, talk and dtmf (`CallMediaResource`).
/// Resources read the call records and steer live legs only through `CallSteering`: they know nothing of
/// sockets, shards or the gateway.
final class ControlAPI: Sendable {
    private let auth: ApplicationAuth
    /// Each application's requests (`api.requests_per_second`).
    private let limiter: RateLimiter
    private let routes: [Route]

    /// A path pattern (`*` matches one segment: a call's UUID) and the resource that answers it.
    private struct Route: Sendable {
        let pattern: [String]
        let resource: any APIResource

        func matches(_ parts: [String]) -> Bool {
            parts.count == pattern.count && zip(parts, pattern).allSatisfy { $1 == "*" || $0 == $1 }
        }
    }

    init(
        auth: ApplicationAuth, store: any CallStore, steering: any CallSteering, files: Recordings? = nil, rules: NCCORules,
        requestsPerSecond: Double, logger: Logger
    ) {
        self.auth = auth
        limiter = RateLimiter(perSecond: requestsPerSecond)
        let calls = CallContext(store: store, steering: steering, rules: rules, recordings: files, logger: logger)
        var routes = [
            Route(pattern: ["v1", "calls"], resource: CallsResource(calls: calls)),
            Route(pattern: ["v1", "calls", "*"], resource: CallResource(calls: calls)),
            Route(pattern: ["v1", "calls", "*", "stream"], resource: CallMediaResource(calls: calls, part: .stream)),
            Route(pattern: ["v1", "calls", "*", "talk"], resource: CallMediaResource(calls: calls, part: .talk)),
            Route(pattern: ["v1", "calls", "*", "dtmf"], resource: CallMediaResource(calls: calls, part: .dtmf)),
        ]
        if let files {
            routes.append(Route(pattern: ["v1", "files", "*"], resource: FilesResource(recordings: files, part: .file)))
            routes.append(Route(pattern: ["v1", "files", "*", "timeline"], resource: FilesResource(recordings: files, part: .timeline)))
        }
        self.routes = routes
    }

    /// The OpenAPI document (made once: it lists the languages espeak-ng speaks).
    static let openAPI = OpenAPIDocument.json()

    /// Answers one request (`path` and `query` from its URI, `body` as sent).
    func respond(method: HTTPMethod, uri: String, authorization: String?, range: String? = nil, body: [UInt8] = []) async -> APIResponse {
        // An absolute-form target (`GET http://host/v1/...`, as a client sends through a proxy) names the
        // same resource as its path (RFC 9112, 3.2.2).
        let components = URLComponents(string: uri)
        let path = components?.path ?? uri
        if path == "/v1/openapi.json" {
            guard method == .GET else { return APIResponse(.methodNotAllowed(method, allow: "GET")) }
            return APIResponse(json: Self.openAPI)
        }
        let application: String
        switch await auth.authenticate(authorization) {
        case .success(let id): application = id
        case .failure(let refusal): return APIResponse(.unauthorized(refusal.description))
        }
        if let wait = limiter.take(application) {
            var response = APIResponse(
                APIError(
                    status: .tooManyRequests, title: "Too Many Requests",
                    detail: "over api.requests_per_second (\(limiter.perSecond)) for application \(application)"))
            response.headers.append(("retry-after", "\(wait)"))
            return response
        }
        let parts = path.split(separator: "/").map(String.init)
        guard let route = routes.first(where: { $0.matches(parts) }) else {
            return APIResponse(.notFound("no such resource: \(path)"))
        }
        let query = Dictionary(
            (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, _ in first })
        let request = APIRequest(method: method, path: parts, query: query, body: body, application: application, range: range)
        do {
            return try await route.resource.respond(to: request)
        } catch let error as APIError {
            return APIResponse(error)
        } catch RecordsError.unavailable(let what) {
            var response = APIResponse(
                APIError(status: .serviceUnavailable, title: "Service Unavailable", detail: "the call records cannot be read now: \(what)"))
            response.headers.append(("retry-after", "5"))
            return response
        } catch {
            return APIResponse(APIError(status: .internalServerError, title: "Internal Server Error", detail: "records: \(error)"))
        }
    }
}

/// One authenticated request, as a resource sees it.
struct APIRequest: Sendable {
    let method: HTTPMethod
    /// The path's segments: `["v1", "calls", "<uuid>", "stream"]`.
    let path: [String]
    let query: [String: String]
    let body: [UInt8]
    /// The application the request's token proves.
    let application: String
    /// The `Range` header, if any.
    var range: String? = nil

    /// The call UUID the path names (its third segment).
    var callID: String { path[2] }
}

/// A resource of the API: answers the methods it takes on its paths (405 with `Allow` for the others).
protocol APIResource: Sendable {
    func respond(to request: APIRequest) async throws -> APIResponse
}

/// What every call resource shares: the records, the steering, the NCCO rules.
struct CallContext: Sendable {
    let store: any CallStore
    let steering: any CallSteering
    let rules: NCCORules
    /// The recordings (nil: none are kept), for a call's list of them.
    let recordings: Recordings?
    let logger: Logger

    /// Reads a request body with one of the Voice API's readers; its refusal is the answer.
    func read<T>(_ body: () throws(CallRequestError) -> T) throws(APIError) -> T {
        do {
            return try body()
        } catch {
            throw APIError(error)
        }
    }
}
