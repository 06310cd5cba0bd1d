import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PatchbayAuth
import PatchbayConfiguration
import PatchbayEngine
import PatchbayRecords
import PatchbayVoiceAPI
import Synchronization

/// Every application's events, POSTed as JSON to its `event_url` and signed as the Voice API signs its
/// webhooks: `Authorization: Bearer <JWT>`, HS256 with the application's `signature_secret`, claims
/// `iat`, `jti`, `iss`, `application_id` and `payload_hash` (the SHA-256 of the body, hex).
///
/// Where a webhook comes from: the engine's events (one task, `forward`) and the ledger's statuses, each
/// made into a body by `WebhookBody` from the call's record. Nothing here touches the media path: events
/// are queued per application (`WebhookQueue`: bounded, in order per call) and delivered by a few workers
/// per application over HTTP/1.1 keep-alive, retried with backoff for `retry_seconds`. A full queue drops
/// the new event; every drop is counted by reason and logged.
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
    /// The gateway's event loops (one group for the whole process).
    private let group: any EventLoopGroup
    private let metrics: ServerMetrics
    private let logger: Logger
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// The record of every leg of an application with an `event_url`, from the moment it is recorded
    /// (before the engine's first event about it) until its end: the forwarder reads it there, never
    /// from the ledger later (a leg that ends at once is gone from the ledger by the time its
    /// `legStarted` is forwarded).
    private let known = Mutex<[UUID: CallRecord]>([:])
    private let dropsLogged = Atomic<Int>(0)
    /// Legs closed because their call could not go on: their end is `failed`, with this detail.
    private let failing = Mutex<[UUID: String]>([:])

    /// Nil when no application has an `event_url`.
    init?(api: ServerConfiguration.API, group: any EventLoopGroup, metrics: ServerMetrics, logger: Logger) {
        var targets: [String: Target] = [:]
        for app in api.applications {
            guard let url = app.eventURL, let secret = app.signatureSecret else { continue }
            targets[app.applicationID] = Target(
                applicationID: app.applicationID, url: url, secret: secret, queue: WebhookQueue(limit: api.webhooks.queueLimit))
        }
        guard !targets.isEmpty else { return nil }
        self.targets = targets
        settings = api.webhooks
        self.group = group
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
        object["timestamp"] = VoiceAPITime.format(timestamp)
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

    /// The leg is being closed because its call cannot go on: its end is sent as `failed`.
    func markFailed(_ id: UUID, reason: String) {
        failing.withLock { $0[id] = reason }
    }

    /// A leg that never joined the engine has ended (a service that could not be reached).
    func forget(_ id: UUID) {
        _ = known.withLock { $0.removeValue(forKey: id) }
    }

    /// A call status event (`started`, `answered`, `completed`, `failed`) from its record.
    func status(_ status: String, of record: CallRecord, at time: Date, detail: String? = nil) {
        send(application: record.applicationID, call: record.uuid, timestamp: time, WebhookBody.status(status, of: record, at: time, detail: detail))
    }

    // MARK: The engine's events

    /// Turns the engine's events into webhooks, in the order the engine published them (run as one task
    /// from the gateway's start, on a subscription made before the engine starts). A leg's events go out
    /// between its `answered` (at `legStarted`, its first event) and its `completed` (at `legEnded`, its
    /// last). Should it fall behind the engine (`EventOverflow`: counted as dropped webhooks, logged), it
    /// goes on from a new subscription, and the legs that ended meanwhile (`isLive` says which) get their
    /// `completed` then, so none is left without one.
    func forward(_ events: EventSubscription, resubscribe: @Sendable () -> EventSubscription, isLive: @Sendable (UUID) -> Bool) async {
        // The record of each attached leg, as at its start (kept up to date through transfers).
        var legs: [UUID: CallRecord] = [:]
        var events = events
        while true {
            do {
                for try await event in events { forward(event, legs: &legs) }
                return
            } catch {
                let missed = (error as? EventOverflow)?.missed ?? 0
                metrics.webhooksDropped("overflow").increment(by: missed)
                logger.error("events lost before they became webhooks", metadata: ["missed": "\(missed)"])
                events = resubscribe()
                let now = Date()
                for (id, record) in legs where !isLive(id) {
                    legs[id] = nil
                    forget(id)
                    var ended = record
                    ended.endTime = now
                    status("completed", of: ended, at: now, detail: "ended while its events were lost")
                }
            }
        }
    }

    private func forward(_ event: EngineEvent, legs: inout [UUID: CallRecord]) {
        let time = event.timestamp
        switch event.kind {
        case .legStarted:
            guard var record = known.withLock({ $0[event.leg] }) else { return }
            record.answerTime = record.answerTime ?? time
            legs[event.leg] = record
            if record.direction == .inbound { status("started", of: record, at: time) }
            status("answered", of: record, at: time)
        case .legEnded(_, let reason):
            guard var record = legs.removeValue(forKey: event.leg) else { return }
            forget(event.leg)
            record.endTime = time
            if let failure = failing.withLock({ $0.removeValue(forKey: event.leg) }) {
                status("failed", of: record, at: time, detail: failure)
            } else {
                status("completed", of: record, at: time, detail: reason.description)
            }
        case .transferred:
            guard var record = legs[event.leg] else { return }
            let from = "CON-" + record.conversationUUID.uuidString.lowercased()
            if let live = known.withLock({ $0[event.leg] }) {
                record.conversationUUID = live.conversationUUID
                record.conversationName = live.conversationName
                legs[event.leg] = record
            }
            send(record, WebhookBody.event(event.kind, record: record, transferredFrom: from), at: time)
        default:
            guard let record = legs[event.leg] else { return }
            send(record, WebhookBody.event(event.kind, record: record), at: time)
        }
    }

    private func send(_ record: CallRecord, _ fields: [String: Any]?, at time: Date) {
        guard let fields else { return }
        send(application: record.applicationID, call: record.uuid, timestamp: time, fields)
    }

    // MARK: Delivery

    /// Starts the workers.
    func start() {
        let configuration = clientConfiguration
        let client = client.withLock { client in
            if client == nil { client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration) }
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
        return HS256JWT.sign(claims: claims, secret: secret)
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
