import Foundation
import PatchbayConfiguration
import PatchbayServer
import PatchbayTestSupport
import Testing

@testable import PatchbayServerTestSupport

/// Two gateways sharing their call records in a real PostgreSQL server (Debian's, started by the tests):
/// each answers the API for the legs of both, and a gateway that restarts closes its own legs only.
@Suite(.serialized) struct SharedRecordsGatewayTests {
    static func shared(_ url: String, node: String) -> (inout ServerConfiguration) -> Void {
        { c in
            c.storage.database = nil
            c.storage.postgres = try? ServerConfiguration.Storage.Postgres.parse(url: url).get()
            c.node.id = node
        }
    }

    @Test("either gateway lists and gets the legs of both; a gateway's restart closes its own live legs, not the other's")
    func twoGateways() async throws {
        let url = try await PostgresServer.shared.url()
        let f = try await ControlFixture.make(Self.shared(url, node: "gw-a"))
        let b = try await f.another(Self.shared(url, node: "gw-b"))
        let token = try await f.token("app-1")
        let onA = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await onA.sendConnected(rate: 16000, extra: #","from":"447700900001""#)
        let onB = try await TestPeer.connect(port: b.port, path: "/socket", group: b.clients, tls: true)
        try await onB.sendConnected(rate: 8000, extra: #","from":"447700900002""#)
        _ = await f.gateway.waitForLegs(1)
        _ = await b.waitForLegs(1)

        func listed(on gateway: RunningGateway) async throws -> [String: String] {
            let (status, page) = try await f.request(on: gateway, .GET, "/v1/calls?status=answered&page_size=10", as: token)
            #expect(status == .ok)
            let calls = ((page["_embedded"] as? [String: Any])?["calls"] as? [[String: Any]]) ?? []
            var out: [String: String] = [:]
            for call in calls {
                if let uuid = call["uuid"] as? String, let from = (call["from"] as? [String: Any])?["number"] as? String { out[from] = uuid }
            }
            return out
        }
        var fromA: [String: String] = [:]
        #expect(
            await eventuallyAsync {
                fromA = (try? await listed(on: f.gateway)) ?? [:]
                return fromA.count == 2
            }, "gateway A lists both legs: \(fromA)")
        let fromB = try await listed(on: b)
        #expect(fromB == fromA, "gateway B lists the same")
        let legB = try #require(fromA["447700900002"])
        let (status, call) = try await f.request(on: f.gateway, .GET, "/v1/calls/\(legB)", as: token)
        #expect(status == .ok && call["status"] as? String == "answered", "A gets B's leg: \(call)")

        // Gateway A stops and starts again: its leg is closed, B's is untouched.
        await onA.close()
        await f.gateway.stop()
        let a2 = try await f.another(Self.shared(url, node: "gw-a"))
        let legA = try #require(fromA["447700900001"])
        let (_, closed) = try await f.request(on: a2, .GET, "/v1/calls/\(legA)", as: token)
        #expect(closed["status"] as? String == "completed", "A's leg, ended with A: \(closed)")
        let (_, still) = try await f.request(on: a2, .GET, "/v1/calls/\(legB)", as: token)
        #expect(still["status"] as? String == "answered", "B's leg goes on: \(still)")
        #expect(!onB.isClosed)

        await onB.close()
        await a2.stop()
        await b.stop()
        await f.stop()  // its first gateway was stopped above: a second shutdown waits for the first
    }

    @Test(
        "kill -9 of a gateway: a survivor closes its legs' records as completed with the reason gateway lost, within dead_after, and sends the completed webhook once"
    )
    func deadGatewayIsReaped() async throws {
        let url = try await PostgresServer.shared.url()
        let receiver = try await ScriptedService.webhookReceiver(["--secret", WebhookTests.secret, "--application-id", "app-1"])
        defer { receiver.stop() }
        let fast: (inout ServerConfiguration) -> Void = { c in
            c.node.heartbeatSeconds = 0.2
            c.node.deadAfterSeconds = 1
            c.api.applications[0].eventURL = "http://127.0.0.1:\(receiver.port)/events"
            c.api.applications[0].signatureSecret = WebhookTests.secret
        }
        let f = try await ControlFixture.make { c in
            Self.shared(url, node: "gw-a")(&c)
            fast(&c)
        }
        // Gateway B is a process of its own, so that it can die as a process does.
        let dir = try ServeProcessTests.temporaryDirectory()
        let group = f.gateway.clients
        let publicKey = f.tls.directory.appendingPathComponent("app-1.pub.pem").path
        let (b, port) = try await ServeProcessTests.startServer(
            config: { port in
                """
                {"port": \(port), "log_level": "warning", "storage": {"postgres": "\(url)"},
                 "node": {"id": "gw-b", "heartbeat_seconds": 0.2, "dead_after_seconds": 1},
                 "api": {"applications": [{"application_id": "app-1", "public_key": "\(publicKey)",
                         "event_url": "http://127.0.0.1:\(receiver.port)/events", "signature_secret": "\(WebhookTests.secret)"}]},
                 "routes": [{"path": "/socket", "mode": "conversation", "application_id": "app-1"}]}
                """
            }, in: dir, group: group)
        let peer = try await TestPeer.connect(port: port, path: "/socket", group: group)
        try await peer.sendConnected(rate: 16000, extra: #","from":"447700900009""#)
        let token = try await f.token("app-1")
        var leg: String?
        #expect(
            await eventuallyAsync {
                let (_, page) = (try? await f.get("/v1/calls?status=answered", as: token)) ?? (.ok, [:])
                leg = (((page["_embedded"] as? [String: Any])?["calls"] as? [[String: Any]]) ?? []).first?["uuid"] as? String
                return leg != nil
            }, "A sees B's leg answered")
        let id = try #require(leg)
        #expect(
            await eventually {
                WebhookTests.received(receiver).contains { $0.body["uuid"] as? String == id && WebhookTests.kind($0.body) == "answered" }
            })

        let clock = ContinuousClock()
        let killed = clock.now
        b.kill()
        _ = await b.waitForExit(timeout: .seconds(10))
        var closed: [String: Any] = [:]
        #expect(
            await eventuallyAsync(timeout: .seconds(15)) {
                closed = (try? await f.get("/v1/calls/\(id)", as: token))?.1 ?? [:]
                return closed["status"] as? String == "completed"
            }, "closed by A: \(closed)")
        #expect(clock.now - killed < .seconds(4), "within dead_after (1 s) and a few heartbeats: \(clock.now - killed)")
        #expect(
            await eventually {
                WebhookTests.received(receiver).contains { $0.body["uuid"] as? String == id && WebhookTests.kind($0.body) == "completed" }
            })
        try await Task.sleep(for: .seconds(1))  // time for a second survivor's webhook, were there one
        let completed = WebhookTests.received(receiver).filter { $0.body["uuid"] as? String == id && WebhookTests.kind($0.body) == "completed" }
        #expect(completed.count == 1 && completed.allSatisfy(\.valid), "once, signed: \(completed.map(\.body))")

        await peer.close()
        b.remove()
        try? FileManager.default.removeItem(at: dir)
        await f.stop()
    }

    @Test("PostgreSQL stopped mid-call: the call goes on, the API answers 503 at once, and when it is back no record is lost")
    func databaseOutage() async throws {
        let server = PostgresServer()  // its own: this test stops it
        defer { Task { await server.stop() } }
        let url = try await server.url()
        let f = try await ControlFixture.make(Self.shared(url, node: "gw-a"))
        // The fixture is stopped however the test ends (a gateway left running would outlive the test).
        do {
            try await outage(f, server)
        } catch {
            Issue.record(error)
        }
        try? await server.resume()
        await f.stop()
    }

    private func outage(_ f: ControlFixture, _ server: PostgresServer) async throws {
        let token = try await f.token("app-1")
        let first = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await first.sendConnected(rate: 16000, extra: #","from":"447700900011","conversation":"outage""#)
        let id = try #require(await f.gateway.waitForLegs(1).first?.id).uuidString.lowercased()
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(id)", as: token))?.1["status"] as? String == "answered" })

        try await server.halt()
        // A second leg joins and talks to the first while the database is down: media does not wait for it.
        let second = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await second.sendConnected(rate: 16000, extra: #","from":"447700900012","conversation":"outage""#)
        _ = await f.gateway.waitForLegs(2)
        let tone = Tone.sine(700, rate: 16000, count: 320, amplitude: 8000)
        for _ in 0..<50 {
            try await first.send(samples: tone)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(await eventually { second.received.audibleFrames.count >= 10 }, "the second leg hears the first")
        let clock = ContinuousClock()
        let asked = clock.now
        let (status, body) = try await f.get("/v1/calls/\(id)", as: token)
        #expect(status == .serviceUnavailable && clock.now - asked < .seconds(8), "503, not a hang: \(status) \(body)")
        await first.close()  // its end is recorded while the database is down

        try await server.resume()
        var record: [String: Any] = [:]
        #expect(
            await eventuallyAsync(timeout: .seconds(20)) {
                record = (try? await f.get("/v1/calls/\(id)", as: token))?.1 ?? [:]
                return record["status"] as? String == "completed"
            }, "the first leg's end, written once the database is back: \(record)")
        let (_, page) = try await f.get("/v1/calls?page_size=10", as: token)
        #expect(page["count"] as? Int == 2, "the leg that joined during the outage is recorded too: \(page)")
        await second.close()
    }
}
