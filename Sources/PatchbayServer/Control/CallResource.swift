import Foundation
import PatchbayRecords
import PatchbayVoiceAPI

/// `/v1/calls/{uuid}`: `GET` one call's record, `PUT` steers it (hangup, mute, earmuff, transfer).
struct CallResource: APIResource {
    let calls: CallContext

    func respond(to request: APIRequest) async throws -> APIResponse {
        switch request.method {
        case .GET: try await get(request)
        case .PUT: try await modify(request)
        default: throw APIError.methodNotAllowed(request.method, allow: "GET, PUT")
        }
    }

    private func get(_ request: APIRequest) async throws -> APIResponse {
        let text = request.callID
        guard let uuid = UUID(uuidString: text), let record = try await calls.store.call(uuid), record.applicationID == request.application
        else {
            throw APIError.notFound("no call \(text)")
        }
        var object = Self.callObject(record, now: Date())
        if let recordings = calls.recordings {
            let rows = try await recordings.rows(ofLeg: uuid)
            if !rows.isEmpty {
                object["recordings"] = rows.map { r -> [String: Any] in
                    var o: [String: Any] = [
                        "recording_uuid": r.recordingUUID.uuidString.lowercased(), "status": r.status.rawValue, "format": r.format,
                        "channels": r.channels, "start_time": VoiceAPITime.format(r.startTime),
                    ]
                    if r.status == .completed { o["recording_url"] = recordings.url(of: r.id) }
                    if let end = r.endTime { o["end_time"] = VoiceAPITime.format(end) }
                    if let size = r.size { o["size"] = size }
                    if let error = r.error { o["error"] = error }
                    return o
                }
            }
        }
        return APIResponse(body: object)
    }

    private func modify(_ request: APIRequest) async throws -> APIResponse {
        let rules = calls.rules
        let modification = try calls.read { () throws(CallRequestError) in try CallRequest.modification(request.body, rules: rules) }
        let uuid = request.callID
        let leg = try await calls.liveLeg(application: request.application, uuid: uuid)
        switch modification {
        case .hangup: leg.transport.close(reason: "hung up by the control API")
        case .mute: leg.isMuted = true
        case .unmute: leg.isMuted = false
        case .earmuff: leg.isEarmuffed = true
        case .unearmuff: leg.isEarmuffed = false
        case .transfer(let ncco):
            guard !leg.isEcho else { throw APIError.unprocessable("call \(uuid) is an echo leg: it cannot be transferred") }
            calls.steering.transfer(leg, to: ncco)
        }
        calls.logger.info("control API", metadata: ["leg": "\(uuid)", "action": "\(modification.name)", "application": "\(request.application)"])
        return APIResponse.noContent
    }

    /// A record as the Voice API's call object.
    static func callObject(_ r: CallRecord, now: Date) -> [String: Any] {
        let uuid = r.uuid.uuidString.lowercased()
        var object: [String: Any] = [
            "uuid": uuid, "conversation_uuid": "CON-" + r.conversationUUID.uuidString.lowercased(),
            "to": CallLedger.endpointFields(r.to), "from": CallLedger.endpointFields(r.from), "status": r.status.rawValue,
            "direction": r.direction.rawValue, "start_time": VoiceAPITime.format(r.startTime),
            "_links": ["self": ["href": "/v1/calls/" + uuid]],
        ]
        if let end = r.endTime { object["end_time"] = VoiceAPITime.format(end) }
        if let duration = r.duration(now: now) { object["duration"] = "\(duration)" }
        return object
    }
}
