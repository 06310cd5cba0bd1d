public import Foundation
import GRDB
public import Logging

/// Call records in an embedded SQLite database (GRDB, write-ahead log: the API reads while rows are
/// written). Saves are coalesced per leg and written in one transaction per batch, at most
/// `batchDelay` after the first save of the batch; every row carries a revision, so that a batch that
/// commits late never overwrites a newer one.
public final class SQLiteCallStore: CallStore, RecordingStore {
    /// The schema, version by version: a database made by any earlier Patchbay is brought up to date on
    /// open. Never edit a migration that has shipped; add the next one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: call") { db in
            try db.create(table: "call") { t in
                t.primaryKey("uuid", .text)
                t.column("revision", .integer).notNull()
                t.column("conversation_uuid", .text).notNull().indexed()
                t.column("conversation_name", .text).notNull()
                t.column("application_id", .text).indexed()
                t.column("direction", .text).notNull()
                t.column("status", .text).notNull().indexed()
                t.column("to_endpoint", .text).notNull()
                t.column("from_endpoint", .text).notNull()
                t.column("start_time", .double).notNull().indexed()
                t.column("answer_time", .double)
                t.column("end_time", .double)
                t.column("end_reason", .text)
            }
        }
        m.registerMigration("v2: recording") { db in
            try db.create(table: "recording") { t in
                t.primaryKey("id", .text)
                t.column("recording_uuid", .text).notNull()
                t.column("leg_uuid", .text).notNull().indexed()
                t.column("conversation_uuid", .text).notNull()
                t.column("application_id", .text)
                t.column("status", .text).notNull().indexed()
                t.column("format", .text).notNull()
                t.column("channels", .integer).notNull()
                t.column("sample_rate", .integer).notNull()
                t.column("path", .text).notNull()
                t.column("start_time", .double).notNull()
                t.column("end_time", .double).indexed()
                t.column("size", .integer)
                t.column("lost_ms", .integer).notNull().defaults(to: 0)
                t.column("error", .text)
                t.column("event_url", .text)
                t.column("event_method", .text)
            }
        }
        return m
    }

    private let pool: DatabasePool
    private let batcher: SaveBatcher
    private let logger: Logger
    public let path: String

    /// Opens (creating it, and its folder, if need be) the database at `path` and migrates it.
    public init(path: String, batchDelay: Duration = .milliseconds(50), logger: Logger = Logger(label: "patchbay.records")) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.label = "patchbay.records"
        configuration.busyMode = .timeout(5)
        let pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        // Revisions go on from the highest written, so rows saved after a restart replace older ones.
        let highest = try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(revision) FROM call") } ?? 0
        self.pool = pool
        self.path = path
        self.logger = logger
        batcher = SaveBatcher(nextRevision: highest + 1, batchDelay: batchDelay, logger: logger) { batch in
            try await pool.write { db in
                for (record, revision) in batch { try Self.upsert(record, revision: revision, in: db) }
            }
        }
    }

    public func save(_ record: CallRecord) {
        batcher.save(record)
    }

    public func flush() async throws {
        try await batcher.writeBatch()
    }

    private static func upsert(_ r: CallRecord, revision: Int64, in db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO call (uuid, revision, conversation_uuid, conversation_name, application_id, direction, status,
                    to_endpoint, from_endpoint, start_time, answer_time, end_time, end_reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(uuid) DO UPDATE SET
                    revision = excluded.revision, conversation_uuid = excluded.conversation_uuid,
                    conversation_name = excluded.conversation_name, application_id = excluded.application_id,
                    direction = excluded.direction, status = excluded.status, to_endpoint = excluded.to_endpoint,
                    from_endpoint = excluded.from_endpoint, start_time = excluded.start_time,
                    answer_time = excluded.answer_time, end_time = excluded.end_time, end_reason = excluded.end_reason
                WHERE excluded.revision > call.revision
                """,
            arguments: [
                r.uuid.uuidString.lowercased(), revision, r.conversationUUID.uuidString.lowercased(), r.conversationName,
                r.applicationID, r.direction.rawValue, r.status.rawValue, r.to, r.from, r.startTime.timeIntervalSince1970,
                r.answerTime?.timeIntervalSince1970, r.endTime?.timeIntervalSince1970, r.endReason,
            ])
    }

    public func call(_ uuid: UUID) async throws -> CallRecord? {
        try await flush()
        return try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM call WHERE uuid = ?", arguments: [uuid.uuidString.lowercased()]).map(Self.record)
        }
    }

    public func calls(_ query: CallQuery) async throws -> CallPage {
        try await flush()
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let application = query.applicationID {
            conditions.append("application_id = ?")
            arguments.append(application)
        }
        if let status = query.status {
            conditions.append("status = ?")
            arguments.append(status.rawValue)
        }
        if let start = query.dateStart {
            conditions.append("start_time >= ?")
            arguments.append(start.timeIntervalSince1970)
        }
        if let end = query.dateEnd {
            conditions.append("start_time <= ?")
            arguments.append(end.timeIntervalSince1970)
        }
        if let conversation = query.conversationUUID {
            conditions.append("conversation_uuid = ?")
            arguments.append(conversation.uuidString.lowercased())
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let order = query.order == .ascending ? "ASC" : "DESC"
        let filterArguments = StatementArguments(arguments)
        let page = StatementArguments(arguments + [query.pageSize, query.recordIndex])
        return try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM call \(filter)", arguments: filterArguments) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM call \(filter) ORDER BY start_time \(order), uuid \(order) LIMIT ? OFFSET ?", arguments: page)
            return CallPage(total: total, calls: try rows.map(Self.record))
        }
    }

    public func closeOrphans(at time: Date, reason: String) async throws -> Int {
        try await flush()
        let revision = batcher.takeRevision()
        return try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE call SET status = CASE status WHEN 'answered' THEN 'completed' ELSE 'failed' END,
                        end_time = ?, end_reason = ?, revision = ?
                    WHERE status IN ('started', 'answered')
                    """,
                arguments: [time.timeIntervalSince1970, reason, revision])
            return db.changesCount
        }
    }

    public func close() async throws {
        try await batcher.close()
        try pool.close()
    }

    // MARK: Recordings

    public func saveRecording(_ r: RecordingRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO recording (id, recording_uuid, leg_uuid, conversation_uuid, application_id, status,
                        format, channels, sample_rate, path, start_time, end_time, size, lost_ms, error, event_url, event_method)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    r.id.uuidString.lowercased(), r.recordingUUID.uuidString.lowercased(), r.legUUID.uuidString.lowercased(),
                    r.conversationUUID.uuidString.lowercased(), r.applicationID, r.status.rawValue, r.format, r.channels,
                    r.sampleRate, r.path, r.startTime.timeIntervalSince1970, r.endTime?.timeIntervalSince1970, r.size,
                    r.lostMilliseconds, r.error, r.eventURL, r.eventMethod,
                ])
        }
    }

    public func recording(_ id: UUID) async throws -> RecordingRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM recording WHERE id = ?", arguments: [id.uuidString.lowercased()]).map(Self.recording)
        }
    }

    public func recordings(ofLeg leg: UUID) async throws -> [RecordingRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM recording WHERE leg_uuid = ? ORDER BY start_time", arguments: [leg.uuidString.lowercased()]
            ).map(Self.recording)
        }
    }

    public func recordings(status: RecordingRecord.Status) async throws -> [RecordingRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM recording WHERE status = ? ORDER BY start_time", arguments: [status.rawValue])
                .map(Self.recording)
        }
    }

    public func recordings(endedBefore date: Date, limit: Int) async throws -> [RecordingRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM recording WHERE end_time < ? ORDER BY end_time LIMIT ?",
                arguments: [date.timeIntervalSince1970, limit]
            ).map(Self.recording)
        }
    }

    public func deleteRecording(_ id: UUID) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM recording WHERE id = ?", arguments: [id.uuidString.lowercased()])
        }
    }

    private static func recording(_ row: Row) throws -> RecordingRecord {
        func uuid(_ column: String) throws -> UUID {
            guard let text: String = row[column], let value = UUID(uuidString: text) else {
                throw RecordsError.malformedRow("recording \(column) is not a UUID")
            }
            return value
        }
        guard let status = RecordingRecord.Status(rawValue: row["status"] ?? ""), let start = row["start_time"] as Double? else {
            throw RecordsError.malformedRow("recording status or start_time")
        }
        var r = RecordingRecord(
            id: try uuid("id"), recordingUUID: try uuid("recording_uuid"), legUUID: try uuid("leg_uuid"),
            conversationUUID: try uuid("conversation_uuid"), applicationID: row["application_id"], status: status,
            format: row["format"] ?? "", channels: row["channels"] ?? 1, sampleRate: row["sample_rate"] ?? 8000, path: row["path"] ?? "",
            startTime: Date(timeIntervalSince1970: start), eventURL: row["event_url"], eventMethod: row["event_method"])
        r.endTime = (row["end_time"] as Double?).map(Date.init(timeIntervalSince1970:))
        r.size = row["size"]
        r.lostMilliseconds = row["lost_ms"] ?? 0
        r.error = row["error"]
        return r
    }

    /// A row as a record (a row this store wrote: a malformed one is an error, not a guess).
    private static func record(_ row: Row) throws -> CallRecord {
        func uuid(_ column: String) throws -> UUID {
            guard let text: String = row[column], let value = UUID(uuidString: text) else {
                throw RecordsError.malformedRow("\(column) is not a UUID")
            }
            return value
        }
        func date(_ column: String) -> Date? {
            (row[column] as Double?).map(Date.init(timeIntervalSince1970:))
        }
        guard let direction = CallRecord.Direction(rawValue: row["direction"] ?? ""),
            let status = CallRecord.Status(rawValue: row["status"] ?? ""), let start = date("start_time")
        else { throw RecordsError.malformedRow("direction, status or start_time") }
        var r = CallRecord(
            uuid: try uuid("uuid"), conversationUUID: try uuid("conversation_uuid"), conversationName: row["conversation_name"] ?? "",
            applicationID: row["application_id"], direction: direction, status: status, to: row["to_endpoint"] ?? "{}",
            from: row["from_endpoint"] ?? "{}", startTime: start)
        r.answerTime = date("answer_time")
        r.endTime = date("end_time")
        r.endReason = row["end_reason"]
        return r
    }
}

/// What went wrong reading records.
public enum RecordsError: Error, Equatable, CustomStringConvertible {
    case malformedRow(String)
    /// The database did not answer in time.
    case unavailable(String)

    public var description: String {
        switch self {
        case .malformedRow(let what): "a call record row is malformed: \(what)"
        case .unavailable(let what): "the call records' database is unavailable: \(what)"
        }
    }
}
