import AsyncHTTPClient
import Foundation
import NIOCore
import PatchbayConfiguration
import PatchbayServer
import Testing

@testable import PatchbayServerTestSupport

/// Signed event webhooks, received by a real HTTP server in Python that verifies every signature with
/// the Vonage SDK's own check (HS256) and the `payload_hash` itself, as an application must.
@Suite(.serialized) struct WebhookTests {
    typealias Fixture = ControlFixture
    static let secret = "a-signature-secret-of-32-bytes-or-more"

    /// A gateway whose app-1 sends its events to `receiver`.
    static func fixture(_ receiver: ScriptedService, _ adjust: @escaping (inout ServerConfiguration) -> Void = { _ in }) async throws
        -> Fixture
    {
        try await Fixture.make { c in
            c.api.applications[0].eventURL = "http://127.0.0.1:\(receiver.port)/events"
            c.api.applications[0].signatureSecret = secret
            adjust(&c)
        }
    }

    /// The events the receiver got, in order: (valid, problem, body).
    static func received(_ receiver: ScriptedService) -> [(valid: Bool, problem: String?, answered: Int, body: [String: Any])] {
        receiver.reports.filter { $0["ev"] as? String == "event" }.map {
            ($0["valid"] as? Bool ?? false, $0["problem"] as? String, $0["answered"] as? Int ?? 0, $0["body"] as? [String: Any] ?? [:])
        }
    }

    static func kind(_ body: [String: Any]) -> String {
        (body["status"] ?? body["type"]) as? String ?? "?"
    }

    /// The gateway's metrics, labelled ones by their whole name (`name{label="value"}`).
    static func metrics(_ f: Fixture) async throws -> [String: Double] {
        let response = try await f.client.execute(HTTPClientRequest(url: f.base + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 22))
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }

    @Test("a leg's events reach its application's event_url signed (HS256, payload_hash) and in the order they happened")
    func signedAndOrdered() async throws {
        let receiver = try await ScriptedService.webhookReceiver(["--secret", Self.secret, "--application-id", "app-1"])
        defer { receiver.stop() }
        let f = try await Self.fixture(receiver)
        let token = try await f.token("app-1")
        let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await peer.sendConnected(rate: 8000, extra: #","from":"447700900123""#)
        let id = try #require(await f.gateway.waitForLegs(1).first?.id).uuidString.lowercased()
        try await peer.send(text: #"{"event":"websocket:dtmf","digit":"7","duration":260}"#)
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(id)", as: token))?.0 == .ok })
        #expect(try await f.request(.PUT, "/v1/calls/\(id)/dtmf", body: #"{"digits":"1"}"#, as: token).0 == .ok)
        #expect(await eventually { Self.received(receiver).contains { Self.kind($0.body) == "dtmf:done" } })
        try await peer.send(text: #"{"event":"websocket:notify","payload":{"step":2}}"#)
        #expect(await eventually { Self.received(receiver).contains { Self.kind($0.body) == "notify" } })
        await peer.close()
        #expect(await eventually { Self.received(receiver).contains { Self.kind($0.body) == "completed" } })
        let events = Self.received(receiver)
        #expect(events.allSatisfy { $0.valid }, "\(events.compactMap(\.problem))")
        #expect(events.map { Self.kind($0.body) } == ["started", "answered", "dtmf", "dtmf:done", "notify", "completed"])
        #expect(events.allSatisfy { $0.body["uuid"] as? String == id && $0.body["direction"] as? String == "inbound" })
        #expect(events.allSatisfy { ($0.body["conversation_uuid"] as? String)?.hasPrefix("CON-") == true && $0.body["timestamp"] is String })
        #expect(events[0].body["from"] as? String == "447700900123")
        #expect(events[2].body["digit"] as? String == "7" && events[2].body["duration"] as? Int == 260)
        #expect((events[4].body["payload"] as? [String: Any])?["step"] as? Int == 2)
        let completed = events[5].body
        #expect(completed["end_time"] is String && completed["duration"] is String && completed["detail"] is String, "\(completed)")
        // The receiver logs an event before it answers; the gateway counts it once the answer is back.
        #expect(await eventuallyAsync { (try? await Self.metrics(f))?["patchbay_webhooks_delivered_total"] == 6 })
        await f.stop()
    }

    @Test("an event_url that fails is retried with backoff, order kept; a full queue drops events, counted by reason")
    func retriesAndDrops() async throws {
        let flaky = try await ScriptedService.webhookReceiver(["--secret", Self.secret, "--application-id", "app-1", "--fail-first", "2"])
        defer { flaky.stop() }
        let f = try await Self.fixture(flaky)
        let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await peer.sendConnected(rate: 8000)
        _ = await f.gateway.waitForLegs(1)
        await peer.close()
        #expect(await eventually { Self.received(flaky).contains { Self.kind($0.body) == "completed" && $0.answered == 200 } })
        let events = Self.received(flaky)
        #expect(
            events.map { "\(Self.kind($0.body)) \($0.answered)" } == ["started 503", "started 503", "started 200", "answered 200", "completed 200"])
        // The receiver logs an event before it answers; the gateway counts it once the answer is back.
        #expect(await eventuallyAsync { (try? await Self.metrics(f))?["patchbay_webhooks_delivered_total"] == 3 })
        var metrics = try await Self.metrics(f)
        #expect(metrics["patchbay_webhook_attempts_failed_total"] == 2)
        await f.stop()

        // An event_url that always fails, a queue of two and one second of retries: the queue fills, the
        // rest is dropped as queue_full, the queued ones as gave_up; the gateway carries on.
        let dead = try await ScriptedService.webhookReceiver(["--secret", Self.secret, "--application-id", "app-1", "--status", "500"])
        defer { dead.stop() }
        let g = try await Self.fixture(dead) { c in
            c.api.webhooks.queueLimit = 2
            c.api.webhooks.retrySeconds = 1
            c.api.webhooks.concurrency = 1
        }
        for _ in 0..<3 {
            let p = try await TestPeer.connect(port: g.gateway.port, path: "/socket", group: g.gateway.clients, tls: true)
            try await p.sendConnected(rate: 8000)
            #expect(await eventually { g.gateway.server.engine.legs.count == 1 })
            await p.close()
            #expect(await eventually { g.gateway.server.engine.legs.isEmpty })
        }
        var last: [String: Double] = [:]
        #expect(
            await eventuallyAsync {
                last = (try? await Self.metrics(g)) ?? last
                let full = last["patchbay_webhooks_dropped_total{reason=\"queue_full\"}"] ?? 0
                let gaveUp = last["patchbay_webhooks_dropped_total{reason=\"gave_up\"}"] ?? 0
                // Nine events: each either dropped at the door or given up after its retries.
                return full > 0 && gaveUp > 0 && full + gaveUp == 9
            }, "\(last.filter { $0.key.contains("webhook") })")
        metrics = try await Self.metrics(g)
        #expect(metrics["patchbay_webhooks_delivered_total"] ?? 0 == 0)
        await g.stop()
    }
}
