import Foundation
import PatchbayRecords
import PatchbayTestSupport
import Testing

/// The call records' stores, each test run against both: the embedded SQLite database and a real
/// PostgreSQL server (Debian's, started for the tests on loopback). What the gateway relies on — reads
/// that see every save, the last state of a leg kept, orphans closed, recording rows — must hold alike.
@Suite struct CallStoreTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// Where a store's rows live: a folder (SQLite's file) or a database of its own on the test server.
    struct Place {
        let folder: URL
        let postgres: (port: Int, database: String)?

        func remove() { try? FileManager.default.removeItem(at: folder) }
    }

    static func place(_ backend: Backend) async throws -> Place {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-records-\(UUID().uuidString)")
        switch backend {
        case .sqlite: return Place(folder: folder, postgres: nil)
        case .postgres:
            let server = PostgresServer.shared
            return Place(folder: folder, postgres: (try await server.port(), try await server.database()))
        }
    }

    static func open(
        _ place: Place, node: String = "gw-a", batchDelay: Duration = .milliseconds(50)
    ) async throws -> any CallStore & RecordingStore {
        if let pg = place.postgres {
            let store = PostgresCallStore(
                host: "127.0.0.1", port: pg.port, database: pg.database, user: PostgresServer.user, password: nil, security: .none,
                nodeID: node, batchDelay: batchDelay)
            try await store.open()
            return store
        }
        return try SQLiteCallStore(path: place.folder.appendingPathComponent("state/patchbay.sqlite").path, batchDelay: batchDelay)
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

    @Test(
        "a record saved is read back exactly, at once (reads wait for the pending batch), and later saves replace it",
        arguments: Backend.allCases)
    func saveAndRead(backend: Backend) async throws {
        let place = try await Self.place(backend)
        defer { place.remove() }
        let store = try await Self.open(place, batchDelay: .seconds(10))
        var r = Self.record(start: 1_700_000_000.125, status: .started)
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

    @Test("listing filters by status, dates, conversation and application, counts them all, and pages in either order", arguments: Backend.allCases)
    func listing(backend: Backend) async throws {
        let place = try await Self.place(backend)
        defer { place.remove() }
        let store = try await Self.open(place)
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

    @Test(
        "records survive a restart; legs left live are closed (answered: completed, started: failed), ended ones untouched",
        arguments: Backend.allCases)
    func restart(backend: Backend) async throws {
        let place = try await Self.place(backend)
        defer { place.remove() }
        let live = Self.record(start: 1_700_000_000, status: .answered)
        let ringing = Self.record(start: 1_700_000_010, status: .started, direction: .outbound)
        let done = Self.record(start: 1_700_000_020, status: .completed)
        do {
            // A gateway that dies: its saves are written (batches go within milliseconds), then it is gone
            // without closing the store.
            let store = try await Self.open(place, batchDelay: .milliseconds(1))
            for r in [live, ringing, done] { store.save(r) }
            try await store.flush()
        }
        let store = try await Self.open(place)
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

    @Test("saves from many tasks at once are all written, the last state of each leg kept", arguments: Backend.allCases)
    func concurrentSaves(backend: Backend) async throws {
        let place = try await Self.place(backend)
        defer { place.remove() }
        let store = try await Self.open(place, batchDelay: .milliseconds(2))
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

    @Test("recording rows: saved, read by id, by leg and by status, ended ones found for retention, deleted", arguments: Backend.allCases)
    func recordings(backend: Backend) async throws {
        let place = try await Self.place(backend)
        defer { place.remove() }
        let store = try await Self.open(place)
        let leg = UUID()
        var first = RecordingRecord(
            legUUID: leg, conversationUUID: UUID(), applicationID: "app-1", format: "wav", channels: 2, sampleRate: 16000,
            path: "/var/lib/patchbay/recordings/a.wav.part", startTime: Date(timeIntervalSince1970: 1_700_000_000),
            eventURL: "https://app.example/rec", eventMethod: "POST")
        try await store.saveRecording(first)
        #expect(try await store.recording(first.id) == first)
        #expect(try await store.recordings(status: .recording).map(\.id) == [first.id])
        first.status = .completed
        first.path = "/var/lib/patchbay/recordings/a.wav"
        first.endTime = Date(timeIntervalSince1970: 1_700_000_060)
        first.size = 1_920_044
        first.lostMilliseconds = 40
        first.error = "40 ms of audio lost"
        try await store.saveRecording(first)
        let second = RecordingRecord(
            legUUID: leg, conversationUUID: first.conversationUUID, applicationID: nil, format: "ogg", channels: 1, sampleRate: 8000,
            path: "/x.ogg.part", startTime: Date(timeIntervalSince1970: 1_700_000_030))
        try await store.saveRecording(second)
        #expect(try await store.recording(first.id) == first)
        #expect(try await store.recordings(ofLeg: leg).map(\.id) == [first.id, second.id])
        #expect(try await store.recordings(status: .recording).map(\.id) == [second.id])
        #expect(try await store.recordings(endedBefore: Date(timeIntervalSince1970: 1_700_000_061), limit: 10).map(\.id) == [first.id])
        #expect(try await store.recordings(endedBefore: Date(timeIntervalSince1970: 1_700_000_059), limit: 10).isEmpty)
        try await store.deleteRecording(first.id)
        #expect(try await store.recording(first.id) == nil)
        #expect(try await store.recordings(ofLeg: leg).map(\.id) == [second.id])
        try await store.close()
    }

    @Test("a folder that cannot be made is an error naming the path, not a crash")
    func unwritableFolder() {
        #expect(throws: (any Error).self) { try SQLiteCallStore(path: "/proc/patchbay/no/such/place.sqlite") }
    }
}

/// What only a shared database has: several gateways writing one set of records.
@Suite struct SharedRecordsTests {
    @Test("two gateways on one database: each lists the other's legs; a restart closes its own live legs only, and its recordings")
    func twoNodes() async throws {
        let place = try await CallStoreTests.place(.postgres)
        let a = try await CallStoreTests.open(place, node: "gw-a")
        let b = try await CallStoreTests.open(place, node: "gw-b")
        let onA = CallStoreTests.record(start: 1_700_000_000, status: .answered)
        let onB = CallStoreTests.record(start: 1_700_000_001, status: .answered)
        a.save(onA)
        b.save(onB)
        try await a.flush()
        #expect(try await b.calls(CallQuery(pageSize: 10)).calls.map(\.uuid) == [onA.uuid, onB.uuid])
        #expect(try await a.call(onB.uuid) == onB)
        let recording = RecordingRecord(
            legUUID: onB.uuid, conversationUUID: onB.conversationUUID, applicationID: "app-1", format: "mp3", channels: 1,
            sampleRate: 16000, path: "/b.mp3.part", startTime: Date(timeIntervalSince1970: 1_700_000_002.5))
        try await b.saveRecording(recording)
        #expect(try await a.recordings(status: .recording).isEmpty, "gateway A does not recover B's files")
        #expect(try await a.recording(recording.id) == recording, "but it sees B's rows")
        #expect(try await a.closeOrphans(at: Date(), reason: "gateway restarted") == 1)
        #expect(try await b.call(onB.uuid)?.status == .answered, "B's live leg is B's")
        #expect(try await b.call(onA.uuid)?.status == .completed)
        try await a.close()
        try await b.close()
    }

    @Test("gateways starting together migrate the schema once; a server that is not there is a clear error, soon")
    func migrationAndFailure() async throws {
        let place = try await CallStoreTests.place(.postgres)
        let stores = try await withThrowingTaskGroup(of: (any CallStore & RecordingStore).self) { group in
            for i in 0..<4 { group.addTask { try await CallStoreTests.open(place, node: "gw-\(i)") } }
            var out: [any CallStore & RecordingStore] = []
            for try await store in group { out.append(store) }
            return out
        }
        #expect(stores.count == 4)
        for store in stores { try await store.close() }

        let clock = ContinuousClock()
        let started = clock.now
        let nowhere = PostgresCallStore(
            host: "127.0.0.1", port: 1, database: "none", user: "patchbay", password: nil, security: .none, nodeID: "gw-x")
        await #expect(throws: (any Error).self) { try await nowhere.open() }
        #expect(clock.now - started < .seconds(30), "the error comes within the connect timeout")
        try? await nowhere.close()
    }
}
