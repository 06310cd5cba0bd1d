import Foundation

/// A speech or AI service Patchbay dials for a call: the Voice API's NCCO websocket endpoint
/// (`type`, `uri`, `content-type`, `headers`, `authorization`), with what Patchbay adds — the protocol to
/// speak, the failure policy, the playout buffer and TLS. The same object a route's `connect` lists.
public struct WebSocketEndpoint: Sendable, Equatable, Codable {
    /// How Patchbay talks to the service.
    public enum ServiceProtocol: String, Sendable, Codable, CaseIterable {
        /// The Voice API's own websocket protocol, from the Voice API's side: any service built for the
        /// Voice API works unchanged.
        case voiceAPI = "voice-api"
    }

    /// The `Authorization` header of the upgrade.
    public struct Authorization: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable {
            /// `value` is sent as the header, as it is.
            case custom
            /// A bearer JWT signed as the Voice API signs its own (HS256 with `auth.jwt_secret`).
            case vonage
        }

        public var type: Kind
        public var value: String?

        public init(type: Kind, value: String? = nil) {
            self.type = type
            self.value = value
        }
    }

    /// What happens to the caller when the service cannot be reached (or is lost for good).
    public enum OnFailure: String, Sendable, Codable {
        /// The caller stays: it hears silence, or the route's stream.
        case `continue`
        /// The caller is hung up.
        case hangup
    }

    public var type: String
    /// `ws://` or `wss://`.
    public var uri: String
    /// `audio/l16;rate=8000`, `16000`, `24000` or `48000`.
    public var contentType: String
    /// Flattened into the `websocket:connected` Patchbay sends. String values may name fields of the
    /// caller's own `websocket:connected` as `{caller.NAME}` (an absent field becomes empty).
    public var headers: [String: JSONValue]
    public var authorization: Authorization?
    public var `protocol`: ServiceProtocol
    /// How long one attempt to connect (TCP, TLS and the upgrade) may take, in seconds.
    public var connectTimeout: Double
    /// Attempts are retried, with backoff and jitter, until this long after the first (0: no retry).
    public var retryDeadline: Double
    /// Dial again when the service drops the connection mid-call (within `retry_deadline` again).
    public var reconnect: Bool
    public var onFailure: OnFailure
    /// The most audio the service may send ahead of playout, in 20 ms frames (the Voice API's 3072 ≈ 60 s
    /// by default); what overflows is dropped and counted.
    public var playoutBufferFrames: Int
    /// Verify the service's TLS certificate (`wss://`).
    public var tlsVerify: Bool
    /// A PEM bundle of the certificate authorities to trust for `wss://` instead of the system's.
    public var caFile: String?

    public init(uri: String, contentType: String = "audio/l16;rate=16000") {
        type = "websocket"
        self.uri = uri
        self.contentType = contentType
        headers = [:]
        authorization = nil
        self.protocol = .voiceAPI
        connectTimeout = 5
        retryDeadline = 10
        reconnect = true
        onFailure = .continue
        playoutBufferFrames = 3072
        tlsVerify = true
        caFile = nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, uri, headers, authorization, reconnect
        case contentType = "content-type"
        case `protocol`
        case connectTimeout = "connect_timeout"
        case retryDeadline = "retry_deadline"
        case onFailure = "on_failure"
        case playoutBufferFrames = "playout_buffer_frames"
        case tlsVerify = "tls_verify"
        case caFile = "ca_file"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var e = WebSocketEndpoint(uri: try c.decode(String.self, forKey: .uri))
        e.type = try c.decodeIfPresent(String.self, forKey: .type) ?? e.type
        e.contentType = try c.decodeIfPresent(String.self, forKey: .contentType) ?? e.contentType
        e.headers = try c.decodeIfPresent([String: JSONValue].self, forKey: .headers) ?? e.headers
        e.authorization = try c.decodeIfPresent(Authorization.self, forKey: .authorization)
        e.protocol = try c.decodeIfPresent(ServiceProtocol.self, forKey: .protocol) ?? e.protocol
        e.connectTimeout = try c.decodeIfPresent(Double.self, forKey: .connectTimeout) ?? e.connectTimeout
        e.retryDeadline = try c.decodeIfPresent(Double.self, forKey: .retryDeadline) ?? e.retryDeadline
        e.reconnect = try c.decodeIfPresent(Bool.self, forKey: .reconnect) ?? e.reconnect
        e.onFailure = try c.decodeIfPresent(OnFailure.self, forKey: .onFailure) ?? e.onFailure
        e.playoutBufferFrames = try c.decodeIfPresent(Int.self, forKey: .playoutBufferFrames) ?? e.playoutBufferFrames
        e.tlsVerify = try c.decodeIfPresent(Bool.self, forKey: .tlsVerify) ?? e.tlsVerify
        e.caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        self = e
    }

    /// The keys an endpoint object may hold.
    static let knownKeys = Set(CodingKeys.allCases.map(\.stringValue))

    /// The audio rate the content type names.
    public var sampleRate: Int? {
        let parts = contentType.lowercased().split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first == "audio/l16", parts.count == 2, parts[1].hasPrefix("rate="),
            let rate = Int(parts[1].dropFirst(5)), [8000, 16000, 24000, 48000].contains(rate)
        else { return nil }
        return rate
    }

    /// Checks every field, naming the first that is wrong (`at` says where the endpoint is).
    public func validate(at place: String, jwtSecret: String?) throws(ConfigurationError) {
        guard type == "websocket" else { throw ConfigurationError("\(place).type must be \"websocket\" (got \"\(type)\")") }
        guard let url = URL(string: uri), ["ws", "wss"].contains(url.scheme?.lowercased() ?? ""), let host = url.host,
            !host.isEmpty
        else {
            throw ConfigurationError("\(place).uri must be a ws:// or wss:// URL (got \"\(uri)\")")
        }
        guard sampleRate != nil else {
            throw ConfigurationError(
                "\(place).content-type must be audio/l16;rate=8000, 16000, 24000 or 48000 (got \"\(contentType)\")")
        }
        for key in headers.keys where ["event", "content-type"].contains(key) {
            throw ConfigurationError("\(place).headers must not set \"\(key)\" (Patchbay sends it)")
        }
        if let data = try? JSONEncoder().encode(headers), data.count > 4096 {
            throw ConfigurationError("\(place).headers must be at most 4096 bytes of JSON (got \(data.count))")
        }
        switch authorization?.type {
        case .custom?:
            guard let value = authorization?.value, !value.isEmpty, !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                throw ConfigurationError("\(place).authorization.value must be a non-empty header value for type custom")
            }
        case .vonage?:
            guard jwtSecret != nil else {
                throw ConfigurationError("\(place).authorization type vonage signs with auth.jwt_secret: set it")
            }
        case nil:
            break
        }
        for (name, value, range) in [
            ("connect_timeout", connectTimeout, 0.1...600.0), ("retry_deadline", retryDeadline, 0.0...3600.0),
        ] where !range.contains(value) {
            throw ConfigurationError("\(place).\(name) must be \(range.lowerBound)...\(range.upperBound) seconds (got \(value))")
        }
        guard (50...100_000).contains(playoutBufferFrames) else {
            throw ConfigurationError("\(place).playout_buffer_frames must be 50...100000 (got \(playoutBufferFrames))")
        }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ConfigurationError("\(place).ca_file \(caFile) does not exist or cannot be read")
        }
    }

    /// The `websocket:connected` message for this endpoint: the content type, then the headers with
    /// `{caller.NAME}` replaced by the caller's own fields.
    func connectedMessage(caller: [String: String]) -> String {
        var object: [String: Any] = [:]
        for (key, value) in headers {
            object[key] = value.mapStrings { Self.substitute($0, caller: caller) }.foundationObject
        }
        object["event"] = "websocket:connected"
        object["content-type"] = contentType
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `text` with every `{caller.NAME}` replaced by the caller's field NAME (empty when it has none).
    static func substitute(_ text: String, caller: [String: String]) -> String {
        guard text.contains("{caller.") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{caller.") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                rest = rest[open.lowerBound...]
                break
            }
            out += caller[String(rest[open.upperBound..<close])] ?? ""
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
