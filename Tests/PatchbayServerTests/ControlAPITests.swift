import AsyncHTTPClient
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import NIOSSL
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import Testing

@testable import PatchbayServerTestSupport

/// The control API over real https, with real RS256 application JWTs (keys made by openssl in the test)
/// and real websocket legs: what an application's SDK would do.
@Suite(.serialized) struct ControlAPITests {
    typealias Fixture = ControlFixture
    @Test("no token, a token signed by another application's key, an expired one: 401 in the Voice API's error shape")
    func unauthorized() async throws {
        let f = try await Fixture.make()
        let (none, body) = try await f.get("/v1/calls", as: nil)
        #expect(none == .unauthorized && body["title"] as? String == "Unauthorized" && body["type"] != nil && body["detail"] != nil)
        #expect(try await f.get("/v1/calls", as: try await f.token("app-1", signedBy: "app-2")).0 == .unauthorized)
        #expect(try await f.get("/v1/calls", as: try await f.token("app-1", issued: Date(timeIntervalSinceNow: -3600))).0 == .unauthorized)
        #expect(try await f.get("/v1/calls", as: try await f.token("app-9", signedBy: "app-1")).0 == .unauthorized)
        #expect(try await f.get("/v1/calls", as: "not-a-jwt").0 == .unauthorized)
        #expect(try await f.get("/v1/calls", as: try await f.token("app-1")).0 == .ok)
        await f.stop()
    }

    @Test("GET /v1/calls and /v1/calls/{uuid}: an application's legs as the Voice API's call objects, paged, filtered, its own only")
    func listAndGet() async throws {
        let f = try await Fixture.make()
        let t1 = try await f.token("app-1")
        var peers: [TestPeer] = []
        for i in 0..<3 {
            let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
            try await peer.sendConnected(rate: 16000, extra: #","from":"44770090000\#(i)""#)
            peers.append(peer)
        }
        let other = try await TestPeer.connect(port: f.gateway.port, path: "/app2", group: f.gateway.clients, tls: true)
        try await other.sendConnected(rate: 8000)
        let legs = await f.gateway.waitForLegs(4)
        #expect(legs.count == 4)
        #expect(await eventuallyAsync { ((try? await f.get("/v1/calls", as: t1))?.1["count"] as? Int) == 3 })

        let (status, page) = try await f.get("/v1/calls?page_size=2&order=asc", as: t1)
        #expect(status == .ok)
        #expect(page["count"] as? Int == 3 && page["page_size"] as? Int == 2 && page["record_index"] as? Int == 0)
        let links = page["_links"] as? [String: Any]
        let next = (links?["next"] as? [String: Any])?["href"] as? String
        #expect((links?["self"] as? [String: Any])?["href"] as? String == "/v1/calls?page_size=2&record_index=0&order=asc")
        #expect(next == "/v1/calls?page_size=2&record_index=2&order=asc")
        let calls = (page["_embedded"] as? [String: Any])?["calls"] as? [[String: Any]] ?? []
        #expect(calls.count == 2)
        let first = try #require(calls.first)
        #expect(first["status"] as? String == "answered" && first["direction"] as? String == "inbound")
        #expect((first["from"] as? [String: Any])?["number"] as? String == "447700900000")
        #expect((first["to"] as? [String: Any])?["type"] as? String == "websocket")
        #expect((first["conversation_uuid"] as? String)?.hasPrefix("CON-") == true)
        let uuid = try #require(first["uuid"] as? String)
        #expect(((first["_links"] as? [String: Any])?["self"] as? [String: Any])?["href"] as? String == "/v1/calls/\(uuid)")
        #expect((first["start_time"] as? String)?.hasSuffix("Z") == true)

        let (last, lastPage) = try await f.get(next ?? "", as: t1)
        #expect(last == .ok && ((lastPage["_embedded"] as? [String: Any])?["calls"] as? [Any])?.count == 1)
        #expect((lastPage["_links"] as? [String: Any])?["next"] == nil)

        let (one, call) = try await f.get("/v1/calls/\(uuid)", as: t1)
        #expect(one == .ok && call["uuid"] as? String == uuid && call["status"] as? String == "answered")
        #expect(try await f.get("/v1/calls/\(UUID().uuidString.lowercased())", as: t1).0 == .notFound)
        // app-2 sees its own leg, not app-1's.
        let t2 = try await f.token("app-2")
        #expect(try await f.get("/v1/calls/\(uuid)", as: t2).0 == .notFound)
        #expect(try await f.get("/v1/calls", as: t2).1["count"] as? Int == 1)

        // Bad parameters: 400 with each named.
        let (bad, problem) = try await f.get("/v1/calls?page_size=0&order=sideways&status=ringing&date_start=yesterday", as: t1)
        #expect(bad == .badRequest)
        let names = (problem["invalid_parameters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(Set(names) == ["page_size", "order", "status", "date_start"], "\(problem)")

        // A leg that hangs up is completed, with its duration.
        await peers[0].close()
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(uuid)", as: t1))?.1["status"] as? String == "completed" })
        let ended = try await f.get("/v1/calls/\(uuid)", as: t1).1
        #expect(ended["end_time"] is String && ended["duration"] is String)
        #expect(try await f.get("/v1/calls?status=completed", as: t1).1["count"] as? Int == 1)
        for peer in peers.dropFirst() { await peer.close() }
        await other.close()
        await f.stop()
    }

    @Test("the Voice API's own Python SDK (vonage 4) lists and gets Patchbay's calls unchanged: its JWTs verify, its models parse")
    func pythonSDK() async throws {
        let f = try await Fixture.make()
        var peers: [TestPeer] = []
        for i in 0..<3 {
            let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
            try await peer.sendConnected(rate: 16000, extra: #","from":"4477009001\#(i)""#)
            peers.append(peer)
        }
        let t1 = try await f.token("app-1")
        #expect(await eventuallyAsync { ((try? await f.get("/v1/calls", as: t1))?.1["count"] as? Int) == 3 })
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../python/vonage_sdk_client.py")
        let run = await ChildProcess.python(
            [
                script.standardizedFileURL.path, "--host", "127.0.0.1:\(f.gateway.port)", "--application-id", "app-1",
                "--private-key", f.tls.directory.appendingPathComponent("app-1.key").path,
            ],
            // The SDK (requests) trusts what this names: the test's own certificate.
            environment: ["REQUESTS_CA_BUNDLE": f.tls.certificate, "CURL_CA_BUNDLE": f.tls.certificate], timeout: .seconds(60))
        let lines = run.output.split(separator: "\n").compactMap {
            $0.hasPrefix("{") ? (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] : nil
        }
        #expect(run.status == 0 && !run.timedOut, "\(run.output)")
        let list = lines.first { $0["op"] as? String == "list" }
        #expect((list?["uuids"] as? [String])?.count == 2 && list?["next"] != nil, "\(run.output)")
        let gets = lines.filter { $0["op"] as? String == "get" }
        #expect(gets.count == 2 && gets.allSatisfy { $0["status"] as? String == "answered" && $0["direction"] as? String == "inbound" })
        #expect(gets.allSatisfy { $0["to_type"] as? String == "websocket" && $0["from_type"] as? String == "phone" }, "\(gets)")
        #expect(lines.first { $0["op"] as? String == "list-answered" }?["count"] as? Int == 3)
        #expect(lines.first { $0["op"] as? String == "get-unknown" }?["error"] as? String == "NotFoundError", "\(run.output)")
        for peer in peers { await peer.close() }
        await f.stop()
    }
}
