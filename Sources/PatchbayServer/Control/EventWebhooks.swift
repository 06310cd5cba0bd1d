import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PatchbayEngine
import PatchbayRecords
import Synchronization

/// Every application's events, POSTed as JSON to its `event_url` and signed as the Voice API signs its
/// webhooks: `Authorization: Bearer <JWT>`, HS256 with the application's `signature_secret`, claims
/// `iat`, `jti`, `iss`, `application_id` and `payload_hash` (the SHA-256 of the body, hex).
///
/// Nothing here touches the media path: events are built from the engine's event stream (one task)
/// and the call records, queued per application (`WebhookQueue`: bounded, in order per call), and
/// delivered by a few workers per application over HTTP/1.1 keep-alive, retried with backoff for
/// `retry_seconds`. A full queue drops the new event; every drop is counted by reason and logged.
final class EventWebhooks: Sendable {
    struct Target: Sendable {
        let applicationID: String
        let url: String
        let secret: String
        let queue: WebhookQueue
    }

    let targets: [String: Target]
    private let settings: ServerConfiguration.API.Webhooks
    /// Made by `start` and shut down by `shutdown` (an HTTP client must be shut down before it goes).
    private let client = Mutex<HTTPClient?>(nil)
    private let clientConfiguration: HTTPClient.Configuration
    private let metrics: ServerMetrics
    private let logger: Logger
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// The record of every leg of an application with an `event_url`, from the moment it is recorded
    /// (before the engine's first event about it) until its end: the forwarder reads it there, never
    /// from the ledger later (a leg that ends at once is gone from the ledger by the time its
    /// `legStarted` is forwarded).
    private let known = Mutex<[UUID: CallRecord]>([:])
    private let dropsLogged = Atomic<Int>(0)

    /// Nil when no application has an `event_url`.
    init?(api: ServerConfiguration.API, metrics: ServerMetrics, logger: Logger) {
        var targets: [String: Target] = [:]
        for app in api.applications {
            guard let url = app.eventURL, let secret = app.signatureSecret else { continue }
            targets[app.applicationID] = Target(
                applicationID: app.applicationID, url: url, secret: secret, queue: WebhookQueue(limit: api.webhooks.queueLimit))
        }
        guard !targets.isEmpty else { return nil }
        self.targets = targets
        settings = api.webhooks
        self.metrics = metrics
        self.logger = logger
        let timeout = TimeAmount.milliseconds(Int64(api.webhooks.timeoutSeconds * 1000))
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: timeout, read: timeout))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: api.webhooks.concurrency)
        clientConfiguration = configuration
    }

    // MARK: Events in

    /// Queues an event about `call` for `application` (nothing when it has no `event_url`): the Voice
    /// API's common fields are added (`timestamp` in its format).
    func send(application: String?, call: UUID, timestamp: Date, _ fields: [String: Any]) {
        guard let application, let target = targets[application] else { return }
        var object = fields
        object["timestamp"] = ControlAPI.formatDate(timestamp)
        let event = WebhookQueue.Event(call: call, body: Array(JSONText.encode(object).utf8), queued: .now)
        guard target.queue.enqueue(event) else {
            drop("queue_full", application: application, call: call, detail: "the queue holds \(target.queue.limit) events")
            return
        }
    }

    /// The ledger recorded a leg, or changed its record (a transfer): called before the engine
    /// publishes anything about the change.
    func track(_ record: CallRecord) {
        guard let application = record.applicationID, targets[application] != nil else { return }
        known.withLock { $0[record.uuid] = record }
    }

    /// A leg that never joined the engine has ended (a service that could not be reached).
    func forget(_ id: UUID) {
        _ = known.withLock { $0.removeValue(forKey: id) }
    }

    /// The fields every event about a leg carries.
    static func legFields(_ record: CallRecord) -> [String: Any] {
        [
            "uuid": record.uuid.uuidString.lowercased(), "conversation_uuid": "CON-" + record.conversationUUID.uuidString.lowercased(),
            "direction": record.direction.rawValue, "from": endpointText(record.from), "to": endpointText(record.to),
        ]
    }

    /// A call status event (`started`, `answered`, `completed`, `failed`) from its record.
    func status(_ status: String, of record: CallRecord, at time: Date, detail: String? = nil) {
        var fields = Self.legFields(record)
        fields["status"] = status
        fields["start_time"] = ControlAPI.formatDate(record.startTime)
        if status == "completed" || status == "failed" {
            let end = record.endTime ?? time
            fields["end_time"] = ControlAPI.formatDate(end)
            fields["duration"] = "\(record.duration(now: end) ?? 0)"
            fields["rate"] = "0.00"
            fields["price"] = "0.00"
            if let detail { fields["detail"] = detail }
        }
        send(application: record.applicationID, call: record.uuid, timestamp: time, fields)
    }

    /// An endpoint (JSON, as recorded) as the Voice API's events write it: a number or a URI.
    static func endpointText(_ json: String) -> String {
        let fields = (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
        return fields["number"] ?? fields["uri"] ?? ""
    }

    // MARK: The engine's events

    /// Turns the engine's events into webhooks, in the order the engine published them (run as one
    /// task from the gateway's start). A leg's events go out between its `answered` (at `legStarted`,
    /// its first event) and its `completed` (at `legEnded`, its last).
    func forward(_ events: AsyncStream<EngineEvent>) async {
        // The record of each attached leg, as at its start (kept up to date through transfers).
        var legs: [UUID: CallRecord] = [:]
        for await event in events {
            let time = event.timestamp
            if case .legStarted = event.kind {
                guard var record = known.withLock({ $0[event.leg] }) else { continue }
                record.answerTime = record.answerTime ?? time
                legs[event.leg] = record
                if record.direction == .inbound { status("started", of: record, at: time) }
                status("answered", of: record, at: time)
                continue
            }
            guard var record = legs[event.leg] else { continue }
            var fields = Self.legFields(record)
            switch event.kind {
            case .legStarted:
                continue
            case .legEnded(_, let reason):
                legs[event.leg] = nil
                forget(event.leg)
                record.endTime = time
                status("completed", of: record, at: time, detail: reason.description)
                continue
            case .transferred:
                let from = fields["conversation_uuid"]
                if let live = known.withLock({ $0[event.leg] }) {
                    record.conversationUUID = live.conversationUUID
                    record.conversationName = live.conversationName
                    legs[event.leg] = record
                }
                fields = Self.legFields(record)
                fields["type"] = "transfer"
                fields["conversation_uuid_from"] = from
                fields["conversation_uuid_to"] = fields["conversation_uuid"]
            case .dtmf(let digit, let duration, _, let detected):
                fields["type"] = "dtmf"
                fields["digit"] = String(digit)
                fields["duration"] = duration
                fields["detected"] = detected
            case .playerFinished(let player, let kind, let stopped):
                fields["type"] = "\(kind.rawValue):done"
                fields["player"] = player.uuidString.lowercased()
                fields["stopped"] = stopped
            case .playFailed(let kind, let source, let reason):
                fields["type"] = "\(kind.rawValue):failed"
                fields["stream_url"] = source
                fields["reason"] = reason
            case .notify(let payload):
                fields["type"] = "notify"
                fields["payload"] = Self.jsonObject(payload)
            case .cleared:
                fields["type"] = "cleared"
            case .message(let text):
                fields["type"] = "message"
                fields["message"] = Self.jsonObject(text)
            case .service(let service):
                switch service {
                case .attempt(let uri, let attempt):
                    fields["type"] = "service:attempt"
                    fields["service_uri"] = uri
                    fields["attempt"] = attempt
                case .connected(let uri, let attempt, let leg):
                    fields["type"] = "service:connected"
                    fields["service_uri"] = uri
                    fields["attempt"] = attempt
                    fields["service_uuid"] = leg.uuidString.lowercased()
                case .attemptFailed(let uri, let attempt, let reason, let retryIn):
                    fields["type"] = "service:attempt_failed"
                    fields["service_uri"] = uri
                    fields["attempt"] = attempt
                    fields["reason"] = reason
                    if let retryIn { fields["retry_in"] = retryIn }
                case .closed(let uri, let code, let reason):
                    fields["type"] = "service:closed"
                    fields["service_uri"] = uri
                    if let code { fields["code"] = Int(code) }
                    fields["reason"] = reason
                case .gaveUp(let uri, let reason, let hungUp):
                    fields["type"] = "service:failed"
                    fields["service_uri"] = uri
                    fields["reason"] = reason
                    fields["hung_up"] = hungUp
                }
            }
            send(application: record.applicationID, call: event.leg, timestamp: time, fields)
        }
    }

    /// A JSON object given as text, as an object (or the text itself when it is not one).
    private static func jsonObject(_ text: String) -> Any {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? text
    }

    // MARK: Delivery

    /// Starts the workers.
    func start() {
        let configuration = clientConfiguration
        let client = client.withLock { client in
            if client == nil { client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration) }
            return client!
        }
        var started: [Task<Void, Never>] = []
        for target in targets.values {
            for _ in 0..<settings.concurrency {
                started.append(
                    Task { [self] in
                        while let event = await target.queue.take() {
                            await deliver(event, to: target, with: client)
                            target.queue.done(event.call)
                        }
                    })
            }
        }
        tasks.withLock { $0 += started }
    }

    /// Delivers what is queued within `timeout` (the drain), then drops the rest and stops.
    func shutdown(within timeout: Duration) async {
        for target in targets.values { target.queue.close() }
        let running = tasks.withLock { $0 }
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for task in running { await task.value }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            if await group.next() == false {
                // Out of time: what is still queued is dropped, and deliveries in progress are cancelled.
                for target in targets.values {
                    let dropped = target.queue.discard()
                    guard dropped > 0 else { continue }
                    metrics.webhooksDropped("shutdown").increment(by: dropped)
                    logger.warning(
                        "events not delivered before the shutdown",
                        metadata: ["application": "\(target.applicationID)", "events": "\(dropped)"])
                }
                for task in running { task.cancel() }
            }
            group.cancelAll()
        }
        if let client = client.withLock({ $0 }) { try? await client.shutdown() }
    }

    private enum Outcome {
        case delivered
        case rejected(HTTPResponseStatus)
        case retry(String)
    }

    private func deliver(_ event: WebhookQueue.Event, to target: Target, with client: HTTPClient) async {
        let deadline = event.queued + .milliseconds(Int64(settings.retrySeconds * 1000))
        var attempt = 0
        while true {
            attempt += 1
            switch await post(event, to: target, with: client) {
            case .delivered:
                metrics.webhooksDelivered.increment()
                let (seconds, attoseconds) = (ContinuousClock.now - event.queued).components
                metrics.webhookDeliveryTime.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
                return
            case .rejected(let status):
                drop("rejected", application: target.applicationID, call: event.call, detail: "event_url answered \(status.code)")
                return
            case .retry(let reason):
                metrics.webhookAttemptsFailed.increment()
                let delay = Duration.milliseconds(min(30_000, 250 << min(attempt - 1, 7)))
                guard ContinuousClock.now + delay < deadline, !Task.isCancelled else {
                    drop("gave_up", application: target.applicationID, call: event.call, detail: "\(attempt) attempts: \(reason)")
                    return
                }
                if attempt == 1 {
                    logger.notice(
                        "event delivery failed, retrying",
                        metadata: ["application": "\(target.applicationID)", "call": "\(event.call)", "error": "\(reason)"])
                }
                try? await Task.sleep(for: delay)
            }
        }
    }

    private func post(_ event: WebhookQueue.Event, to target: Target, with client: HTTPClient) async -> Outcome {
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Patchbay")
        request.headers.add(
            name: "authorization", value: "Bearer " + Self.signature(of: event.body, application: target.applicationID, secret: target.secret))
        request.body = .bytes(ByteBuffer(bytes: event.body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeoutSeconds * 1000)))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            switch response.status.code {
            case 200..<300: return .delivered
            case 408, 429, 500...: return .retry("event_url answered \(response.status.code)")
            default: return .rejected(response.status)
            }
        } catch {
            return .retry("\(error)")
        }
    }

    /// The bearer JWT of one delivery.
    static func signature(of body: [UInt8], application: String, secret: String) -> String {
        let hash = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        let claims: [String: Any] = [
            "iat": Int(Date().timeIntervalSince1970), "jti": UUID().uuidString.lowercased(), "iss": "Patchbay",
            "application_id": application, "payload_hash": hash,
        ]
        return UpgradeJWT.sign(claims: claims, secret: secret)
    }

    private func drop(_ reason: String, application: String, call: UUID, detail: String) {
        metrics.webhooksDropped(reason).increment()
        // The first ten, then one in a thousand: a dead event_url must not flood the log.
        let n = dropsLogged.add(1, ordering: .relaxed).newValue
        guard n <= 10 || n % 1000 == 0 else { return }
        logger.warning(
            "event dropped",
            metadata: ["application": "\(application)", "call": "\(call)", "reason": "\(reason)", "detail": "\(detail)", "drops": "\(n)"])
    }
}
