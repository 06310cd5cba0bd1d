import Foundation
import Logging
import Synchronization

/// The stores' write path: saves coalesced per leg, each with a revision, written in one batch at most
/// `batchDelay` after the first save of the batch by a task of its own. A batch that fails is put back
/// (what no newer save replaced meanwhile) and tried again with the next.
final class SaveBatcher: Sendable {
    typealias Batch = [(record: CallRecord, revision: Int64)]

    private struct Pending {
        var records: [UUID: (record: CallRecord, revision: Int64)] = [:]
        var nextRevision: Int64
        var writerKicked = false
        var closed = false
    }

    private let state: Mutex<Pending>
    private let write: @Sendable (Batch) async throws -> Void
    private let kicks: AsyncStream<Void>.Continuation
    private let writer: Mutex<Task<Void, Never>?> = Mutex(nil)

    /// `write` writes one batch in one transaction (a row only where its revision is newer).
    init(nextRevision: Int64, batchDelay: Duration, logger: Logger, write: @escaping @Sendable (Batch) async throws -> Void) {
        state = Mutex(Pending(nextRevision: nextRevision))
        self.write = write
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        kicks = continuation
        let task = Task { [weak self] in
            for await _ in stream {
                try? await Task.sleep(for: batchDelay)
                // Cancelled by close(), which writes what is pending itself (a write in a cancelled
                // task would only fail with CancellationError and be put back).
                if Task.isCancelled { break }
                do {
                    try await self?.writeBatch()
                } catch {
                    logger.error("could not write call records (kept, tried again in a second)", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                    self?.kick()
                }
            }
        }
        writer.withLock { $0 = task }
    }

    deinit {
        kicks.finish()
        writer.withLock { $0?.cancel() }
    }

    private func kick() {
        state.withLock { $0.writerKicked = true }
        kicks.yield()
    }

    func save(_ record: CallRecord) {
        let kick = state.withLock { p -> Bool in
            guard !p.closed else { return false }
            p.records[record.uuid] = (record, p.nextRevision)
            p.nextRevision += 1
            defer { p.writerKicked = true }
            return !p.writerKicked
        }
        if kick { kicks.yield() }
    }

    /// Revisions from now on are above `highest` (the highest a shared database holds).
    func raiseRevision(above highest: Int64) {
        state.withLock { p in p.nextRevision = max(p.nextRevision, highest + 1) }
    }

    /// The revision a change made outside the batches (closing orphans) takes: newer than every save so far.
    func takeRevision() -> Int64 {
        state.withLock { p in
            defer { p.nextRevision += 1 }
            return p.nextRevision
        }
    }

    /// The last write started: each write waits for the one before, so that a flush returns only once
    /// every save made before it is written (a batch the writer has in flight included).
    private let lastWrite = Mutex<Task<Void, any Error>?>(nil)

    /// Takes what is pending and writes it, after any write in flight; on failure puts back what no newer
    /// save has replaced.
    func writeBatch() async throws {
        let task = lastWrite.withLock { last -> Task<Void, any Error> in
            let previous = last
            let next = Task {
                _ = await previous?.result
                try await self.writePending()
            }
            last = next
            return next
        }
        try await task.value
    }

    private func writePending() async throws {
        let batch = state.withLock { p -> Batch in
            p.writerKicked = false
            defer { p.records.removeAll(keepingCapacity: true) }
            return Array(p.records.values)
        }
        guard !batch.isEmpty else { return }
        do {
            try await write(batch)
        } catch {
            state.withLock { p in
                for item in batch where (p.records[item.record.uuid]?.revision ?? 0) < item.revision {
                    p.records[item.record.uuid] = item
                }
            }
            throw error
        }
    }

    /// No saves after this; waits for the writer, then writes what is pending.
    func close() async throws {
        state.withLock { $0.closed = true }
        kicks.finish()
        let task = writer.withLock { $0 }
        task?.cancel()  // cuts its wait short; a batch it was writing is written, or put back
        await task?.value
        try await writeBatch()
    }
}
