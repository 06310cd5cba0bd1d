public import NIOCore
import NIOHTTP1
public import NIOSSL
import NIOWebSocket

/// The client half of a websocket upgrade, as the Voice API opens one: used by `patchbay bench`, by
/// the gateway's outbound legs to speech and AI services, and by the tests' peer.
public enum WebSocketClient {
    /// Sets up a new channel: TLS when given (with SNI for `serverHostname`; none for a server addressed
    /// by IP, which SNI may not carry), HTTP with the websocket upgrader, and a watch that fails
    /// `upgraded` when the server answers with plain HTTP (401, 404, 503...) or hangs up first. Once
    /// upgraded, `addHandlers` adds the websocket handlers and `upgraded` succeeds.
    public static func configure(
        _ channel: any Channel, tls: NIOSSLContext?, serverHostname: String? = nil, maxFrameSize: Int = 1 << 20,
        upgraded: EventLoopPromise<Void>,
        addHandlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> EventLoopFuture<Void> {
        let upgrader = NIOWebSocketClientUpgrader(
            maxFrameSize: maxFrameSize,
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture { try addHandlers(channel.pipeline.syncOperations) }
            })
        let watch = UpgradeWatch(promise: upgraded)
        return channel.eventLoop.makeCompletedFuture {
            if let tls {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
            }
            // Bytes that came in the same read as the 101 (a server that speaks first: AssemblyAI's
            // "Begin", a session's "created") go on to the websocket handlers, not dropped.
            try channel.pipeline.syncOperations.addHTTPClientHandlers(
                leftOverBytesStrategy: .forwardBytes,
                withClientUpgrade: (
                    upgraders: [upgrader],
                    completionHandler: { context in
                        context.pipeline.syncOperations.removeHandler(watch, promise: nil)
                        upgraded.succeed()
                    }
                ))
            try channel.pipeline.syncOperations.addHandler(watch)
        }
    }

    /// Sends the upgrade request: `GET path` with `Host` and any extra headers. No `content-length`: a GET
    /// upgrade has no body, and some servers (Python `websockets`) refuse one that declares it.
    public static func requestUpgrade(
        on channel: any Channel, host: String, port: Int, path: String, headers extra: [(String, String)] = []
    ) -> EventLoopFuture<Void> {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)")
        for (name, value) in extra { headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(.init(version: .http1_1, method: .GET, uri: path, headers: headers)), promise: nil)
        return channel.writeAndFlush(HTTPClientRequestPart.end(nil))
    }
}

/// Fails the upgrade when the server answers with plain HTTP (401, 404, 503...) or hangs up first.
private final class UpgradeWatch: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<Void>
    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            promise.fail(WebSocketClientError.refused(status: Int(head.status.code)))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(WebSocketClientError.closedBeforeUpgrade)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}

/// Why an upgrade did not happen.
public enum WebSocketClientError: Error, Equatable, CustomStringConvertible {
    /// The server answered with plain HTTP instead of switching protocols.
    case refused(status: Int)
    /// The server hung up before answering.
    case closedBeforeUpgrade

    public var description: String {
        switch self {
        case .refused(let status): "upgrade refused: HTTP \(status)"
        case .closedBeforeUpgrade: "connection closed before the upgrade"
        }
    }
}
