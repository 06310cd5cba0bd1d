public import Foundation

/// One leg as the control API shows it (the Voice API's call object): a row that outlives the process.
///
/// `to` and `from` are endpoint objects kept as JSON text, exactly as they are shown (`{"type":"websocket",
/// "uri":...,"content-type":...}` for a websocket leg, `{"type":"phone","number":...}` when the caller's
/// `websocket:connected` named a number).
public struct CallRecord: Sendable, Equatable, Codable {
    /// The Voice API's call statuses that Patchbay's legs go through.
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// The leg exists (a websocket upgraded, or a service being dialled).
        case started
        /// Audio flows: the peer said `websocket:connected` (inbound) or the service answered (outbound).
        case answered
        /// Ended after it was answered.
        case completed
        /// Ended before it was ever answered (a service that could not be reached, a peer that never
        /// said `connected`), or cut off by the gateway's own end.
        case failed
    }

    public enum Direction: String, Sendable, Codable {
        /// The Voice API (or another client) dialled Patchbay.
        case inbound
        /// Patchbay dialled a service.
        case outbound
    }

    public var uuid: UUID
    public var conversationUUID: UUID
    /// The conversation's name inside Patchbay (a route's fixed name, a header's value, or the caller's own).
    public var conversationName: String
    /// The control API application the leg belongs to (nil: none — a route without one while several
    /// are configured — and no application sees it).
    public var applicationID: String?
    public var direction: Direction
    public var status: Status
    public var to: String
    public var from: String
    public var startTime: Date
    public var answerTime: Date?
    public var endTime: Date?
    /// Why it ended, in words (a close code, "gateway restarted", ...).
    public var endReason: String?

    public init(
        uuid: UUID, conversationUUID: UUID, conversationName: String, applicationID: String? = nil, direction: Direction,
        status: Status = .started, to: String, from: String, startTime: Date
    ) {
        self.uuid = uuid
        self.conversationUUID = conversationUUID
        self.conversationName = conversationName
        self.applicationID = applicationID
        self.direction = direction
        self.status = status
        self.to = to
        self.from = from
        self.startTime = startTime
    }

    /// Seconds from answer to end (or to now while live); nil before it was answered.
    public func duration(now: Date = Date()) -> Int? {
        guard let answerTime else { return nil }
        return max(0, Int((endTime ?? now).timeIntervalSince(answerTime).rounded()))
    }

    /// Whether the leg is still live.
    public var isLive: Bool { status == .started || status == .answered }
}

/// Which rows a listing wants (the Voice API's `GET /v1/calls` filters), and which page.
public struct CallQuery: Sendable, Equatable {
    public enum Order: String, Sendable { case ascending = "asc", descending = "desc" }

    public var applicationID: String?
    public var status: CallRecord.Status?
    public var dateStart: Date?
    public var dateEnd: Date?
    public var conversationUUID: UUID?
    /// Rows skipped (the Voice API's `record_index`).
    public var recordIndex: Int
    public var pageSize: Int
    public var order: Order

    public init(
        applicationID: String? = nil, status: CallRecord.Status? = nil, dateStart: Date? = nil, dateEnd: Date? = nil,
        conversationUUID: UUID? = nil, recordIndex: Int = 0, pageSize: Int = 10, order: Order = .ascending
    ) {
        self.applicationID = applicationID
        self.status = status
        self.dateStart = dateStart
        self.dateEnd = dateEnd
        self.conversationUUID = conversationUUID
        self.recordIndex = recordIndex
        self.pageSize = pageSize
        self.order = order
    }
}

/// One page of a listing, with how many rows match in all.
public struct CallPage: Sendable, Equatable {
    public var total: Int
    public var calls: [CallRecord]

    public init(total: Int, calls: [CallRecord]) {
        self.total = total
        self.calls = calls
    }
}
