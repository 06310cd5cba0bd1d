import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import PatchbayConfiguration
import PatchbayEngine
import Synchronization

/// Where a frame comes in: the media listener (and the control API's own, `api.listen`). Each connection
/// is TLS (when configured), then HTTP; a request for a route's path becomes a websocket leg if the
/// `UpgradeGate` accepts it — decided once, in `shouldUpgrade`, and the route it chose carried into the
/// pipeline — and anything else is answered by `HTTPHandler` (`/health`, `/metrics`, `/v1/...`, refusals).
/// An accepted leg gets a `LegChannelHandler` whose peer is the caller, on the route's `CallerLeg.Route`.
final class MediaListener: Sendable {
    private let configuration: ServerConfiguration
    private let group: MultiThreadedEventLoopGroup
    private let sslContext: NIOSSLContext?
    private let http: HTTPServices
    private let engine: Engine
    private let outbound: @Sendable (any EventLoop) -> LoopOutbound
    /// What the gateway does for the legs of each route (by path).
    private let routes: [String: CallerLeg.Route]
    private let media = Mutex<(any Channel)?>(nil)
    private let api = Mutex<(any Channel)?>(nil)

    init(
        configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, sslContext: NIOSSLContext?, http: HTTPServices,
        engine: Engine, outbound: @escaping @Sendable (any EventLoop) -> LoopOutbound, routes: [CallerLeg.Route]
    ) {
        self.configuration = configuration
        self.group = group
        self.sslContext = sslContext
        self.http = http
        self.engine = engine
        self.outbound = outbound
        self.routes = Dictionary(routes.map { ($0.configuration.path, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Where the API listens when it has a listener of its own.
    var apiAddress: SocketAddress? { api.withLock { $0?.localAddress } }

    /// Binds the media listener (the port is real even when the configuration asked for 0).
    func bindMedia() async throws -> SocketAddress {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try configureMedia(channel) }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        media.withLock { $0 = channel }
        return channel.localAddress!
    }

    /// Binds the control API's own listener (`api.listen`): the API, `/health` and `/metrics`.
    func bindAPI(host: String, port: Int) async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext { try pipeline.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    try pipeline.configureHTTPServerPipeline()
                    try pipeline.addHandler(HTTPHandler(services: http, role: .api))
                }
            }
        let bound = try await bootstrap.bind(host: host, port: port).get()
        api.withLock { $0 = bound }
        http.logger.info("control API listening", metadata: ["address": "\(bound.localAddress.map { "\($0)" } ?? "?")"])
    }

    /// Stops accepting legs (the API's listener, if any, stays up).
    func closeMedia() async {
        try? await media.withLock({ $0 })?.close()
    }

    func closeAll() async {
        for channel in [media.withLock({ $0 }), api.withLock({ $0 })].compactMap({ $0 }) {
            try? await channel.close()
        }
    }

    private func configureMedia(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        if let sslContext {
            try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
        }
        let handler = HTTPHandler(services: http, role: configuration.api.listen == nil ? .mediaAndAPI : .media)
        let httpOnLoop = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        // The upgrade is decided once: `shouldUpgrade` keeps the route it accepted, and the pipeline takes it.
        let decision = NIOLoopBound(UpgradeDecision(), eventLoop: channel.eventLoop)
        let gate = http.gate
        let metrics = http.metrics
        let logger = http.logger
        let draining = http.draining
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: configuration.limits.maxMessageBytes,
            shouldUpgrade: { channel, head in
                guard !draining.isSet else { return channel.eventLoop.makeSucceededFuture(nil) }
                switch gate.verdict(for: head, openConnections: metrics.connectionsOpen.value) {
                case .accept(let route):
                    decision.value.route = route
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                case .unauthorized:
                    metrics.upgradesUnauthorized.increment()
                    logger.notice("refused an upgrade without valid auth", metadata: ["path": "\(head.uri)"])
                case .overCapacity:
                    metrics.upgradesOverCapacity.increment()
                    logger.warning("refused an upgrade at capacity", metadata: ["max_legs": "\(gate.maxLegs)"])
                case .unknownPath:
                    break
                }
                return channel.eventLoop.makeSucceededFuture(nil)
            },
            upgradePipelineHandler: { [self] channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    guard let accepted = decision.value.route, let route = routes[accepted.path] else {
                        throw UpgradeDecision.Missing()
                    }
                    let limits = configuration.limits
                    try channel.pipeline.syncOperations.addHandlers(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: limits.maxMessageBytes),
                        LegChannelHandler(
                            setup: .init(
                                engine: engine, limits: limits, metrics: metrics, outbound: outbound(channel.eventLoop), logger: logger,
                                peer: .caller(route))))
                }
            })
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.syncOperations.removeHandler(httpOnLoop.value, promise: nil)
                }
            ))
        try pipeline.addHandler(handler)
    }
}

/// The route `shouldUpgrade` accepted, for the pipeline it sets up (one per connection, on its loop).
private final class UpgradeDecision {
    var route: ServerConfiguration.Route?

    struct Missing: Error, CustomStringConvertible {
        var description: String { "an upgrade with no accepted route" }
    }
}
