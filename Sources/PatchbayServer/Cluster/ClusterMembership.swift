import Foundation
import Logging
import PatchbayEngine
import PatchbayRecords
import Synchronization

/// This gateway among the others sharing a PostgreSQL database: every `heartbeat` it writes its row in
/// `node` (alive, its legs, draining), then looks for gateways silent for `deadAfter`. One that is dead
/// is claimed by exactly one survivor (`PostgresCallStore.reapDeadNodes`, one transaction), which closes
/// its live legs' records — answered ones `completed`, the rest `failed`, with the reason `gateway
/// lost` — and sends their webhooks, once.
final class ClusterMembership: Sendable {
    private let store: PostgresCallStore
    private let engine: Engine
    private let webhooks: EventWebhooks?
    private let draining: DrainFlag
    private let heartbeat: Duration
    private let deadAfter: Double
    private let logger: Logger
    private let loop = Mutex<Task<Void, Never>?>(nil)

    init(
        store: PostgresCallStore, engine: Engine, webhooks: EventWebhooks?, draining: DrainFlag, heartbeatSeconds: Double,
        deadAfterSeconds: Double, logger: Logger
    ) {
        self.store = store
        self.engine = engine
        self.webhooks = webhooks
        self.draining = draining
        heartbeat = .milliseconds(Int64(heartbeatSeconds * 1000))
        deadAfter = deadAfterSeconds
        self.logger = logger
    }

    /// Writes the first heartbeat (so the others see this gateway before it takes legs), then beats on.
    func start() async throws {
        try await store.heartbeat(legs: 0, draining: false)
        let task = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                if Task.isCancelled { break }
                await beat()
            }
        }
        loop.withLock { $0 = task }
    }

    private func beat() async {
        do {
            try await store.heartbeat(legs: engine.legs.count, draining: draining.isSet)
        } catch {
            logger.error("cannot write this gateway's heartbeat", metadata: ["error": "\(error)"])
            return
        }
        do {
            let now = Date()
            let (nodes, legs) = try await store.reapDeadNodes(silentSince: now.addingTimeInterval(-deadAfter), at: now, reason: "gateway lost")
            for node in nodes {
                logger.warning(
                    "a gateway stopped answering: its legs are closed",
                    metadata: ["node": "\(node)", "legs": "\(legs.count)", "after_seconds": "\(deadAfter)"])
            }
            for record in legs {
                webhooks?.status(record.status.rawValue, of: record, at: record.endTime ?? now, detail: "gateway lost")
            }
        } catch {
            logger.error("cannot look for gateways that stopped answering", metadata: ["error": "\(error)"])
        }
    }

    /// Stops beating and leaves the cluster (this gateway's legs were closed by its own shutdown).
    func stop() async {
        let task = loop.withLock { $0 }
        guard let task else { return }  // never started: not in the table
        task.cancel()
        await task.value
        do {
            try await store.leave()
        } catch {
            logger.error("cannot remove this gateway from the cluster's nodes", metadata: ["error": "\(error)"])
        }
    }
}
