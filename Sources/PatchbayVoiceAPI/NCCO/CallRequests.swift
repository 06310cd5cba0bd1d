import Foundation

/// The bodies of the control API's requests that steer or make calls, read and checked as values (no HTTP
/// here): each reader names every bad field, with the Voice API's parameter names.
public enum CallRequest {
    /// `PUT /v1/calls/{uuid}`.
    public enum Modification: Sendable, Equatable {
        case hangup, mute, unmute, earmuff, unearmuff
        /// Run this NCCO on the leg (`destination: {type: "ncco", ncco: [...]}`).
        case transfer([NCCOAction])

        public static let actions = ["hangup", "mute", "unmute", "earmuff", "unearmuff", "transfer"]

        public var name: String {
            switch self {
            case .hangup: "hangup"
            case .mute: "mute"
            case .unmute: "unmute"
            case .earmuff: "earmuff"
            case .unearmuff: "unearmuff"
            case .transfer: "transfer"
            }
        }
    }

    /// `PUT /v1/calls/{uuid}`'s body.
    public static func modification(_ bytes: [UInt8], rules: NCCORules) throws(CallRequestError) -> Modification {
        var body = try reader(bytes)
        let action = body.string("action", required: true)
        if let action, !Modification.actions.contains(action) {
            body.problem("action", "must be one of \(Modification.actions.joined(separator: ", "))")
        }
        var ncco: [NCCOAction] = []
        if action == "transfer", let destination = body.object("destination", required: true) {
            var d = body.nested(destination, at: "destination")
            let type = d.string("type", required: true)
            if let type, type != "ncco" { d.problem("type", "must be ncco (an answer URL is not fetched)") }
            if let actions = d.objects("ncco", required: true) {
                ncco = try rejection { () throws(NCCORejection) in try NCCOAction.read(actions, in: &d, rules: rules) }
            }
            body.absorb(d)
        }
        try check(body)
        switch action {
        case "hangup": return .hangup
        case "mute": return .mute
        case "unmute": return .unmute
        case "earmuff": return .earmuff
        case "unearmuff": return .unearmuff
        default: return .transfer(ncco)
        }
    }

    /// `POST /v1/calls`: a websocket service to dial, and the NCCO to run on its leg.
    public struct Creation: Sendable, Equatable {
        public var endpoint: WebSocketEndpoint
        /// The record's `from`: `{"type":"phone","number":...}` or `{"type":"sip","uri":...}`.
        public var from: [String: String]
        /// Fields the endpoint's `{caller.NAME}` placeholders may name (`from`).
        public var headers: [String: String]
        public var ncco: [NCCOAction]
    }

    /// `POST /v1/calls`' body: `to` (one `websocket` endpoint, checked as a `connect` action's), `from`
    /// (`phone` or `sip`), `ncco`; the Voice API's fields Patchbay cannot honour are named.
    public static func creation(_ bytes: [UInt8], rules: NCCORules) throws(CallRequestError) -> Creation {
        var body = try reader(bytes)
        var endpoint: WebSocketEndpoint?
        if let to = body.objects("to", required: true) {
            if to.count != 1 {
                body.problem("to", "must hold exactly one endpoint")
            } else {
                var t = body.nested([:], at: "to")
                endpoint = try rejection { () throws(NCCORejection) in
                    try NCCOAction.readEndpoint(to[0], named: "[0]", in: &t, rules: rules)
                }
                for (name, reason) in t.problems {
                    body.problem(
                        name.replacingOccurrences(of: "to.[0]", with: "to[0]"), reason.replacingOccurrences(of: "to.[0]", with: "to[0]"))
                }
            }
        }
        var from = ["type": "phone", "number": "unknown"]
        var headers: [String: String] = [:]
        if let object = body.object("from") {
            var f = body.nested(object, at: "from")
            switch f.string("type", required: true) {
            case "phone":
                if let number = f.string("number", required: true) {
                    from = ["type": "phone", "number": number]
                    headers["from"] = number
                }
            case "sip":
                if let uri = f.string("uri", required: true) {
                    from = ["type": "sip", "uri": uri]
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
            ncco = try rejection { () throws(NCCORejection) in try NCCOAction.read(objects, in: &body, rules: rules) }
        }
        try check(body)
        guard let endpoint else { throw .invalid(InvalidParameters([("to", "must hold a websocket endpoint")])) }
        return Creation(endpoint: endpoint, from: from, headers: headers, ncco: ncco)
    }

    /// `PUT /v1/calls/{uuid}/stream`'s body.
    public static func stream(_ bytes: [UInt8]) throws(CallRequestError) -> NCCOAction.Stream {
        var body = try reader(bytes)
        // The control API's own stream: any host (no rules), so this reader cannot refuse it as a whole.
        let stream = try? NCCOAction.Stream.read(&body, urlField: "stream_url")
        try check(body)
        return stream!
    }

    /// `PUT /v1/calls/{uuid}/talk`'s body.
    public static func talk(_ bytes: [UInt8], rules: NCCORules) throws(CallRequestError) -> NCCOAction.Talk {
        var body = try reader(bytes)
        let talk = try rejection { () throws(NCCORejection) in try NCCOAction.Talk.read(&body, rules: rules) }
        try check(body)
        return talk!
    }

    /// `PUT /v1/calls/{uuid}/dtmf`'s body: the digits to play (0-9, *, #, and p for a 500 ms pause).
    public static func digits(_ bytes: [UInt8]) throws(CallRequestError) -> String {
        var body = try reader(bytes)
        let digits = body.string("digits", required: true)
        if let digits, digits.isEmpty || digits.count > 100 || !digits.allSatisfy({ "0123456789*#p".contains($0) }) {
            body.problem("digits", "must be 1 to 100 of 0-9, *, # and p (a 500 ms pause)")
        }
        try check(body)
        return digits!
    }

    /// An NCCO on its own — an `answer_url`'s or an event's answer, a route's `ncco` — a JSON array of
    /// action objects, every bad field named as `ncco[i].field`.
    public static func ncco(_ value: JSONValue, rules: NCCORules) throws(CallRequestError) -> [NCCOAction] {
        var body = FieldReader(fields: ["ncco": value])
        var ncco: [NCCOAction] = []
        if let objects = body.objects("ncco", required: true) {
            ncco = try rejection { () throws(NCCORejection) in try NCCOAction.read(objects, in: &body, rules: rules) }
        }
        try check(body)
        return ncco
    }

    private static func reader(_ bytes: [UInt8]) throws(CallRequestError) -> FieldReader {
        do {
            return try FieldReader(json: bytes)
        } catch {
            throw .invalid(error)
        }
    }

    private static func check(_ body: FieldReader) throws(CallRequestError) {
        do {
            try body.check()
        } catch {
            throw .invalid(error)
        }
    }

    private static func rejection<T>(_ body: () throws(NCCORejection) -> T) throws(CallRequestError) -> T {
        do {
            return try body()
        } catch {
            throw .rejected(error)
        }
    }
}

/// Why a call request is refused: fields that do not validate (a 400), or a rule the request breaks as a
/// whole (a host that is not allowed: 403; no speech: 503).
public enum CallRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(InvalidParameters)
    case rejected(NCCORejection)

    /// The first bad field (`ncco[2].text is required`), or the rule broken: short enough for a close reason.
    public var description: String {
        switch self {
        case .invalid(let parameters):
            guard let first = parameters.problems.first else { return "invalid" }
            return "\(first.name) \(first.reason)"
        case .rejected(let rejection): return rejection.description
        }
    }
}
