import Foundation
import PatchbayRecords
import Testing

@Suite struct SQLiteCallStoreTests {
    /// A database file in a folder of its own (removed by the caller).
    static func temporaryPath() -> (folder: URL, path: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-records-\(UUID().uuidString)")
        return (folder, folder.appendingPathComponent("state/patchbay.sqlite").path)
    }

    static func record(
        start: TimeInterval, status: CallRecord.Status = .answered, conversation: UUID = UUID(), application: String? = "app-1",
        direction: CallRecord.Direction = .inbound
    ) -> CallRecord {
        var r = CallRecord(
            uuid: UUID(), conversationUUID: conversation, conversationName: "room", applicationID: application, direction: direction,
            to: #"{"type":"websocket","uri":"wss://gw.example/socket","content-type":"audio/l16;rate=16000"}"#,
            from: #"{"type":"phone","number":"447700900001"}"#, startTime: Date(timeIntervalSince1970: start))
        r.status = status
        if status != .started { r.answerTime = Date(timeIntervalSince1970: start + 1) }
        if status == .completed || status == .failed { r.endTime = Date(timeIntervalSince1970: start + 61) }
        return r
    }

    @Test("a record saved is read back exactly, at once (reads wait for the pending batch), and later saves replace it")
    func saveAndRead() async throws {
        let (folder, path) = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteCallStore(path: path, batchDelay: .seconds(10))
        var r = Self.record(start: 1_700_000_000, status: .started)
        store.save(r)
        #expect(try await store.call(r.uuid) == r)
        r.status = .answered
        r.answerTime = Date(timeIntervalSince1970: 1_700_000_002)
        store.save(r)
        r.status = .completed
        r.endTime = Date(timeIntervalSince1970: 1_700_000_030)
        r.endReason = "1000"
        store.save(r)
        let back = try #require(try await store.call(r.uuid))
        #expect(back == r)
        #expect(back.duration() == 28)
        #expect(try await store.call(UUID()) == nil)
        try await store.close()
    }

    @Test("listing filters by status, dates, conversation and application, counts them all, and pages in either order")
    func listing() async throws {
        let (folder, path) = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteCallStore(path: path)
        let room = UUID()
        var all: [CallRecord] = []
        for i in 0..<25 {
            let r = Self.record(
                start: 1_700_000_000 + Double(i) * 60, status: i % 5 == 0 ? .completed : .answered, conversation: i < 10 ? room : UUID(),
                application: i % 2 == 0 ? "app-1" : "app-2")
            all.append(r)
            store.save(r)
        }
        let first = try await store.calls(CallQuery(pageSize: 10))
        #expect(first.total == 25 && first.calls.map(\.uuid) == all.prefix(10).map(\.uuid))
        let last = try await store.calls(CallQuery(recordIndex: 20, pageSize: 10))
        #expect(last.total == 25 && last.calls.map(\.uuid) == all.suffix(5).map(\.uuid))
        let newest = try await store.calls(CallQuery(pageSize: 3, order: .descending))
        #expect(newest.calls.map(\.uuid) == all.reversed().prefix(3).map(\.uuid))
        #expect(try await store.calls(CallQuery(status: .completed, pageSize: 100)).total == 5)
        #expect(try await store.calls(CallQuery(conversationUUID: room, pageSize: 100)).total == 10)
        #expect(try await store.calls(CallQuery(applicationID: "app-2", pageSize: 100)).total == 12)
        let window = try await store.calls(
            CallQuery(
                dateStart: Date(timeIntervalSince1970: 1_700_000_000 + 5 * 60), dateEnd: Date(timeIntervalSince1970: 1_700_000_000 + 9 * 60),
                pageSize: 100))
        #expect(window.calls.map(\.uuid) == Array(all[5...9]).map(\.uuid))
        #expect(try await store.calls(CallQuery(applicationID: "app-1", status: .completed, pageSize: 100)).total == 3)
        try await store.close()
    }

    @Test("records survive a restart; legs left live are closed (answered: completed, started: failed), ended ones untouched")
    func restart() async throws {
        let (folder, path) = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        let live = Self.record(start: 1_700_000_000, status: .answered)
        let ringing = Self.record(start: 1_700_000_010, status: .started, direction: .outbound)
        let done = Self.record(start: 1_700_000_020, status: .completed)
        do {
            // A gateway that dies: its saves are written (batches go within milliseconds), then it is gone
            // without closing the store.
            let store = try SQLiteCallStore(path: path, batchDelay: .milliseconds(1))
            for r in [live, ringing, done] { store.save(r) }
            try await store.flush()
        }
        let store = try SQLiteCallStore(path: path)
        let restartedAt = Date(timeIntervalSince1970: 1_700_000_100)
        #expect(try await store.closeOrphans(at: restartedAt, reason: "gateway restarted") == 2)
        let a = try #require(try await store.call(live.uuid))
        #expect(a.status == .completed && a.endTime == restartedAt && a.endReason == "gateway restarted" && a.duration() == 99)
        let b = try #require(try await store.call(ringing.uuid))
        #expect(b.status == .failed && b.endTime == restartedAt && b.duration() == nil)
        #expect(try await store.call(done.uuid) == done)
        // Saves after the restart still replace what the previous process wrote.
        var again = done
        again.endReason = "corrected"
        store.save(again)
        #expect(try await store.call(done.uuid)?.endReason == "corrected")
        #expect(try await store.closeOrphans(at: restartedAt, reason: "again") == 0)
        try await store.close()
    }

    @Test("saves from many tasks at once are all written, the last state of each leg kept")
    func concurrentSaves() async throws {
        let (folder, path) = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteCallStore(path: path, batchDelay: .milliseconds(2))
        let records = (0..<400).map { Self.record(start: 1_700_000_000 + Double($0), status: .started) }
        await withTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: records.count, by: 50) {
                group.addTask {
                    for var r in records[chunk..<chunk + 50] {
                        store.save(r)
                        r.status = .answered
                        r.answerTime = r.startTime.addingTimeInterval(1)
                        store.save(r)
                    }
                }
            }
        }
        let page = try await store.calls(CallQuery(pageSize: 1000))
        #expect(page.total == 400 && page.calls.allSatisfy { $0.status == .answered })
        try await store.close()
    }

    @Test("a folder that cannot be made is an error naming the path, not a crash")
    func unwritableFolder() {
        #expect(throws: (any Error).self) { try SQLiteCallStore(path: "/proc/patchbay/no/such/place.sqlite") }
    }
}
