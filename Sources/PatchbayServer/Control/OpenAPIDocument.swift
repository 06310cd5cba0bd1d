import Foundation
import PatchbaySpeech
import PatchbayVoiceAPI

/// The OpenAPI 3 document of the control API as Patchbay implements it, served at `/v1/openapi.json`
/// (without authentication, so tools can read it) and checked against the running server in the tests.
enum OpenAPIDocument {
    /// The Voice API's talk languages that a voice here speaks (the document's `language` enum).
    static func languages() -> [String] {
        guard case .success(let speech) = SpeechSynthesizer.shared else { return ["en-US"] }
        return voiceAPILanguages.filter { (try? speech.voice(language: $0)) != nil }
    }

    /// The language codes the Voice API's talk action documents.
    static let voiceAPILanguages = [
        "ar", "bn-IN", "ca-ES", "cmn-CN", "cmn-TW", "cs-CZ", "cy-GB", "da-DK", "de-DE", "el-GR", "en-AU", "en-GB", "en-IN",
        "en-US", "en-ZA", "es-ES", "es-MX", "es-US", "eu-ES", "fi-FI", "fil-PH", "fr-CA", "fr-FR", "gu-IN", "he-IL", "hi-IN",
        "hu-HU", "id-ID", "is-IS", "it-IT", "ja-JP", "kn-IN", "ko-KR", "ml-IN", "ms-MY", "nb-NO", "nl-NL", "pl-PL", "pt-BR",
        "pt-PT", "ro-RO", "ru-RU", "sk-SK", "sv-SE", "ta-IN", "te-IN", "th-TH", "tr-TR", "uk-UA", "vi-VN", "yue-CN", "zh-CN",
        "zh-TW",
    ]

    static func json() -> String {
        JSONText.encode(document())
    }

    private static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }

    private static func response(_ description: String, _ schema: String? = nil) -> [String: Any] {
        var r: [String: Any] = ["description": description]
        if let schema { r["content"] = ["application/json": ["schema": ref(schema)]] }
        return r
    }

    /// The error answers every call operation can give.
    private static func errors(_ codes: [Int]) -> [String: Any] {
        let titles = [
            400: "The request failed validation (each bad field named)", 401: "No valid application JWT",
            403: "The websocket host is not in api.allowed_websocket_hosts", 404: "No such call for this application",
            405: "The path does not take this method", 409: "The call is not streaming (completed, failed, or still dialling)",
            413: "The body is over 64 KiB", 422: "The action cannot apply (an echo leg; a stream that is not audio)",
            429: "Over api.requests_per_second: wait Retry-After seconds", 503: "Speech synthesis is unavailable",
        ]
        var out: [String: Any] = [:]
        for code in codes { out["\(code)"] = response(titles[code] ?? "Error", "Error") }
        return out
    }

    private static var uuidParameter: [String: Any] {
        [
            "name": "uuid", "in": "path", "required": true, "description": "The call's (leg's) UUID",
            "schema": ["type": "string"],
        ]
    }

    private static var fileParameter: [String: Any] {
        [
            "name": "id", "in": "path", "required": true, "description": "The recording's id (the last part of its recording_url)",
            "schema": ["type": "string"],
        ]
    }

    private static func fileErrors(_ codes: [Int]) -> [String: Any] {
        var out = errors(codes.filter { $0 != 404 })
        if codes.contains(404) {
            out["404"] = response("No such recording for this application (or still recording, or failed)", "Error")
        }
        return out
    }

    /// `GET` (or `HEAD`) of a recording's file, whole or one byte range.
    private static func fileOperation(head: Bool) -> [String: Any] {
        let audio: [String: Any] = ["schema": ["type": "string", "format": "binary"]]
        let content = head ? [:] : ["audio/mpeg": audio, "audio/wav": audio, "audio/ogg": audio]
        func answer(_ description: String) -> [String: Any] {
            var r: [String: Any] = ["description": description]
            if !content.isEmpty { r["content"] = content }
            return r
        }
        return [
            "summary": head ? "A recording's size and type" : "Download a recording (mp3, wav or Ogg Opus)",
            "parameters": [
                fileParameter,
                [
                    "name": "Range", "in": "header", "required": false, "description": "One range: bytes=a-b, bytes=a- or bytes=-n",
                    "schema": ["type": "string"],
                ],
            ],
            "responses": [
                "200": answer("The whole file"), "206": answer("The range asked for (content-range says which)"),
                "416": response("The range is not within the file (content-range: bytes */size)", "Error"),
            ].merging(fileErrors([401, 404, 429])) { a, _ in a },
        ]
    }

    private static func body(_ schema: String) -> [String: Any] {
        ["required": true, "content": ["application/json": ["schema": ref(schema)]]]
    }

    private static func message(_ summary: String, _ request: String?) -> [String: Any] {
        var operation: [String: Any] = [
            "summary": summary, "parameters": [uuidParameter],
            "responses": ["200": response("Done", "CallMessage")].merging(errors([400, 401, 404, 409, 413, 422, 429, 503])) { a, _ in a },
        ]
        if let request { operation["requestBody"] = body(request) }
        return operation
    }

    static func document() -> [String: Any] {
        let level: [String: Any] = ["type": "number", "minimum": -1, "maximum": 1, "default": 0]
        let loop: [String: Any] = ["type": "integer", "minimum": 0, "maximum": 1000, "default": 1, "description": "0: forever"]
        let talkFields: [String: Any] = [
            "text": ["type": "string", "minLength": 1, "maxLength": SpeechSynthesizer.maximumTextCharacters, "pattern": "\\S"],
            "language": ["type": "string", "enum": languages(), "default": "en-US"],
            "style": ["type": "integer", "minimum": 0, "maximum": SpeechSynthesizer.styles.count - 1, "default": 0],
            "premium": ["type": "boolean"], "loop": loop, "level": level,
        ]
        let streamURL: [String: Any] = [
            "type": "array", "minItems": 1, "maxItems": 1,
            "items": ["type": "string", "maxLength": 2048, "pattern": FieldReader.urlPattern(schemes: "https?")],
        ]
        let endpoint: [String: Any] = [
            "type": "object", "required": ["type", "uri"],
            "properties": [
                "type": ["type": "string", "enum": ["websocket"]],
                "uri": ["type": "string", "maxLength": 2048, "pattern": FieldReader.urlPattern(schemes: "wss?")],
                "content-type": ["type": "string", "enum": ["audio/l16;rate=8000", "audio/l16;rate=16000", "audio/l16;rate=24000"]],
                "headers": [
                    "type": "object", "maxProperties": 8, "description": "Sent in websocket:connected (not event or content-type)",
                    "additionalProperties": ["type": "string", "maxLength": 200],
                ],
            ],
        ]
        let recordFields: [String: Any] = [
            "action": ["type": "string", "enum": ["record"]],
            "format": ["type": "string", "enum": NCCOAction.Record.Format.allCases.map(\.rawValue), "default": "mp3"],
            "endOnSilence": ["type": "number", "minimum": 3, "maximum": 10, "description": "Seconds of silence on the leg"],
            "endOnKey": ["type": "string", "pattern": "^[0-9*#]$"],
            "timeOut": ["type": "number", "minimum": 3, "maximum": 7200, "default": 7200],
            "beepStart": ["type": "boolean", "default": false],
            "eventUrl": [
                "type": "array", "minItems": 1, "maxItems": 1,
                "items": ["type": "string", "maxLength": 2048, "pattern": FieldReader.urlPattern(schemes: "https?")],
            ],
            "eventMethod": ["type": "string", "enum": ["GET", "POST"]],
        ]
        let nccoAction: [String: Any] = [
            "oneOf": [
                [
                    "type": "object", "required": ["action", "name"],
                    "properties": [
                        "action": ["type": "string", "enum": ["conversation"]], "name": ["type": "string", "minLength": 1, "maxLength": 256],
                    ],
                ],
                [
                    "type": "object", "required": ["action", "text"],
                    "properties": talkFields.merging(["action": ["type": "string", "enum": ["talk"]]]) { a, _ in a },
                ],
                [
                    "type": "object", "required": ["action", "streamUrl"],
                    "properties": ["action": ["type": "string", "enum": ["stream"]], "streamUrl": streamURL, "loop": loop, "level": level],
                ],
                [
                    "type": "object", "required": ["action", "endpoint"],
                    "properties": [
                        "action": ["type": "string", "enum": ["connect"]],
                        "endpoint": ["type": "array", "minItems": 1, "maxItems": 8, "items": endpoint],
                    ],
                ],
                // record: one channel without split; 2 to 32 with it.
                [
                    "type": "object", "required": ["action"], "not": ["required": ["split"]],
                    "properties": recordFields.merging(["channels": ["type": "integer", "enum": [1]]]) { a, _ in a },
                ],
                [
                    "type": "object", "required": ["action", "split"],
                    "properties": recordFields.merging([
                        "split": ["type": "string", "enum": ["conversation"]],
                        "channels": ["type": "integer", "minimum": 2, "maximum": 32, "default": 2],
                    ]) { a, _ in a },
                ],
            ]
        ]
        let endpointObject: [String: Any] = [
            "type": "object", "required": ["type"],
            "properties": [
                "type": ["type": "string", "enum": ["phone", "sip", "websocket"]], "number": ["type": "string"],
                "uri": ["type": "string"], "content-type": ["type": "string"],
            ],
        ]
        let link: [String: Any] = ["type": "object", "required": ["href"], "properties": ["href": ["type": "string"]]]
        let schemas: [String: Any] = [
            "Error": [
                "type": "object", "required": ["type", "title", "detail"],
                "properties": [
                    "type": ["type": "string"], "title": ["type": "string"], "detail": ["type": "string"],
                    "invalid_parameters": [
                        "type": "array",
                        "items": [
                            "type": "object", "required": ["name", "reason"],
                            "properties": ["name": ["type": "string"], "reason": ["type": "string"]],
                        ],
                    ],
                ],
            ],
            "Call": [
                "type": "object",
                "required": ["uuid", "conversation_uuid", "to", "from", "status", "direction", "start_time", "_links"],
                "properties": [
                    "uuid": ["type": "string", "format": "uuid"], "conversation_uuid": ["type": "string", "pattern": "^CON-"],
                    "to": endpointObject, "from": endpointObject,
                    "status": ["type": "string", "enum": ["started", "answered", "completed", "failed"]],
                    "direction": ["type": "string", "enum": ["inbound", "outbound"]],
                    "start_time": ["type": "string", "format": "date-time"], "end_time": ["type": "string", "format": "date-time"],
                    "duration": ["type": "string", "pattern": "^[0-9]+$"],
                    "_links": ["type": "object", "required": ["self"], "properties": ["self": link]],
                    "recordings": ["type": "array", "items": ref("Recording")],
                ],
            ],
            "CallList": [
                "type": "object", "required": ["count", "page_size", "record_index", "_links", "_embedded"],
                "properties": [
                    "count": ["type": "integer", "minimum": 0], "page_size": ["type": "integer", "minimum": 1, "maximum": 100],
                    "record_index": ["type": "integer", "minimum": 0],
                    "_links": [
                        "type": "object", "required": ["self", "first"],
                        "properties": ["self": link, "first": link, "next": link, "prev": link],
                    ],
                    "_embedded": [
                        "type": "object", "required": ["calls"], "properties": ["calls": ["type": "array", "items": ref("Call")]],
                    ],
                ],
            ],
            "Recording": [
                "type": "object", "required": ["recording_uuid", "status", "format", "channels", "start_time"],
                "properties": [
                    "recording_uuid": ["type": "string", "format": "uuid"],
                    "status": ["type": "string", "enum": ["recording", "completed", "failed"]],
                    "format": ["type": "string", "enum": NCCOAction.Record.Format.allCases.map(\.rawValue)],
                    "channels": ["type": "integer", "minimum": 1, "maximum": 32],
                    "start_time": ["type": "string", "format": "date-time"], "end_time": ["type": "string", "format": "date-time"],
                    "size": ["type": "integer", "minimum": 0], "recording_url": ["type": "string"],
                    "error": ["type": "string", "description": "Why it failed, or what a finished recording lost"],
                ],
            ],
            "Timeline": [
                "type": "object", "required": ["recording_uuid", "sample_rate", "channels", "start_time", "events"],
                "properties": [
                    "recording_uuid": ["type": "string", "format": "uuid"], "sample_rate": ["type": "integer"],
                    "channels": ["type": "integer"], "start_time": ["type": "string", "format": "date-time"],
                    "events": [
                        "type": "array",
                        "items": [
                            "type": "object", "required": ["type", "time", "offset"],
                            "properties": [
                                "type": ["type": "string"],
                                "time": ["type": "number", "description": "Seconds from the recording's start"],
                                "offset": ["type": "integer", "description": "Sample offset in the file"],
                                "leg": ["type": "string"],
                            ],
                        ],
                    ],
                ],
            ],
            "CallMessage": [
                "type": "object", "required": ["message", "uuid"],
                "properties": ["message": ["type": "string"], "uuid": ["type": "string"]],
            ],
            "ModifyCall": [
                "oneOf": [
                    [
                        "type": "object", "required": ["action"],
                        "properties": ["action": ["type": "string", "enum": ["hangup", "mute", "unmute", "earmuff", "unearmuff"]]],
                    ],
                    [
                        "type": "object", "required": ["action", "destination"],
                        "properties": [
                            "action": ["type": "string", "enum": ["transfer"]],
                            "destination": [
                                "type": "object", "required": ["type", "ncco"],
                                "properties": [
                                    "type": ["type": "string", "enum": ["ncco"]],
                                    "ncco": ["type": "array", "minItems": 1, "items": nccoAction],
                                ],
                            ],
                        ],
                    ],
                ]
            ],
            "StartStream": [
                "type": "object", "required": ["stream_url"], "properties": ["stream_url": streamURL, "loop": loop, "level": level],
            ],
            "StartTalk": ["type": "object", "required": ["text"], "properties": talkFields],
            "CreateCall": [
                "type": "object", "required": ["to", "ncco"],
                "properties": [
                    "to": ["type": "array", "minItems": 1, "maxItems": 1, "items": endpoint],
                    "from": [
                        "oneOf": [
                            [
                                "type": "object", "required": ["type", "number"],
                                "properties": ["type": ["type": "string", "enum": ["phone"]], "number": ["type": "string", "maxLength": 64]],
                            ],
                            [
                                "type": "object", "required": ["type", "uri"],
                                "properties": ["type": ["type": "string", "enum": ["sip"]], "uri": ["type": "string", "maxLength": 256]],
                            ],
                        ]
                    ],
                    "ncco": ["type": "array", "minItems": 1, "items": nccoAction],
                ],
            ],
            "CreatedCall": [
                "type": "object", "required": ["uuid", "status", "direction", "conversation_uuid"],
                "properties": [
                    "uuid": ["type": "string", "format": "uuid"], "status": ["type": "string", "enum": ["started"]],
                    "direction": ["type": "string", "enum": ["outbound"]], "conversation_uuid": ["type": "string", "pattern": "^CON-"],
                ],
            ],
            "SendDTMF": [
                "type": "object", "required": ["digits"],
                "properties": ["digits": ["type": "string", "pattern": "^[0-9*#p]{1,100}$"]],
            ],
        ]
        let statuses = ["started", "answered", "completed", "failed"]
        let list: [String: Any] = [
            "summary": "The application's calls (legs), paged",
            "parameters": [
                ["name": "page_size", "in": "query", "schema": ["type": "integer", "minimum": 1, "maximum": 100, "default": 10]],
                ["name": "record_index", "in": "query", "schema": ["type": "integer", "minimum": 0, "default": 0]],
                ["name": "order", "in": "query", "schema": ["type": "string", "enum": ["asc", "desc"]]],
                ["name": "status", "in": "query", "schema": ["type": "string", "enum": statuses]],
                ["name": "date_start", "in": "query", "schema": ["type": "string", "format": "date-time"]],
                ["name": "date_end", "in": "query", "schema": ["type": "string", "format": "date-time"]],
                [
                    "name": "conversation_uuid", "in": "query",
                    "schema": ["type": "string", "pattern": "^(CON-)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"],
                ],
            ],
            "responses": ["200": response("A page of calls", "CallList")].merging(errors([400, 401, 429])) { a, _ in a },
        ]
        return [
            "openapi": "3.0.3",
            "info": [
                "title": "Patchbay control API", "version": "1",
                "description": "The Voice API's /v1/calls, for Patchbay's websocket legs. Every operation takes an application's RS256 JWT.",
            ],
            "components": [
                "schemas": schemas,
                "securitySchemes": ["bearerAuth": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
            ],
            "security": [["bearerAuth": [String]()]],
            "paths": [
                "/v1/calls": [
                    "get": list,
                    "post": [
                        "summary": "Dial a websocket service as a new leg and run the NCCO on it (conversation, talk, stream, connect)",
                        "requestBody": body("CreateCall"),
                        "responses": ["201": response("Dialling", "CreatedCall")].merging(errors([400, 401, 403, 413, 429, 503])) { a, _ in a },
                    ],
                ],
                "/v1/calls/{uuid}": [
                    "get": [
                        "summary": "One call", "parameters": [uuidParameter],
                        "responses": ["200": response("The call", "Call")].merging(errors([401, 404, 429])) { a, _ in a },
                    ],
                    "put": [
                        "summary": "Hang up, mute, unmute, earmuff, unearmuff or transfer a live call", "parameters": [uuidParameter],
                        "requestBody": body("ModifyCall"),
                        "responses": ["204": ["description": "Done"]].merging(errors([400, 401, 403, 404, 409, 413, 422, 429, 503])) { a, _ in a },
                    ],
                ],
                "/v1/calls/{uuid}/stream": [
                    "put": message("Play an mp3 or wav into the call (replacing any stream playing)", "StartStream"),
                    "delete": message("Stop the stream", nil),
                ],
                "/v1/calls/{uuid}/talk": [
                    "put": message("Speak text into the call (espeak-ng)", "StartTalk"),
                    "delete": message("Stop the speech", nil),
                ],
                "/v1/calls/{uuid}/dtmf": ["put": message("Play DTMF digits into the call", "SendDTMF")],
                "/v1/files/{id}": [
                    "get": fileOperation(head: false), "head": fileOperation(head: true),
                    "delete": [
                        "summary": "Remove a recording (its file, timeline and row)", "parameters": [fileParameter],
                        "responses": ["204": ["description": "Removed"]].merging(fileErrors([401, 404, 429])) { a, _ in a },
                    ],
                ],
                "/v1/files/{id}/timeline": [
                    "get": [
                        "summary": "A recording's timeline: its events at their sample offsets", "parameters": [fileParameter],
                        "responses": ["200": response("The timeline", "Timeline")].merging(fileErrors([401, 404, 429])) { a, _ in a },
                    ]
                ],
            ],
        ]
    }
}
