public import Foundation

/// Where call records live: one small interface, so that the embedded SQLite database can give way to a
/// shared one (PostgreSQL, for several gateways) without the gateway changing.
///
/// Saving never waits: the gateway hands over a record as it is now, from wherever the change happened,
/// and the store writes rows in batches off that path. Reads see every save made before them.
public protocol CallStore: Sendable {
    /// Connects and brings the schema up to date, before the first save (a store opened by its
    /// initialiser does nothing here).
    func open() async throws
    /// The record as it is now, replacing what was saved for its `uuid` before. Returns at once.
    func save(_ record: CallRecord)
    /// Returns once every record saved before the call is written.
    func flush() async throws
    func call(_ uuid: UUID) async throws -> CallRecord?
    func calls(_ query: CallQuery) async throws -> CallPage
    /// Closes the legs a gateway that died left live: `answered` ones become `completed`, `started` ones
    /// `failed`, ended at `time` with `reason`. Returns how many there were.
    func closeOrphans(at time: Date, reason: String) async throws -> Int
    /// Writes what is pending and closes the store: no saves after this.
    func close() async throws
}

extension CallStore {
    public func open() async throws {}
}
