import Foundation
import NIOHTTP1
import PatchbayVoiceAPI

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
    /// The body as sent ("" for a 204, or when `file` is the body).
    let json: String
    var headers: [(String, String)] = []
    /// A file's bytes as the body instead (a recording): sent from disk in pieces.
    var file: FileBody?

    struct FileBody: Sendable {
        let path: String
        let offset: Int
        let length: Int
        let contentType: String
    }

    init(status: HTTPResponseStatus, file: FileBody, headers: [(String, String)]) {
        self.status = status
        json = ""
        self.file = file
        self.headers = headers
    }

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

extension APIError {
    /// A request the Voice API's readers refused: 400 naming every bad field, 403 for a host that is not
    /// allowed, 503 when speech cannot be made here.
    init(_ error: CallRequestError) {
        switch error {
        case .invalid(let invalid): self = .invalid(invalid.problems.map { ($0.name, $0.reason) })
        case .rejected(.forbiddenHost(let uri)):
            self.init(status: .forbidden, title: "Forbidden", detail: "\(uri): its host is not in api.allowed_websocket_hosts")
        case .rejected(.forbiddenFetchHost(let url)):
            self.init(
                status: .forbidden, title: "Forbidden",
                detail: "\(url): its host is not in api.allowed_http_hosts (nor the host of a configured answer_url or event_url)")
        case .rejected(.speechUnavailable(let reason)):
            self.init(status: .serviceUnavailable, title: "Service Unavailable", detail: reason)
        }
    }
}
