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
}
