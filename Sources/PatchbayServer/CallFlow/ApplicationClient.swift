import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PatchbayVoiceAPI

/// The requests whose answers steer a call: the `answer_url` a leg's NCCO comes from, and the events of
/// `input`, `notify` and a synchronous `connect`, whose answer may be an NCCO. Signed as the webhooks are
/// (`Authorization: Bearer <JWT>` with the application's `signature_secret`, when it has one). Off the
/// media path: one HTTP client on the gateway's event loops; answers are at most 64 KiB, redirects are
/// followed three times at most and never in a loop.
final class ApplicationClient: Sendable {
    /// Who signs a request.
    struct Signer: Sendable {
        let applicationID: String
        let secret: String
    }

    /// Where an NCCO is asked for: a route's `answer_url` and its fallback.
    struct AnswerSource: Sendable {
        let url: String
        let method: NCCOAction.EventTarget.Method
        let fallbackURL: String?
        let timeout: Duration
    }

    /// Why an attempt failed, and whether the Voice API's rule tries it again.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// A closed connection, a timeout, 429, 503 or 504.
        let retryable: Bool
    }

    static let maximumAnswerBytes = 64 * 1024

    private let client: HTTPClient
    private let logger: Logger

    init(group: any EventLoopGroup, logger: Logger) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .follow(max: 3, allowCycles: false))
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        self.logger = logger
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    /// The leg's NCCO, by the Voice API's rule: the `answer_url` is tried twice when the failure is one
    /// worth retrying (a closed connection, a timeout, 429, 503, 504) and once otherwise (another status,
    /// an answer that is not a valid NCCO), then the `fallback_answer_url` the same way with `reason` and
    /// `original_request` added. Nil with the last reason when none gave an NCCO.
    func answer(
        from source: AnswerSource, fields: [String: String], signer: Signer?, read: @Sendable ([UInt8]) -> Result<[NCCOAction], Failure>
    ) async -> Result<[NCCOAction], Failure> {
        var failure = Failure(description: "no answer_url", retryable: false)
        primary: for attempt in 1...2 {
            switch await fetchNCCO(
                source.url, method: source.method, fields: fields.mapValues { .string($0) }, timeout: source.timeout, signer: signer, read: read)
            {
            case .success(let ncco): return .success(ncco)
            case .failure(let f):
                failure = Failure(description: "answer_url: \(f.description)", retryable: f.retryable)
                logger.notice("answer_url failed", metadata: ["url": "\(source.url)", "attempt": "\(attempt)", "reason": "\(f.description)"])
                if !f.retryable { break primary }
            }
        }
        guard let fallback = source.fallbackURL else { return .failure(failure) }
        var fallbackFields = fields.mapValues { JSONValue.string($0) }
        fallbackFields["reason"] = .string(failure.description)
        fallbackFields["original_request"] = .object(["url": .string(source.url), "type": .string(source.method.rawValue)])
        for attempt in 1...2 {
            switch await fetchNCCO(fallback, method: source.method, fields: fallbackFields, timeout: source.timeout, signer: signer, read: read) {
            case .success(let ncco): return .success(ncco)
            case .failure(let f):
                failure = Failure(description: "\(failure.description); fallback_answer_url: \(f.description)", retryable: f.retryable)
                logger.notice("fallback_answer_url failed", metadata: ["url": "\(fallback)", "attempt": "\(attempt)", "reason": "\(f.description)"])
                if !f.retryable { return .failure(failure) }
            }
        }
        return .failure(failure)
    }

    /// Sends an event whose answer may be an NCCO (`input`, `notify`, a synchronous `connect`'s end):
    /// twice when the failure is worth retrying. Nil when the answer is empty (or not an array: the NCCO
    /// goes on), or when no answer came (logged).
    func event(
        _ body: [String: JSONValue], to target: NCCOAction.EventTarget, timeout: Duration, signer: Signer?,
        read: @Sendable ([UInt8]) -> Result<[NCCOAction], Failure>
    ) async -> [NCCOAction]? {
        for attempt in 1...2 {
            let result = await request(target.url, method: target.method, json: body, timeout: timeout, signer: signer)
            switch result {
            case .success(let bytes):
                let text = bytes.drop { $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }
                guard text.first == UInt8(ascii: "[") else { return nil }  // empty, or not an NCCO: go on
                switch read(bytes) {
                case .success(let ncco): return ncco
                case .failure(let f):
                    logger.warning(
                        "an event's answer is not a valid NCCO: the NCCO goes on", metadata: ["url": "\(target.url)", "reason": "\(f.description)"])
                    return nil
                }
            case .failure(let f):
                logger.notice("event request failed", metadata: ["url": "\(target.url)", "attempt": "\(attempt)", "reason": "\(f.description)"])
                if !f.retryable { return nil }
            }
        }
        return nil
    }

    private func fetchNCCO(
        _ url: String, method: NCCOAction.EventTarget.Method, fields: [String: JSONValue], timeout: Duration, signer: Signer?,
        read: @Sendable ([UInt8]) -> Result<[NCCOAction], Failure>
    ) async -> Result<[NCCOAction], Failure> {
        switch await request(url, method: method, json: fields, timeout: timeout, signer: signer) {
        case .success(let bytes): return read(bytes)
        case .failure(let f): return .failure(f)
        }
    }

    /// One request: the fields as a query (GET) or a JSON body (POST); the body of a 2xx answer.
    private func request(
        _ url: String, method: NCCOAction.EventTarget.Method, json fields: [String: JSONValue], timeout: Duration, signer: Signer?
    ) async -> Result<[UInt8], Failure> {
        var body: [UInt8] = []
        var target = url
        if method == .get {
            guard var components = URLComponents(string: url) else { return .failure(Failure(description: "not a URL", retryable: false)) }
            var items = components.queryItems ?? []
            for key in fields.keys.sorted() {
                let value = fields[key]!
                if case .string(let text) = value {
                    items.append(URLQueryItem(name: key, value: text))
                } else {
                    items.append(URLQueryItem(name: key, value: JSONText.encode(value)))
                }
            }
            components.queryItems = items
            target = components.string ?? url
        } else {
            body = Array(JSONText.encode(JSONValue.object(fields)).utf8)
        }
        var request = HTTPClientRequest(url: target)
        request.method = method == .get ? .GET : .POST
        request.headers.add(name: "user-agent", value: "Patchbay")
        request.headers.add(name: "accept", value: "application/json")
        if method == .post {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if let signer {
            request.headers.add(
                name: "authorization", value: "Bearer " + EventWebhooks.signature(of: body, application: signer.applicationID, secret: signer.secret))
        }
        let amount = TimeAmount(timeout)
        do {
            let response = try await client.execute(request, deadline: .now() + amount)
            switch response.status.code {
            case 200..<300:
                do {
                    let collected = try await response.body.collect(upTo: Self.maximumAnswerBytes)
                    return .success(Array(buffer: collected))
                } catch is NIOTooManyBytesError {
                    return .failure(Failure(description: "the answer is larger than \(Self.maximumAnswerBytes / 1024) KiB", retryable: false))
                }
            case 429, 503, 504:
                return .failure(Failure(description: "answered \(response.status.code)", retryable: true))
            default:
                return .failure(Failure(description: "answered \(response.status.code)", retryable: false))
            }
        } catch let error as HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout:
                return .failure(Failure(description: "no answer within \(timeout)", retryable: true))
            case .redirectCycleDetected, .redirectLimitReached:
                return .failure(Failure(description: "a redirect loop, or more than 3 redirects", retryable: false))
            case .remoteConnectionClosed:
                return .failure(Failure(description: "the connection was closed", retryable: true))
            default:
                return .failure(Failure(description: "\(error)", retryable: true))
            }
        } catch {
            return .failure(Failure(description: "\(error)", retryable: true))
        }
    }

    /// Reads an answer as an NCCO with `rules`: a JSON array of action objects, every bad field named.
    static func readNCCO(_ bytes: [UInt8], rules: NCCORules) -> Result<[NCCOAction], Failure> {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            return .failure(Failure(description: "the answer is not JSON", retryable: false))
        }
        guard case .array(let items) = value else {
            return .failure(Failure(description: "the answer is not an NCCO (a JSON array)", retryable: false))
        }
        do {
            return .success(try CallRequest.ncco(.array(items), rules: rules))
        } catch {
            return .failure(Failure(description: "invalid NCCO: \(error)", retryable: false))
        }
    }
}
