public import Foundation
public import Logging
public import PostgresNIO
import Synchronization

/// Call and recording records in PostgreSQL (postgres-nio), shared by every gateway of a cluster: the same
/// interface and the same write path as `SQLiteCallStore` — saves coalesced per leg, one transaction per
/// batch, a row written only where its revision is newer — with each row marked by the gateway that holds
/// the leg (`node_id`), so that a gateway closes and recovers only its own.
///
/// The schema is migrated on open, under an advisory lock, so gateways starting together migrate once.
public final class PostgresCallStore: CallStore, RecordingStore {
    /// The schema, version by version. Never edit a migration that has shipped; add the next one.
    static let migrations: [(version: String, statements: [String])] = [
        (
            "v1: call",
            [
                """
                CREATE TABLE call (
                    uuid UUID PRIMARY KEY, revision BIGINT NOT NULL, node_id TEXT NOT NULL,
                    conversation_uuid UUID NOT NULL, conversation_name TEXT NOT NULL, application_id TEXT,
                    direction TEXT NOT NULL, status TEXT NOT NULL, to_endpoint TEXT NOT NULL, from_endpoint TEXT NOT NULL,
                    start_time DOUBLE PRECISION NOT NULL, answer_time DOUBLE PRECISION, end_time DOUBLE PRECISION, end_reason TEXT)
                """,
                "CREATE INDEX call_conversation ON call (conversation_uuid)",
                "CREATE INDEX call_application_start ON call (application_id, start_time)",
                "CREATE INDEX call_status ON call (status)",
                "CREATE INDEX call_start ON call (start_time)",
                "CREATE INDEX call_live_node ON call (node_id) WHERE status IN ('started', 'answered')",
            ]
        ),
        (
            "v2: recording",
            [
                """
                CREATE TABLE recording (
                    id UUID PRIMARY KEY, recording_uuid UUID NOT NULL, leg_uuid UUID NOT NULL, conversation_uuid UUID NOT NULL,
                    node_id TEXT NOT NULL, application_id TEXT, status TEXT NOT NULL, format TEXT NOT NULL,
                    channels INTEGER NOT NULL, sample_rate INTEGER NOT NULL, path TEXT NOT NULL,
                    start_time DOUBLE PRECISION NOT NULL, end_time DOUBLE PRECISION, size BIGINT, lost_ms BIGINT NOT NULL DEFAULT 0,
                    error TEXT, event_url TEXT, event_method TEXT)
                """,
                "CREATE INDEX recording_leg ON recording (leg_uuid)",
                "CREATE INDEX recording_node_status ON recording (node_id, status)",
                "CREATE INDEX recording_end ON recording (end_time)",
            ]
        ),
        (
            "v3: node",
            [
                """
                CREATE TABLE node (
                    id TEXT PRIMARY KEY, heartbeat DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION NOT NULL,
                    legs INTEGER NOT NULL DEFAULT 0, draining BOOLEAN NOT NULL DEFAULT false)
                """
            ]
        ),
    ]

    private static let columns =
        "uuid, revision, node_id, conversation_uuid, conversation_name, application_id, direction, status, to_endpoint, from_endpoint, start_time, answer_time, end_time, end_reason"
    private static let recordingColumns =
        "id, recording_uuid, leg_uuid, conversation_uuid, node_id, application_id, status, format, channels, sample_rate, path, start_time, end_time, size, lost_ms, error, event_url, event_method"

    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let batcher: SaveBatcher
    private let logger: Logger
    /// The gateway this store writes for.
    public let nodeID: String

    /// How the connection is protected.
    public enum Security: Sendable {
        /// Plain TCP (a database on the same host or network).
        case none
        /// TLS when the server offers it.
        case preferTLS
        /// TLS or no connection (the server's certificate checked against the system's roots).
        case requireTLS
    }

    /// A server by its address.
    public convenience init(
        host: String, port: Int, database: String, user: String, password: String?, security: Security, nodeID: String,
        batchDelay: Duration = .milliseconds(50), logger: Logger = Logger(label: "patchbay.records")
    ) {
        let tls: PostgresClient.Configuration.TLS =
            switch security {
            case .none: .disable
            case .preferTLS: .prefer(.makeClientConfiguration())
            case .requireTLS: .require(.makeClientConfiguration())
            }
        self.init(
            configuration: .init(host: host, port: port, username: user, password: password, database: database, tls: tls), nodeID: nodeID,
            batchDelay: batchDelay, logger: logger)
    }

    /// The client and the writer; `open()` connects and migrates before the first save.
    public init(
        configuration: PostgresClient.Configuration, nodeID: String, batchDelay: Duration = .milliseconds(50),
        logger: Logger = Logger(label: "patchbay.records")
    ) {
        var configuration = configuration
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
        self.logger = logger
        self.nodeID = nodeID
        batcher = SaveBatcher(nextRevision: 1, batchDelay: batchDelay, logger: logger) { [nodeID] batch in
            try await Self.upsert(batch, node: nodeID, client: client, logger: logger)
        }
    }

    /// Connects and migrates the schema. Throws when the database cannot be reached within `timeout`
    /// (the pool would otherwise go on retrying) or cannot be migrated.
    public func open(timeout: Duration = .seconds(10)) async throws {
        let client = client
        let logger = logger
        let highest = try await Self.bounded(timeout, "connecting to PostgreSQL") {
            try await Self.migrate(client, logger: logger)
            return try await Self.highestRevision(client, logger: logger)
        }
        batcher.raiseRevision(above: highest)
    }

    public func open() async throws {
        try await open(timeout: .seconds(10))
    }

    /// `operation`, or `RecordsError.unavailable` once `limit` has passed: the answer comes by then
    /// whatever the operation does (it is cancelled, and may finish later in the background: a lease
    /// waiting for a connection does not end at once).
    static func bounded<T: Sendable>(_ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let race = Race(continuation)
            race.work.withLock {
                $0 = Task {
                    do {
                        _ = race.answer(.success(try await operation()))
                    } catch let error as PSQLError {
                        // The server went away or refused: unavailable, with what it said (its description
                        // alone is generic on purpose).
                        let said = error.serverInfo?[.message] ?? error.underlying.map { "\($0)" } ?? ""
                        _ = race.answer(.failure(RecordsError.unavailable("\(what): \(error.code) \(said)")))
                    } catch {
                        _ = race.answer(.failure(error))
                    }
                }
            }
            Task {
                try? await Task.sleep(for: limit)
                if race.answer(.failure(RecordsError.unavailable("\(what): no answer within \(limit)"))) { race.work.withLock { $0 }?.cancel() }
            }
        }
    }

    /// An operation against its deadline: whichever answers first resumes the caller.
    private final class Race<T: Sendable>: Sendable {
        let continuation: CheckedContinuation<T, any Error>
        let answered = Mutex(false)
        let work = Mutex<Task<Void, Never>?>(nil)

        init(_ continuation: CheckedContinuation<T, any Error>) {
            self.continuation = continuation
        }

        func answer(_ result: Result<T, any Error>) -> Bool {
            let first = answered.withLock { done in
                defer { done = true }
                return !done
            }
            if first { continuation.resume(with: result) }
            return first
        }
    }

    private static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            // One gateway at a time: the others wait here, then find the work done.
            try await connection.query("SELECT pg_advisory_xact_lock(7261776866)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS patchbay_migration (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger)
            var applied: Set<String> = []
            for try await version in try await connection.query("SELECT version FROM patchbay_migration", logger: logger).decode(String.self) {
                applied.insert(version)
            }
            for (version, statements) in migrations where !applied.contains(version) {
                for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query("INSERT INTO patchbay_migration (version) VALUES (\(version))", logger: logger)
                logger.notice("migrated the call records", metadata: ["version": "\(version)"])
            }
        }
    }

    private static func highestRevision(_ client: PostgresClient, logger: Logger) async throws -> Int64 {
        let rows = try await client.query("SELECT COALESCE(MAX(revision), 0) FROM call", logger: logger)
        for try await highest in rows.decode(Int64.self) { return highest }
        return 0
    }

    // MARK: Calls

    public func save(_ record: CallRecord) {
        batcher.save(record)
    }

    public func flush() async throws {
        try await batcher.writeBatch()
    }

    /// One statement per batch: every row upserted, each only over an older revision.
    private static func upsert(_ batch: SaveBatcher.Batch, node: String, client: PostgresClient, logger: Logger) async throws {
        var bindings = PostgresBindings(capacity: batch.count * 14)
        var values: [String] = []
        values.reserveCapacity(batch.count)
        for (i, (r, revision)) in batch.enumerated() {
            let base = i * 14
            values.append("(" + (1...14).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
            bindings.append(r.uuid)
            bindings.append(revision)
            bindings.append(node)
            bindings.append(r.conversationUUID)
            bindings.append(r.conversationName)
            bindings.append(r.applicationID)
            bindings.append(r.direction.rawValue)
            bindings.append(r.status.rawValue)
            bindings.append(r.to)
            bindings.append(r.from)
            bindings.append(r.startTime.timeIntervalSince1970)
            bindings.append(r.answerTime?.timeIntervalSince1970)
            bindings.append(r.endTime?.timeIntervalSince1970)
            bindings.append(r.endReason)
        }
        let sql = """
            INSERT INTO call (\(columns)) VALUES \(values.joined(separator: ", "))
            ON CONFLICT (uuid) DO UPDATE SET
                revision = excluded.revision, node_id = excluded.node_id, conversation_uuid = excluded.conversation_uuid,
                conversation_name = excluded.conversation_name, application_id = excluded.application_id,
                direction = excluded.direction, status = excluded.status, to_endpoint = excluded.to_endpoint,
                from_endpoint = excluded.from_endpoint, start_time = excluded.start_time, answer_time = excluded.answer_time,
                end_time = excluded.end_time, end_reason = excluded.end_reason
            WHERE excluded.revision > call.revision
            """
        try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
    }

    /// How long a read may wait for the database before it is `RecordsError.unavailable`.
    static let readLimit: Duration = .seconds(5)

    public func call(_ uuid: UUID) async throws -> CallRecord? {
        let (client, logger, batcher) = (client, logger, batcher)
        return try await Self.bounded(Self.readLimit, "reading a call") {
            try? await batcher.writeBatch()  // every save before the read, when it can be written
            let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM call WHERE uuid = \(uuid)", logger: logger)
            for try await row in rows { return try Self.record(row) }
            return nil
        }
    }

    public func calls(_ query: CallQuery) async throws -> CallPage {
        let (client, logger, batcher) = (client, logger, batcher)
        return try await Self.bounded(Self.readLimit, "listing calls") {
            try? await batcher.writeBatch()
            return try await Self.list(query, client: client, logger: logger)
        }
    }

    private static func list(_ query: CallQuery, client: PostgresClient, logger: Logger) async throws -> CallPage {
        var conditions: [String] = []
        var bindings = PostgresBindings()
        func bind(_ condition: String, _ value: some PostgresDynamicTypeEncodable) {
            bindings.append(value)
            conditions.append(condition.replacingOccurrences(of: "?", with: "$\(bindings.count)"))
        }
        if let application = query.applicationID { bind("application_id = ?", application) }
        if let status = query.status { bind("status = ?", status.rawValue) }
        if let start = query.dateStart { bind("start_time >= ?", start.timeIntervalSince1970) }
        if let end = query.dateEnd { bind("start_time <= ?", end.timeIntervalSince1970) }
        if let conversation = query.conversationUUID { bind("conversation_uuid = ?", conversation) }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let order = query.order == .ascending ? "ASC" : "DESC"
        var total = 0
        for try await count in try await client.query(
            PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM call \(filter)", binds: bindings), logger: logger
        )
        .decode(Int.self) {
            total = count
        }
        var page = bindings
        page.append(query.pageSize)
        page.append(query.recordIndex)
        let sql =
            "SELECT \(columns) FROM call \(filter) ORDER BY start_time \(order), uuid \(order) LIMIT $\(page.count - 1) OFFSET $\(page.count)"
        var calls: [CallRecord] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: page), logger: logger) {
            calls.append(try record(row))
        }
        return CallPage(total: total, calls: calls)
    }

    /// Closes this gateway's own live legs (it restarted): the others' are theirs.
    public func closeOrphans(at time: Date, reason: String) async throws -> Int {
        try await flush()
        let revision = batcher.takeRevision()
        let rows = try await client.query(
            """
            UPDATE call SET status = CASE status WHEN 'answered' THEN 'completed' ELSE 'failed' END,
                end_time = \(time.timeIntervalSince1970), end_reason = \(reason), revision = \(revision)
            WHERE node_id = \(nodeID) AND status IN ('started', 'answered')
            RETURNING uuid
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    public func close() async throws {
        do {
            try await batcher.close()
        } catch {
            runner.cancel()
            await runner.value
            throw error
        }
        runner.cancel()
        await runner.value
    }

    // MARK: Nodes

    /// This gateway is alive, with `legs` legs, draining or not (its row in `node`, made on the first).
    public func heartbeat(legs: Int, draining: Bool, at time: Date = Date()) async throws {
        let now = time.timeIntervalSince1970
        let (client, logger, me) = (client, logger, nodeID)
        _ = try await Self.bounded(Self.readLimit, "writing the heartbeat") {
            try await client.query(
                """
                INSERT INTO node (id, heartbeat, started, legs, draining) VALUES (\(me), \(now), \(now), \(legs), \(draining))
                ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat, legs = excluded.legs, draining = excluded.draining
                """, logger: logger)
            return true
        }
    }

    /// This gateway leaves the cluster (a clean stop: its legs are closed already).
    public func leave() async throws {
        let (client, logger, me) = (client, logger, nodeID)
        _ = try await Self.bounded(Self.readLimit, "leaving the cluster") {
            try await client.query("DELETE FROM node WHERE id = \(me)", logger: logger)
            return true
        }
    }

    /// Claims every other gateway silent since `silentSince` and closes its live legs (answered ones
    /// `completed`, the rest `failed`, ended at `time` with `reason`), in one transaction: of several
    /// survivors doing this at once, exactly one gets each dead gateway and its legs. Returns the
    /// gateways claimed and the legs closed, as they are now.
    /// (The rows are another gateway's: this one's pending saves need not be written first.)
    public func reapDeadNodes(silentSince: Date, at time: Date, reason: String) async throws -> (nodes: [String], legs: [CallRecord]) {
        let revision = batcher.takeRevision()
        let (me, logger, client) = (nodeID, logger, client)
        return try await Self.bounded(Self.readLimit, "looking for dead gateways") {
            try await Self.reap(me: me, silentSince: silentSince, at: time, reason: reason, revision: revision, client: client, logger: logger)
        }
    }

    private static func reap(
        me: String, silentSince: Date, at time: Date, reason: String, revision: Int64, client: PostgresClient, logger: Logger
    ) async throws -> (nodes: [String], legs: [CallRecord]) {
        try await client.withTransaction(logger: logger) { connection in
            var dead: [String] = []
            let claimed = try await connection.query(
                "DELETE FROM node WHERE id <> \(me) AND heartbeat < \(silentSince.timeIntervalSince1970) RETURNING id", logger: logger)
            for try await id in claimed.decode(String.self) { dead.append(id) }
            var legs: [CallRecord] = []
            for node in dead {
                let closed = try await connection.query(
                    """
                    UPDATE call SET status = CASE status WHEN 'answered' THEN 'completed' ELSE 'failed' END,
                        end_time = \(time.timeIntervalSince1970), end_reason = \(reason), revision = \(revision)
                    WHERE node_id = \(node) AND status IN ('started', 'answered')
                    RETURNING \(unescaped: columns)
                    """, logger: logger)
                for try await row in closed { legs.append(try record(row)) }
            }
            return (dead, legs)
        }
    }

    // MARK: Recordings

    public func saveRecording(_ r: RecordingRecord) async throws {
        try await client.query(
            """
            INSERT INTO recording (\(unescaped: Self.recordingColumns)) VALUES (\(r.id), \(r.recordingUUID), \(r.legUUID),
                \(r.conversationUUID), \(nodeID), \(r.applicationID), \(r.status.rawValue), \(r.format), \(r.channels),
                \(r.sampleRate), \(r.path), \(r.startTime.timeIntervalSince1970), \(r.endTime?.timeIntervalSince1970), \(r.size),
                \(r.lostMilliseconds), \(r.error), \(r.eventURL), \(r.eventMethod))
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, path = excluded.path, end_time = excluded.end_time,
                size = excluded.size, lost_ms = excluded.lost_ms, error = excluded.error
            """, logger: logger)
    }

    public func recording(_ id: UUID) async throws -> RecordingRecord? {
        try await recordings("SELECT \(unescaped: Self.recordingColumns) FROM recording WHERE id = \(id)").first
    }

    public func recordings(ofLeg leg: UUID) async throws -> [RecordingRecord] {
        try await recordings("SELECT \(unescaped: Self.recordingColumns) FROM recording WHERE leg_uuid = \(leg) ORDER BY start_time")
    }

    /// This gateway's recordings in `status` (its files are on its own disk).
    public func recordings(status: RecordingRecord.Status) async throws -> [RecordingRecord] {
        try await recordings(
            """
            SELECT \(unescaped: Self.recordingColumns) FROM recording WHERE node_id = \(nodeID) AND status = \(status.rawValue)
            ORDER BY start_time
            """)
    }

    /// This gateway's recordings that ended before `date`.
    public func recordings(endedBefore date: Date, limit: Int) async throws -> [RecordingRecord] {
        try await recordings(
            """
            SELECT \(unescaped: Self.recordingColumns) FROM recording
            WHERE node_id = \(nodeID) AND end_time < \(date.timeIntervalSince1970) ORDER BY end_time LIMIT \(limit)
            """)
    }

    public func deleteRecording(_ id: UUID) async throws {
        try await client.query("DELETE FROM recording WHERE id = \(id)", logger: logger)
    }

    private func recordings(_ query: PostgresQuery) async throws -> [RecordingRecord] {
        let (client, logger) = (client, logger)
        return try await Self.bounded(Self.readLimit, "reading recordings") {
            var out: [RecordingRecord] = []
            for try await row in try await client.query(query, logger: logger) { out.append(try Self.recording(row)) }
            return out
        }
    }

    // MARK: Rows

    private static func record(_ row: PostgresRow) throws -> CallRecord {
        let c = row.makeRandomAccess()
        guard let direction = CallRecord.Direction(rawValue: try c["direction"].decode(String.self)),
            let status = CallRecord.Status(rawValue: try c["status"].decode(String.self))
        else { throw RecordsError.malformedRow("direction or status") }
        var r = CallRecord(
            uuid: try c["uuid"].decode(UUID.self), conversationUUID: try c["conversation_uuid"].decode(UUID.self),
            conversationName: try c["conversation_name"].decode(String.self), applicationID: try c["application_id"].decode(String?.self),
            direction: direction, status: status, to: try c["to_endpoint"].decode(String.self), from: try c["from_endpoint"].decode(String.self),
            startTime: Date(timeIntervalSince1970: try c["start_time"].decode(Double.self)))
        r.answerTime = try c["answer_time"].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        r.endTime = try c["end_time"].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        r.endReason = try c["end_reason"].decode(String?.self)
        return r
    }

    private static func recording(_ row: PostgresRow) throws -> RecordingRecord {
        let c = row.makeRandomAccess()
        guard let status = RecordingRecord.Status(rawValue: try c["status"].decode(String.self)) else {
            throw RecordsError.malformedRow("recording status")
        }
        var r = RecordingRecord(
            id: try c["id"].decode(UUID.self), recordingUUID: try c["recording_uuid"].decode(UUID.self),
            legUUID: try c["leg_uuid"].decode(UUID.self), conversationUUID: try c["conversation_uuid"].decode(UUID.self),
            applicationID: try c["application_id"].decode(String?.self), status: status, format: try c["format"].decode(String.self),
            channels: try c["channels"].decode(Int.self), sampleRate: try c["sample_rate"].decode(Int.self),
            path: try c["path"].decode(String.self), startTime: Date(timeIntervalSince1970: try c["start_time"].decode(Double.self)),
            eventURL: try c["event_url"].decode(String?.self), eventMethod: try c["event_method"].decode(String?.self))
        r.endTime = try c["end_time"].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        r.size = try c["size"].decode(Int?.self)
        r.lostMilliseconds = try c["lost_ms"].decode(Int.self)
        r.error = try c["error"].decode(String?.self)
        return r
    }
}
