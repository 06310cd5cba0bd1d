import Foundation
import NIOCore
import NIOPosix
import PatchbayEngine
import PatchbayVoiceAPI
import Synchronization

/// The speech and AI services dialled for each leg (a route's `connect`, an NCCO's `connect`, a call the
/// control API made), hung up when the leg they were dialled for ends.
final class ServiceLinks: Sendable {
    private let dialing: ServiceDialing
    private let group: MultiThreadedEventLoopGroup
    private let links = Mutex<[UUID: [ServiceLink]]>([:])

    init(dialing: ServiceDialing, group: MultiThreadedEventLoopGroup) {
        self.dialing = dialing
        self.group = group
    }

    /// Dials `endpoints` for `anchor` (on `loop`, the caller's own event loop, when given).
    /// - Returns: the links, one per endpoint (an NCCO's `connect` hangs them up at its `limit`).
    @discardableResult
    func connect(_ endpoints: [WebSocketEndpoint], for anchor: any ServiceAnchor, on loop: (any EventLoop)? = nil) -> [ServiceLink] {
        guard !endpoints.isEmpty else { return [] }
        let loop = loop ?? group.next()
        let started = endpoints.map { ServiceLink(endpoint: $0, caller: anchor, eventLoop: loop, dialing: dialing) }
        links.withLock { $0[anchor.id, default: []] += started }
        for link in started { link.start() }
        return started
    }

    /// Dials one service as a new call of `application` (`POST /v1/calls`): its leg is `link.legID`.
    func dial(_ endpoint: WebSocketEndpoint, for anchor: DialledConversation, application: String, from: String) {
        let link = ServiceLink(
            endpoint: endpoint, caller: anchor, eventLoop: group.next(), dialing: dialing, application: application, from: from,
            legID: anchor.id)
        links.withLock { $0[anchor.id] = [link] }
        link.start()
    }

    /// The leg `id` has ended: its services are hung up and no longer dialled.
    func stop(for id: UUID, reason: String = "caller hung up") {
        guard let ended = links.withLock({ $0.removeValue(forKey: id) }) else { return }
        for link in ended { link.stop(reason: reason) }
    }

    /// A dialled call's leg has ended: its link is forgotten (it stopped itself).
    func forget(_ id: UUID) {
        _ = links.withLock { $0.removeValue(forKey: id) }
    }
}
