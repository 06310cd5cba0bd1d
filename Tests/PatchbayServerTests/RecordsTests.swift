import Foundation
import NIOPosix
import PatchbayConfiguration
import PatchbayEngine
import PatchbayRecords
import PatchbayServer
import PatchbayVoiceAPI
import Testing

@testable import PatchbayBench
@testable import PatchbayServerTestSupport

/// Every leg is a call record in the gateway's database: written as the leg goes, kept across a restart.
@Suite struct RecordsTests {
    static func temporaryDatabase() -> (folder: URL, path: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-records-\(UUID().uuidString)")
        return (folder, folder.appendingPathComponent("patchbay.sqlite").path)
    }

    static func object(_ json: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: String] ?? [:]
    }

    @Test("a caller's leg is recorded answered, with its number and the route it came to, and completed when it hangs up")
    func inboundLeg() async throws {
        let (folder, path) = Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: folder) }
        let gateway = try await RunningGateway.start { $0.storage.database = path }
        let store = try #require(gateway.server.callStore)
        let peer = try await gateway.connect("/socket", headers: [])
        try await peer.sendConnected(rate: 16000, extra: #","from":"447700900001","conversation":"room-7""#)
        let leg = try #require(await gateway.waitForLegs(1).first)
        #expect(await eventuallyAsync { (try? await store.call(leg.id)) != nil })
        let live = try #require(try await store.call(leg.id))
        #expect(live.status == .answered && live.direction == .inbound && live.conversationName == "room-7")
        #expect(Self.object(live.from) == ["type": "phone", "number": "447700900001"])
        let to = Self.object(live.to)
        #expect(to["type"] == "websocket" && to["uri"] == "ws://127.0.0.1:\(gateway.port)/socket" && to["content-type"] == "audio/l16;rate=16000")
        try await Task.sleep(for: .milliseconds(1100))
        await peer.close()
        #expect(await eventuallyAsync { (try? await store.call(leg.id))?.status == .completed })
        let ended = try #require(try await store.call(leg.id))
        #expect(ended.endReason == "connection lost" && (ended.duration() ?? 0) >= 1, "\(ended)")
        await gateway.stop()
    }

    @Test("a forwarded call: the service's leg is recorded outbound in the caller's conversation; an unreachable one failed")
    func outboundLegs() async throws {
        let (folder, path) = Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: folder) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let service = try await BenchService.start(host: "127.0.0.1", port: 0, group: group, ledgers: [ProbeLedger()], burst: .zero)
        let port = try #require(service.channel.localAddress?.port)
        var echo = WebSocketEndpoint(uri: "ws://127.0.0.1:\(port)/agent")
        echo.headers = ["bench_call": .string("0")]
        var dead = WebSocketEndpoint(uri: "ws://127.0.0.1:1/gone")
        dead.retryDeadline = 0
        let gateway = try await RunningGateway.start { c in
            c.storage.database = path
            c.routes.append(.init(path: "/ai", mode: .conversation, connect: [echo, dead]))
        }
        let store = try #require(gateway.server.callStore)
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000, extra: #","from":"sip:alice@example.com""#)
        #expect(await eventuallyAsync { (try? await store.calls(CallQuery(pageSize: 10)).total) == 3 })
        #expect(
            await eventuallyAsync {
                let calls = (try? await store.calls(CallQuery(pageSize: 10)).calls) ?? []
                return calls.contains { $0.direction == .outbound && $0.status == .answered }
                    && calls.contains { $0.direction == .outbound && $0.status == .failed }
            })
        let calls = try await store.calls(CallQuery(pageSize: 10)).calls
        let inbound = try #require(calls.first { $0.direction == .inbound })
        let answered = try #require(calls.first { $0.direction == .outbound && $0.status == .answered })
        let failed = try #require(calls.first { $0.status == .failed })
        #expect(Set(calls.map(\.conversationUUID)).count == 1, "one conversation")
        #expect(Self.object(inbound.from) == ["type": "sip", "uri": "sip:alice@example.com"])
        #expect(Self.object(answered.to)["uri"] == "ws://127.0.0.1:\(port)/agent" && answered.from == inbound.from)
        #expect(failed.answerTime == nil && failed.endReason?.hasPrefix("unreachable") == true, "\(failed)")
        await caller.close()
        #expect(
            await eventuallyAsync {
                let calls = (try? await store.calls(CallQuery(status: .completed, pageSize: 10)).calls) ?? []
                return Set(calls.map(\.uuid)) == [inbound.uuid, answered.uuid]
            })
        await gateway.stop()
        await service.stop()
        try await group.shutdownGracefully()
    }

    @Test("a gateway that starts on the database of one that died closes the legs it left live, and keeps the rest")
    func restart() async throws {
        let (folder, path) = Self.temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: folder) }
        // What a gateway that died mid-call leaves: a leg answered and never ended, and one that ended.
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 120).rounded())
        var live = CallRecord(
            uuid: UUID(), conversationUUID: UUID(), conversationName: "c", direction: .inbound, status: .answered,
            to: #"{"type":"websocket","uri":"ws://127.0.0.1:8080/socket"}"#, from: #"{"type":"phone","number":"unknown"}"#,
            startTime: start)
        live.answerTime = start
        var done = live
        done.uuid = UUID()
        done.status = .completed
        done.endTime = start.addingTimeInterval(30)
        do {
            let dead = try SQLiteCallStore(path: path)
            dead.save(live)
            dead.save(done)
            try await dead.close()
        }
        let gateway = try await RunningGateway.start { $0.storage.database = path }
        let store = try #require(gateway.server.callStore)
        let closed = try #require(try await store.call(live.uuid))
        #expect(closed.status == .completed && closed.endReason == "gateway restarted" && (closed.duration() ?? 0) >= 119, "\(closed)")
        #expect(try await store.call(done.uuid) == done)
        // New legs are recorded beside them.
        let peer = try await gateway.connect("/socket")
        try await peer.sendConnected(rate: 8000)
        let leg = try #require(await gateway.waitForLegs(1).first)
        #expect(await eventuallyAsync { (try? await store.call(leg.id))?.status == .answered })
        #expect(try await store.calls(CallQuery(pageSize: 10)).total == 3)
        await peer.close()
        await gateway.stop()
    }

    @Test("a database that cannot be opened is a configuration error naming it")
    func unusableDatabase() async throws {
        var c = ServerConfiguration()
        c.port = 0
        c.storage.database = "/proc/no/such/folder/patchbay.sqlite"
        #expect(throws: ConfigurationError.self) { try GatewayServer(configuration: c.validated()) }
    }
}
