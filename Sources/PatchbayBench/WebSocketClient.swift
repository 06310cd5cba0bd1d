import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket

/// The client half of a websocket upgrade, as the Voice API opens one (used by `patchbay bench`, and by
/// the tests' peer).
enum WebSocketClient {
    /// Sets up a new channel: TLS when given (no SNI: the server is addressed by IP, which SNI may not
    /// carry), HTTP with the websocket upgrader, and a watch that fails `upgraded` when the server
    /// answers with plain HTTP (401, 404, 503...) or hangs up first. Once upgraded, `addHandlers` adds
    /// the websocket handlers and `upgraded` succeeds.
    static func configure(
        _ channel: any Channel, tls: NIOSSLContext?, upgraded: EventLoopPromise<Void>,
        addHandlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> EventLoopFuture<Void> {
        let upgrader = NIOWebSocketClientUpgrader(
            maxFrameSize: 1 << 20,
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture { try addHandlers(channel.pipeline.syncOperations) }
            })
        let watch = UpgradeWatch(promise: upgraded)
        return channel.eventLoop.makeCompletedFuture {
            if let tls {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil))
            }
            try channel.pipeline.syncOperations.addHTTPClientHandlers(
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

    /// Sends the upgrade request: `GET path` with `Host` and any extra headers.
    static func requestUpgrade(
        on channel: any Channel, host: String, port: Int, path: String, headers extra: [(String, String)] = []
    ) -> EventLoopFuture<Void> {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "\(host):\(port)")
        headers.add(name: "content-length", value: "0")
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

    struct Refused: Error, CustomStringConvertible {
        let status: HTTPResponseStatus
        var description: String { "upgrade refused: HTTP \(status.code)" }
    }
    struct ClosedBeforeUpgrade: Error, CustomStringConvertible {
        var description: String { "connection closed before the upgrade" }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            promise.fail(Refused(status: head.status))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ClosedBeforeUpgrade())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
