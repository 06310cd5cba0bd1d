import Foundation
import PatchbayVoiceAPI

/// `/v1/calls/{uuid}/stream`, `/talk` and `/dtmf`: audio, speech and tones into a live call.
struct CallMediaResource: APIResource {
    enum Part {
        case stream, talk, dtmf
    }

    let calls: CallContext
    let part: Part

    func respond(to request: APIRequest) async throws -> APIResponse {
        let uuid = request.callID
        let application = request.application
        let rules = calls.rules
        switch (request.method, part) {
        case (.PUT, .stream):
            let stream = try calls.read { () throws(CallRequestError) in try CallRequest.stream(request.body) }
            let leg = try await calls.playableLeg(application: application, uuid: uuid)
            try await calls.steering.play(stream, on: leg, patience: .seconds(2))
            return APIResponse(body: ["message": "Stream started", "uuid": uuid])
        case (.DELETE, .stream), (.DELETE, .talk):
            let leg = try await calls.playableLeg(application: application, uuid: uuid)
            calls.steering.stopPlayers(part == .stream ? .stream : .talk, on: leg)
            return APIResponse(body: ["message": part == .stream ? "Stream stopped" : "Talk stopped", "uuid": uuid])
        case (.PUT, .talk):
            let talk = try calls.read { () throws(CallRequestError) in try CallRequest.talk(request.body, rules: rules) }
            let leg = try await calls.playableLeg(application: application, uuid: uuid)
            try await calls.steering.speak(talk, on: leg)
            return APIResponse(body: ["message": "Talk started", "uuid": uuid])
        case (.PUT, .dtmf):
            let digits = try calls.read { () throws(CallRequestError) in try CallRequest.digits(request.body) }
            let leg = try await calls.playableLeg(application: application, uuid: uuid)
            try calls.steering.playDigits(digits, on: leg)
            return APIResponse(body: ["message": "DTMF sent", "uuid": uuid])
        default:
            throw APIError.methodNotAllowed(request.method, allow: part == .dtmf ? "PUT" : "PUT, DELETE")
        }
    }
}
