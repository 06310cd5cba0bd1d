public import Foundation

/// One recording: a row beside its leg's call record, from the moment it starts (`recording`) to its
/// end (`completed`, with its file, or `failed`, with why). Survives restarts: a row left `recording`
/// by a process that died is settled at the next start.
public struct RecordingRecord: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case recording, completed, failed
    }

    /// The file's id: `/v1/files/{id}`.
    public var id: UUID
    /// The recording's own UUID (the record event's `recording_uuid`, not the file's id).
    public var recordingUUID: UUID
    /// The leg whose NCCO asked for it (a conversation's recording: the leg that started it).
    public var legUUID: UUID
    public var conversationUUID: UUID
    public var applicationID: String?
    public var status: Status
    /// `wav`, `mp3` or `ogg`.
    public var format: String
    public var channels: Int
    public var sampleRate: Int
    /// The file's path (its temporary name while `recording`).
    public var path: String
    public var startTime: Date
    public var endTime: Date?
    /// Bytes, once complete.
    public var size: Int?
    /// Milliseconds of audio lost (the encoder fell behind): silence in their place.
    public var lostMilliseconds: Int
    /// Why it failed, or what went wrong in a file that was kept.
    public var error: String?
    /// Where the record event goes (`eventUrl`), and how (`eventMethod`); nil: the application's.
    public var eventURL: String?
    public var eventMethod: String?

    public init(
        id: UUID = UUID(), recordingUUID: UUID = UUID(), legUUID: UUID, conversationUUID: UUID, applicationID: String?,
        status: Status = .recording, format: String, channels: Int, sampleRate: Int, path: String, startTime: Date,
        eventURL: String? = nil, eventMethod: String? = nil
    ) {
        self.id = id
        self.recordingUUID = recordingUUID
        self.legUUID = legUUID
        self.conversationUUID = conversationUUID
        self.applicationID = applicationID
        self.status = status
        self.format = format
        self.channels = channels
        self.sampleRate = sampleRate
        self.path = path
        self.startTime = startTime
        lostMilliseconds = 0
        self.eventURL = eventURL
        self.eventMethod = eventMethod
    }
}

/// Where recording rows live (the call records' store keeps them too: `SQLiteCallStore`). Rows change
/// twice in a recording's life, so these write at once rather than in batches.
public protocol RecordingStore: Sendable {
    func saveRecording(_ recording: RecordingRecord) async throws
    func recording(_ id: UUID) async throws -> RecordingRecord?
    /// A leg's recordings, oldest first.
    func recordings(ofLeg leg: UUID) async throws -> [RecordingRecord]
    func recordings(status: RecordingRecord.Status) async throws -> [RecordingRecord]
    /// Recordings that ended before `date` (for retention), oldest first.
    func recordings(endedBefore date: Date, limit: Int) async throws -> [RecordingRecord]
    func deleteRecording(_ id: UUID) async throws
}
