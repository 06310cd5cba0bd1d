import Foundation
import NIOHTTP1
import PatchbayDSP
import PatchbayEngine
import PatchbayRecords
import PatchbaySpeech

/// What the control API can do to a live leg: `PUT /v1/calls/{uuid}` (hangup, mute, earmuff, transfer),
/// and `PUT`/`DELETE` of its `stream`, `talk` and `dtmf`.
extension ControlAPI {
    /// Speech into a call: `PUT /v1/calls/{uuid}/talk` and the NCCO `talk` action.
    struct Talk: Sendable {
        var text: String
        var voice: String
        var loop: Int
        var level: Level

        /// Reads and checks the fields (`text`, `language`, `style`, `premium`, `loop`, `level`).
        static func read(_ body: inout RequestBody) throws(APIError) -> Talk? {
            let text = body.string("text", required: true)
            let language = body.string("language") ?? "en-US"
            let style = body.integer("style", in: 0...Int(Int32.max)) ?? 0
            _ = body.boolean("premium")  // one engine: accepted, and every voice is the same kind
            _ = body.boolean("bargeIn")
            let loop = body.integer("loop", in: 0...1000) ?? 1
            let level = body.number("level", in: -1...1) ?? 0
            if let text {
                if text.count > SpeechSynthesizer.maximumTextCharacters {
                    body.problem("text", "must be at most \(SpeechSynthesizer.maximumTextCharacters) characters")
                } else if !text.contains(where: { !$0.isWhitespace }) {
                    body.problem("text", "must not be empty")
                }
            }
            var voice: String?
            switch SpeechSynthesizer.shared {
            case .success(let speech):
                do {
                    voice = try speech.voice(language: language, style: style)
                } catch .unsupportedStyle(_, let styles) {
                    body.problem("style", "must be 0...\(styles - 1) (espeak-ng voice variants)")
                } catch {
                    body.problem("language", "no voice speaks \(language)")
                }
            case .failure(let error):
                throw APIError(status: .serviceUnavailable, title: "Service Unavailable", detail: error.description)
            }
            guard let text, let voice, body.problems.isEmpty else { return nil }
            return Talk(text: text, voice: voice, loop: loop, level: (try? Level(level)) ?? .unity)
        }
    }

    /// Audio into a call: `PUT /v1/calls/{uuid}/stream` (`stream_url`) and the NCCO `stream` action
    /// (`streamUrl`).
    struct Stream: Sendable {
        var url: String
        var loop: Int
        var level: Level

        static func read(_ body: inout RequestBody, urlField: String) -> Stream? {
            let urls = body.strings(urlField, required: true)
            let loop = body.integer("loop", in: 0...1000) ?? 1
            let level = body.number("level", in: -1...1) ?? 0
            var url: String?
            if let urls {
                if urls.count != 1 {
                    body.problem(urlField, "must hold exactly one URL")
                } else if RequestBody.isFetchableURL(urls[0]) {
                    url = urls[0]
                } else {
                    body.problem(urlField, "must be an http or https URL")
                }
            }
            guard let url, body.problems.isEmpty else { return nil }
            return Stream(url: url, loop: loop, level: (try? Level(level)) ?? .unity)
        }
    }

    // MARK: The leg

    /// The live leg `text` names, if it is `application`'s: 404 when it is not (or unknown), 409 when
    /// the call exists but is not streaming (completed, failed, or still being dialled).
    func liveLeg(application: String, uuid text: String) async throws -> Leg {
        guard let uuid = UUID(uuidString: text) else { throw APIError.notFound("no call \(text)") }
        if let record = gateway.records?.live(uuid) {
            guard record.applicationID == application else { throw APIError.notFound("no call \(text)") }
            guard let leg = gateway.engine.leg(uuid), leg.isLive else {
                throw APIError.conflict("call \(text) is \(record.status.rawValue): not streaming (yet)")
            }
            return leg
        }
        if let record = try await store.call(uuid), record.applicationID == application {
            throw APIError.conflict("call \(text) is \(record.status.rawValue)")
        }
        throw APIError.notFound("no call \(text)")
    }

    // MARK: PUT /v1/calls/{uuid}

    func modify(application: String, uuid: String, body bytes: [UInt8]) async throws -> APIResponse {
        var body = try RequestBody(bytes: bytes)
        let action = body.string("action", required: true)
        let actions = ["hangup", "mute", "unmute", "earmuff", "unearmuff", "transfer"]
        if let action, !actions.contains(action) { body.problem("action", "must be one of \(actions.joined(separator: ", "))") }
        var ncco: [NCCOAction] = []
        if action == "transfer" {
            if let destination = body.object("destination", required: true) {
                var d = body.nested(destination, at: "destination")
                let type = d.string("type", required: true)
                if let type, type != "ncco" { d.problem("type", "must be ncco (an answer URL is not fetched)") }
                if let actions = d.objects("ncco", required: true) {
                    ncco = try NCCOAction.read(
                        actions, in: &d, allowedHosts: allowedHosts, jwtSecret: gateway.configuration.auth.jwtSecret)
                }
                body.absorb(d)
            }
        }
        try body.check()
        let leg = try await liveLeg(application: application, uuid: uuid)
        switch action {
        case "hangup": leg.transport.close(reason: "hung up by the control API")
        case "mute": leg.isMuted = true
        case "unmute": leg.isMuted = false
        case "earmuff": leg.isEarmuffed = true
        case "unearmuff": leg.isEarmuffed = false
        default:
            guard !leg.isEcho else { throw APIError.unprocessable("call \(uuid) is an echo leg: it cannot be transferred") }
            try await gateway.run(ncco, on: leg)
        }
        gateway.logger.info("control API", metadata: ["leg": "\(uuid)", "action": "\(action ?? "")", "application": "\(application)"])
        return APIResponse.noContent
    }

    // MARK: PUT/DELETE /v1/calls/{uuid}/stream, /talk; PUT /dtmf

    func media(method: HTTPMethod, part: String, application: String, uuid: String, body bytes: [UInt8]) async throws -> APIResponse {
        switch (method, part) {
        case (.PUT, "stream"):
            var body = try RequestBody(bytes: bytes)
            let stream = Stream.read(&body, urlField: "stream_url")
            try body.check()
            let leg = try await playable(application: application, uuid: uuid)
            try await gateway.startStream(stream!, on: leg, patience: .seconds(2))
            return APIResponse(body: ["message": "Stream started", "uuid": uuid])
        case (.DELETE, "stream"), (.DELETE, "talk"):
            let leg = try await playable(application: application, uuid: uuid)
            try? gateway.engine.stopPlayers(part == "stream" ? .stream : .talk, on: leg.id)
            return APIResponse(body: ["message": part == "stream" ? "Stream stopped" : "Talk stopped", "uuid": uuid])
        case (.PUT, "talk"):
            var body = try RequestBody(bytes: bytes)
            let talk = try Talk.read(&body)
            try body.check()
            let leg = try await playable(application: application, uuid: uuid)
            try await gateway.startTalk(talk!, on: leg)
            return APIResponse(body: ["message": "Talk started", "uuid": uuid])
        case (.PUT, "dtmf"):
            var body = try RequestBody(bytes: bytes)
            if let digits = body.string("digits", required: true) {
                if digits.isEmpty || digits.count > 100 || !digits.allSatisfy({ "0123456789*#p".contains($0) }) {
                    body.problem("digits", "must be 1 to 100 of 0-9, *, # and p (a 500 ms pause)")
                }
            }
            try body.check()
            let leg = try await playable(application: application, uuid: uuid)
            do {
                try gateway.engine.playDTMF(body.string("digits") ?? "", on: leg.id)
            } catch {
                throw APIError.conflict("call \(uuid): \(error)")
            }
            return APIResponse(body: ["message": "DTMF sent", "uuid": uuid])
        default:
            throw APIError.methodNotAllowed(method, allow: part == "dtmf" ? "PUT" : "PUT, DELETE")
        }
    }

    /// A live leg that can be played into (an echo leg hears only itself: 422).
    private func playable(application: String, uuid: String) async throws -> Leg {
        let leg = try await liveLeg(application: application, uuid: uuid)
        guard !leg.isEcho else { throw APIError.unprocessable("call \(uuid) is an echo leg: it hears only itself") }
        return leg
    }
}

/// One action of an NCCO given to `transfer`: what Patchbay does with a websocket leg.
enum NCCOAction: Sendable {
    /// Move the leg to the named conversation.
    case conversation(name: String)
    case talk(ControlAPI.Talk)
    case stream(ControlAPI.Stream)
    /// Dial websocket services into the leg's conversation.
    case connect([WebSocketEndpoint])

    static let supported = ["conversation", "talk", "stream", "connect"]

    /// Reads and checks every action (problems reported as `destination.ncco[i].field`).
    static func read(
        _ objects: [[String: JSONValue]], in body: inout RequestBody, allowedHosts: HostPatterns, jwtSecret: String?
    ) throws(APIError) -> [NCCOAction] {
        if objects.isEmpty { body.problem("ncco", "must hold at least one action") }
        var actions: [NCCOAction] = []
        for (i, object) in objects.enumerated() {
            var a = body.nested(object, at: "ncco[\(i)]")
            switch a.string("action", required: true) {
            case "conversation":
                if let name = a.string("name", required: true) {
                    if name.isEmpty || name.utf8.count > 256 {
                        a.problem("name", "must be 1 to 256 bytes")
                    } else {
                        actions.append(.conversation(name: name))
                    }
                }
            case "talk":
                if let talk = try ControlAPI.Talk.read(&a) { actions.append(.talk(talk)) }
            case "stream":
                if let stream = ControlAPI.Stream.read(&a, urlField: "streamUrl") { actions.append(.stream(stream)) }
            case "connect":
                if let objects = a.objects("endpoint", required: true) {
                    if objects.isEmpty { a.problem("endpoint", "must hold at least one endpoint") }
                    var endpoints: [WebSocketEndpoint] = []
                    for (j, object) in objects.enumerated() {
                        let name = "endpoint[\(j)]"
                        guard case .string("websocket") = object["type"] ?? .null else {
                            a.problem(name + ".type", "must be websocket (Patchbay dials websocket services only)")
                            continue
                        }
                        guard object["ca_file"] == nil else {
                            a.problem(name + ".ca_file", "is for the configuration file only")
                            continue
                        }
                        if case .string(let uri) = object["uri"] ?? .null,
                            uri.range(of: RequestBody.urlPattern(schemes: "wss?"), options: .regularExpression) == nil
                        {
                            a.problem(name + ".uri", "must be a ws:// or wss:// URL (a host of letters, digits, dots and dashes)")
                            continue
                        }
                        let endpoint: WebSocketEndpoint
                        do {
                            endpoint = try JSONDecoder().decode(WebSocketEndpoint.self, from: JSONEncoder().encode(JSONValue.object(object)))
                            try endpoint.validate(at: a.path + name, jwtSecret: jwtSecret)
                        } catch let error as ConfigurationError {
                            a.problem(name, error.description)
                            continue
                        } catch DecodingError.keyNotFound(let key, _) {
                            a.problem(name + "." + key.stringValue, "is required")
                            continue
                        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
                            a.problem(name + "." + context.codingPath.map(\.stringValue).joined(separator: "."), "has the wrong type")
                            continue
                        } catch {
                            a.problem(name, "is not a websocket endpoint")
                            continue
                        }
                        guard allowedHosts.allows(endpoint.uri) else {
                            throw APIError(
                                status: .forbidden, title: "Forbidden",
                                detail: "\(endpoint.uri): its host is not in api.allowed_websocket_hosts")
                        }
                        endpoints.append(endpoint)
                    }
                    if !endpoints.isEmpty { actions.append(.connect(endpoints)) }
                }
            case let other?:
                a.problem("action", "\(other) is not supported (\(supported.joined(separator: ", ")))")
            case nil:
                break
            }
            body.absorb(a)
        }
        return actions
    }
}

// MARK: POST /v1/calls

extension ControlAPI {
    /// Dials a websocket service (`to`, one `websocket` endpoint) as a new outbound leg and runs the
    /// `ncco` on it: `conversation` names the conversation it joins (its own without one); `talk`,
    /// `stream` and `connect` run in order once it answers.
    func create(application: String, body bytes: [UInt8]) async throws -> APIResponse {
        var body = try RequestBody(bytes: bytes)
        var endpoint: WebSocketEndpoint?
        if let to = body.objects("to", required: true) {
            if to.count != 1 {
                body.problem("to", "must hold exactly one endpoint")
            } else {
                // Read as a connect action's endpoint, so the checks (and the names) are the same.
                var t = body.nested([:], at: "to")
                let actions = try NCCOAction.read(
                    [["action": .string("connect"), "endpoint": .array([.object(to[0])])]], in: &t, allowedHosts: allowedHosts,
                    jwtSecret: gateway.configuration.auth.jwtSecret)
                if case .connect(let endpoints)? = actions.first { endpoint = endpoints.first }
                for (name, reason) in t.problems {
                    body.problem(name.replacingOccurrences(of: "to.ncco[0].endpoint[0]", with: "to[0]"), reason)
                }
            }
        }
        var from = "{\"number\":\"unknown\",\"type\":\"phone\"}"
        var headers: [String: String] = [:]
        if let object = body.object("from") {
            var f = body.nested(object, at: "from")
            switch f.string("type", required: true) {
            case "phone":
                if let number = f.string("number", required: true) {
                    from = CallLedger.json(["type": "phone", "number": number])
                    headers["from"] = number
                }
            case "sip":
                if let uri = f.string("uri", required: true) {
                    from = CallLedger.json(["type": "sip", "uri": uri])
                    headers["from"] = uri
                }
            case let other?:
                f.problem("type", "\(other) is not phone or sip")
            case nil:
                break
            }
            body.absorb(f)
        }
        _ = body.boolean("random_from_number")
        if body.fields["answer_url"] != nil { body.problem("answer_url", "is not fetched: give the ncco") }
        for field in ["event_url", "event_method", "answer_method", "machine_detection", "advanced_machine_detection"]
        where body.fields[field] != nil {
            body.problem(field, "is not supported (events go to the application's event_url)")
        }
        _ = body.integer("length_timer", in: 1...7200)
        _ = body.integer("ringing_timer", in: 1...120)
        var ncco: [NCCOAction] = []
        if let objects = body.objects("ncco", required: true) {
            ncco = try NCCOAction.read(
                objects, in: &body, allowedHosts: allowedHosts, jwtSecret: gateway.configuration.auth.jwtSecret)
        }
        try body.check()
        guard let endpoint else { throw APIError.invalid([("to", "must hold a websocket endpoint")]) }
        guard !gateway.isDraining else {
            throw APIError(status: .serviceUnavailable, title: "Service Unavailable", detail: "the gateway is draining")
        }
        let (uuid, conversation) = gateway.dial(endpoint, ncco: ncco, application: application, from: from, headers: headers)
        gateway.logger.info(
            "control API dialled a service", metadata: ["leg": "\(uuid)", "uri": "\(endpoint.uri)", "application": "\(application)"])
        return APIResponse(
            status: .created,
            body: [
                "uuid": uuid.uuidString.lowercased(), "status": "started", "direction": "outbound",
                "conversation_uuid": "CON-" + conversation.uuidString.lowercased(),
            ])
    }
}
