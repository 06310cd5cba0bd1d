import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server on loopback for fetch tests: each path answers as `routes` says.
final class TestHTTPServer: Sendable {
    enum Answer: Sendable {
        /// 200 with this body.
        case body([UInt8], contentType: String)
        /// A status with an empty body.
        case status(HTTPResponseStatus)
        /// 302 to this location.
        case redirect(String)
        /// 200 declaring this content length, then a few bytes, then nothing more.
        case declaresLength(Int)
        /// Never answers.
        case silence
    }

    let channel: any Channel
    let port: Int
    private let log: RequestLog

    /// The paths requested so far, in order.
    var requests: [String] { log.paths.withLock { $0 } }

    private final class RequestLog: Sendable {
        let paths = Mutex<[String]>([])
    }

    private final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let routes: [String: Answer]
        let log: RequestLog
        init(routes: [String: Answer], log: RequestLog) {
            self.routes = routes
            self.log = log
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let path = String(head.uri.prefix { $0 != "?" })
            log.paths.withLock { $0.append(path) }
            var headers = HTTPHeaders()
            switch routes[path] ?? .status(.notFound) {
            case .body(let bytes, let type):
                headers.add(name: "content-type", value: type)
                headers.add(name: "content-length", value: "\(bytes.count)")
                context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .status(let status):
                headers.add(name: "content-length", value: "0")
                context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: status, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .redirect(let location):
                headers.add(name: "location", value: location)
                headers.add(name: "content-length", value: "0")
                context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .found, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .declaresLength(let length):
                headers.add(name: "content-length", value: "\(length)")
                context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.writeAndFlush(
                    wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: [1, 2, 3])))), promise: nil)
            case .silence:
                break
            }
        }
    }

    init(routes: [String: Answer], group: any EventLoopGroup) async throws {
        let log = RequestLog()
        self.log = log
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(routes: routes, log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    func stop() async {
        try? await channel.close()
    }
}
