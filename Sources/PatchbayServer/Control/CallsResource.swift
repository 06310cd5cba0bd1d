import Foundation
import PatchbayRecords
import PatchbayVoiceAPI

/// `/v1/calls`: `GET` lists the application's calls (HAL pages, filters), `POST` dials a websocket
/// service as a new call.
struct CallsResource: APIResource {
    let calls: CallContext

    func respond(to request: APIRequest) async throws -> APIResponse {
        switch request.method {
        case .GET: try await list(request)
        case .POST: try await create(request)
        default: throw APIError.methodNotAllowed(request.method, allow: "GET, POST")
        }
    }

    private func list(_ request: APIRequest) async throws -> APIResponse {
        let query = request.query
        var q = CallQuery(applicationID: request.application)
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
            if let date = VoiceAPITime.parse(text) { q[keyPath: keyPath] = date } else { invalid.append((name, "must be an ISO 8601 time")) }
        }
        if let text = query["conversation_uuid"] {
            if let uuid = UUID(uuidString: text.hasPrefix("CON-") ? String(text.dropFirst(4)) : text) {
                q.conversationUUID = uuid
            } else {
                invalid.append(("conversation_uuid", "must be a UUID"))
            }
        }
        guard invalid.isEmpty else { throw APIError.invalid(invalid) }
        let page = try await calls.store.calls(q)
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
            "_embedded": ["calls": page.calls.map { CallResource.callObject($0, now: now) }],
        ])
    }

    /// Dials a websocket service (`to`) as a new outbound leg and runs the `ncco` on it: `conversation`
    /// names the conversation it joins (its own without one); `talk`, `stream` and `connect` run in order
    /// once it answers.
    private func create(_ request: APIRequest) async throws -> APIResponse {
        let rules = calls.rules
        let call = try calls.read { () throws(CallRequestError) in try CallRequest.creation(request.body, rules: rules) }
        guard !calls.steering.isDraining else {
            throw APIError(status: .serviceUnavailable, title: "Service Unavailable", detail: "the gateway is draining")
        }
        let (uuid, conversation) = calls.steering.dial(call, application: request.application)
        calls.logger.info(
            "control API dialled a service",
            metadata: ["leg": "\(uuid)", "uri": "\(call.endpoint.uri)", "application": "\(request.application)"])
        return APIResponse(
            status: .created,
            body: [
                "uuid": uuid.uuidString.lowercased(), "status": "started", "direction": "outbound",
                "conversation_uuid": "CON-" + conversation.uuidString.lowercased(),
            ])
    }
}
