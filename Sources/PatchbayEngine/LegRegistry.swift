import Foundation
import Synchronization

/// The legs attached to an engine, by id (for the control API and metrics; never used on a tick).
final class LegRegistry: Sendable {
    private let legs = Mutex<[UUID: Leg]>([:])

    subscript(id: UUID) -> Leg? { legs.withLock { $0[id] } }

    var all: [Leg] { legs.withLock { Array($0.values) } }

    var count: Int { legs.withLock { $0.count } }

    func insert(_ leg: Leg) {
        legs.withLock { $0[leg.id] = leg }
    }

    @discardableResult
    func remove(_ id: UUID) -> Leg? {
        legs.withLock { $0.removeValue(forKey: id) }
    }
}
