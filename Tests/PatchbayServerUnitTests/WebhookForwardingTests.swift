import Foundation
import Logging
import MetricsTestKit
import NIOPosix
import PatchbayConfiguration
import PatchbayEngine
import PatchbayRecords
import Testing

@testable import PatchbayServer

/// Engine events into webhook bodies: the pure mapping, and the forwarder's order and its fail-safe when it
/// falls behind the engine (without delivering anything: the bodies are read from the queue).
@Suite struct WebhookForwardingTests {
    static let application = "app-1"

    static func webhooks(_ metrics: TestMetrics) throws -> EventWebhooks {
        var api = ServerConfiguration.API(
            applications: [
                .init(
                    applicationID: application, publicKey: "/dev/null", eventURL: "http://127.0.0.1:9/events",
                    signatureSecret: String(repeating: "s", count: 32))
            ])
        api.webhooks.queueLimit = 1000
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try #require(
            EventWebhooks(api: api, group: MultiThreadedEventLoopGroup.singleton, metrics: ServerMetrics(factory: metrics), logger: logger))
    }

    static func record(_ id: UUID) -> CallRecord {
        var r = CallRecord(
            uuid: id, conversationUUID: UUID(), conversationName: "c", applicationID: application, direction: .inbound,
            to: #"{"type":"websocket","uri":"ws://gw/socket"}"#, from: #"{"number":"447700900001","type":"phone"}"#, startTime: Date())
        r.status = .answered
        r.answerTime = r.startTime
        return r
    }

    /// What the forwarder queued for `call`, as JSON objects, in order.
    static func queued(_ webhooks: EventWebhooks, call: UUID) async -> [[String: Any]] {
        let queue = webhooks.targets[application]!.queue
        var bodies: [[String: Any]] = []
        while queue.count > 0, let event = await queue.take() {
            queue.done(event.call)
            if event.call == call, let object = try? JSONSerialization.jsonObject(with: Data(event.body)) as? [String: Any] {
                bodies.append(object)
            }
        }
        return bodies
    }

    static func dtmf(_ leg: UUID, _ n: Int) -> EngineEvent {
        EngineEvent(leg: leg, conversation: "c", kind: .dtmf(digit: "5", durationMilliseconds: n, startMilliseconds: nil, detected: true))
    }

    @Test("a leg's events become its webhooks in order: started, answered, each event, completed")
    func order() async throws {
        let metrics = TestMetrics()
        let webhooks = try Self.webhooks(metrics)
        let leg = UUID()
        webhooks.track(Self.record(leg))
        let hub = EventHub()
        let events = hub.subscribe()
        hub.publish(EngineEvent(leg: leg, conversation: "c", kind: .legStarted))
        for n in 0..<5 { hub.publish(Self.dtmf(leg, n)) }
        hub.publish(EngineEvent(leg: leg, conversation: "c", kind: .legEnded(duration: 1, reason: .peerClosed(code: 1000))))
        hub.finish()
        await webhooks.forward(events, resubscribe: { hub.subscribe() }, isLive: { _ in false })
        let bodies = await Self.queued(webhooks, call: leg)
        let kinds = bodies.map { ($0["status"] ?? $0["type"]) as? String ?? "?" }
        #expect(kinds == ["started", "answered", "dtmf", "dtmf", "dtmf", "dtmf", "dtmf", "completed"], "\(kinds)")
        #expect(bodies.compactMap { $0["duration"] as? Int } == [0, 1, 2, 3, 4])
    }

    @Test("fallen behind the engine: the missed events are counted as dropped webhooks, and a leg that ended meanwhile still gets its completed")
    func overflowFailsSafe() async throws {
        let metrics = TestMetrics()
        let webhooks = try Self.webhooks(metrics)
        let leg = UUID()
        webhooks.track(Self.record(leg))
        let hub = EventHub()
        let events = hub.subscribe(limit: 3)
        hub.publish(EngineEvent(leg: leg, conversation: "c", kind: .legStarted))
        for n in 0..<10 { hub.publish(Self.dtmf(leg, n)) }
        hub.publish(EngineEvent(leg: leg, conversation: "c", kind: .legEnded(duration: 1, reason: .peerClosed(code: 1000))))
        hub.finish()
        await webhooks.forward(events, resubscribe: { hub.subscribe() }, isLive: { _ in false })
        let bodies = await Self.queued(webhooks, call: leg)
        let kinds = bodies.map { ($0["status"] ?? $0["type"]) as? String ?? "?" }
        #expect(kinds == ["started", "answered", "dtmf", "dtmf", "completed"], "\(kinds)")
        #expect(bodies.last?["detail"] as? String == "ended while its events were lost")
        let dropped = try metrics.expectCounter("patchbay_webhooks_dropped_total", [("reason", "overflow")])
        #expect(dropped.totalValue == 9, "8 digits and the leg's end were missed")
    }

    @Test("the pure mapping: a service's connection and a transfer, with the Voice API's field names")
    func bodies() throws {
        let leg = UUID()
        let record = Self.record(leg)
        let service = UUID()
        let connected = try #require(
            WebhookBody.event(.service(.connected(uri: "wss://ai/x", attempt: 2, leg: service)), record: record))
        #expect(connected["type"] as? String == "service:connected" && connected["attempt"] as? Int == 2)
        #expect(connected["service_uuid"] as? String == service.uuidString.lowercased())
        #expect(connected["from"] as? String == "447700900001" && connected["to"] as? String == "ws://gw/socket")
        let moved = try #require(WebhookBody.event(.transferred(from: "old"), record: record, transferredFrom: "CON-before"))
        #expect(moved["type"] as? String == "transfer" && moved["conversation_uuid_from"] as? String == "CON-before")
        #expect(moved["conversation_uuid_to"] as? String == "CON-" + record.conversationUUID.uuidString.lowercased())
        #expect(WebhookBody.event(.legStarted, record: record) == nil)
        let completed = WebhookBody.status("completed", of: record, at: record.startTime.addingTimeInterval(5), detail: "peer closed (1000)")
        #expect(
            completed["status"] as? String == "completed" && completed["duration"] as? String == "5"
                && completed["detail"] as? String == "peer closed (1000)")
    }
}
