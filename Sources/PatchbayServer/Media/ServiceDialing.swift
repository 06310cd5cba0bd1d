import Foundation
import Logging
import NIOCore
import NIOSSL
import PatchbayConfiguration
import PatchbayEngine
import PatchbayVoiceAPI
import Synchronization

/// What every service link of a gateway shares: the event loops' writers, TLS contexts, limits, metrics.
final class ServiceDialing: Sendable {
    let engine: Engine
    let limits: ServerConfiguration.Limits
    let metrics: ServerMetrics
    let jwtSecret: String?
    let records: CallLedger?
    let logger: Logger
    let outbound: @Sendable (any EventLoop) -> LoopOutbound
    /// Set when the gateway drains: no new attempt then.
    let draining: DrainFlag
    private let contexts = Mutex([String: NIOSSLContext]())

    init(
        engine: Engine, limits: ServerConfiguration.Limits, metrics: ServerMetrics, jwtSecret: String?, records: CallLedger?,
        draining: DrainFlag, logger: Logger, outbound: @escaping @Sendable (any EventLoop) -> LoopOutbound
    ) {
        self.draining = draining
        self.engine = engine
        self.limits = limits
        self.metrics = metrics
        self.jwtSecret = jwtSecret
        self.records = records
        self.logger = logger
        self.outbound = outbound
    }

    /// The TLS context for an endpoint's settings (made once per distinct setting: loading trust roots
    /// is not free).
    func tlsContext(for endpoint: WebSocketEndpoint) throws -> NIOSSLContext {
        let key = "\(endpoint.tlsVerify)|\(endpoint.caFile ?? "")"
        if let context = contexts.withLock({ $0[key] }) { return context }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = endpoint.tlsVerify ? .fullVerification : .none
        if let caFile = endpoint.caFile { configuration.trustRoots = .file(caFile) }
        let context = try NIOSSLContext(configuration: configuration)
        contexts.withLock { $0[key] = context }
        return context
    }
}

/// What a service is dialled for: a caller's leg (a route's `connect`, a transfer's `connect`), or a
/// conversation the control API named (`POST /v1/calls`). Its id carries the link's events, its
/// conversation is the one the service joins, its headers fill the endpoint's `{caller.NAME}` fields,
/// and `hangUp` is what `on_failure: hangup` does.
protocol ServiceAnchor: AnyObject, Sendable {
    var id: UUID { get }
    var conversationName: String { get }
    var headers: [String: String] { get }
    var isLive: Bool { get }
    func hangUp(reason: String)
}

extension Leg: ServiceAnchor {
    func hangUp(reason: String) { transport.close(reason: reason) }
}

/// A conversation the control API dialled a service into, with no caller of its own: live until the
/// service's leg gives up or is hung up.
final class DialledConversation: ServiceAnchor {
    let id: UUID
    let conversationName: String
    let headers: [String: String]
    private let live = Atomic<Bool>(true)

    init(id: UUID, conversationName: String, headers: [String: String]) {
        self.id = id
        self.conversationName = conversationName
        self.headers = headers
    }

    var isLive: Bool { live.load(ordering: .relaxed) }

    func hangUp(reason: String) { live.store(false, ordering: .relaxed) }
}
