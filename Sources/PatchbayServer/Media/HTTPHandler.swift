import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PatchbayEngine
import Synchronization

/// What a listener's plain HTTP answers with: the gateway's health and metrics, the control API, and why
/// an upgrade was refused.
struct HTTPServices: Sendable {
    let gate: UpgradeGate
    let metrics: ServerMetrics
    let legsActive: LiveCount
    let prometheus: PrometheusExport
    /// Nil without applications (`/v1/...` is then 404).
    let api: ControlAPI?
    let draining: DrainFlag
    /// The API's requests run as tracked tasks: a shutdown waits for them.
    let requests: BackgroundTasks
    let logger: Logger
}

/// Set once the gateway drains: no new legs, no new dials.
final class DrainFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    /// Sets it; true only for the first call.
    func set() -> Bool { !flag.exchange(true, ordering: .relaxed) }
}

/// Plain HTTP on the media port: `/health`, `/metrics`, the control API (`/v1/...`), and the answer to a
/// request that did not become a websocket (401 without valid auth, 503 at capacity, 426 without an
/// upgrade, 404 elsewhere).
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The largest request body read (a control API request is a small JSON object).
    static let maximumBodyBytes = 64 * 1024

    /// What a listener serves.
    enum Role {
        /// The media listener with the API on it (the default).
        case mediaAndAPI
        /// The media listener when the API has its own (`api.listen`): `/v1/...` is 404 here.
        case media
        /// The API's own listener: the API, `/health` and `/metrics`; nothing else.
        case api
    }

    fileprivate let services: HTTPServices
    private let role: Role
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyTooLarge = false

    init(services: HTTPServices, role: Role) {
        self.services = services
        self.role = role
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            bodyTooLarge = false
        case .body(var buffer):
            guard !bodyTooLarge else { return }
            if body.count + buffer.readableBytes > Self.maximumBodyBytes {
                bodyTooLarge = true
                body = []
            } else {
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let body = body
            self.body = []
            if bodyTooLarge {
                services.logger.notice("refused a request body over the limit", metadata: ["path": "\(head.uri)"])
                let error = APIError(
                    status: .payloadTooLarge, title: "Payload Too Large", detail: "the body is over \(Self.maximumBodyBytes) bytes")
                send(.payloadTooLarge, contentType: "application/json", body: APIResponse(error).json, head: head, context: context)
                return
            }
            respond(to: head, body: body, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let path = UpgradeGate.path(of: head.uri)
        switch (head.method, path) {
        case (.GET, "/health"):
            let draining = services.draining.isSet
            send(
                draining ? .serviceUnavailable : .ok, contentType: "application/json",
                body: #"{"status":"\#(draining ? "draining" : "ok")","legs":\#(services.legsActive.value)}"#,
                head: head, context: context)
        case (.GET, "/metrics"):
            send(
                .ok, contentType: "text/plain; version=0.0.4",
                body: String(decoding: services.prometheus.render(), as: UTF8.self), head: head, context: context)
        case (_, "/health"), (_, "/metrics"):
            send(.methodNotAllowed, body: "use GET\n", head: head, context: context)
        case (_, let p) where p.hasPrefix("/v1/") && role == .media:
            send(
                .notFound, contentType: "application/json",
                body: APIResponse(.notFound("the control API has a listener of its own (api.listen)")).json, head: head, context: context)
        case (_, let p) where p.hasPrefix("/v1/"):
            guard let api = services.api else {
                send(
                    .notFound, contentType: "application/json",
                    body: APIResponse(.notFound("the control API is off: no api.applications are configured")).json, head: head,
                    context: context)
                return
            }
            // Off the event loop: the token is verified and the records read asynchronously; the answer is
            // written back on the loop.
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let method = head.method
            let uri = head.uri
            let authorization = head.headers.first(name: "authorization")
            let range = head.headers.first(name: "range")
            let eventLoop = context.eventLoop
            services.requests.run {
                let response = await api.respond(method: method, uri: uri, authorization: authorization, range: range, body: body)
                let (status, json, extra) = (response.status, response.json, response.headers)
                if let file = response.file {
                    await Self.sendFile(file, status: status, extraHeaders: extra, head: head, loopBound: loopBound, eventLoop: eventLoop)
                    return
                }
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.send(status, contentType: "application/json", body: json, extraHeaders: extra, head: head, context: context)
                }
            }
        case _ where role == .api:
            send(
                .notFound, contentType: "application/json", body: APIResponse(.notFound("no such resource: \(path)")).json, head: head,
                context: context)
        default:
            if services.draining.isSet, services.gate.routes[path] != nil {
                send(.serviceUnavailable, body: "draining: no new legs\n", head: head, context: context)
                return
            }
            switch services.gate.verdict(for: head, openConnections: services.metrics.connectionsOpen.value) {
            case .unknownPath:
                send(.notFound, body: "no route for \(path)\n", head: head, context: context)
            case .unauthorized:
                send(.unauthorized, body: "missing or invalid Authorization\n", head: head, context: context)
            case .overCapacity:
                send(.serviceUnavailable, body: "at capacity\n", head: head, context: context)
            case .accept:
                send(.upgradeRequired, body: "websocket upgrade required\n", head: head, context: context)
            }
        }
    }

    /// Sends a file's bytes (a recording) in pieces of 256 KiB read off the event loop, each written
    /// before the next is read: memory stays bounded whatever the file's size. A file gone since it was
    /// found (deleted meanwhile) is a 404; a client that stops reading is cut off when the task is
    /// cancelled (the gateway stopping), so it can never hold a shutdown.
    private static func sendFile(
        _ file: APIResponse.FileBody, status: HTTPResponseStatus, extraHeaders: [(String, String)], head: HTTPRequestHead,
        loopBound: NIOLoopBound<(HTTPHandler, ChannelHandlerContext)>, eventLoop: any EventLoop
    ) async {
        var refusal: APIError?
        let handle = FileHandle(forReadingAtPath: file.path)
        if let handle {
            do {
                try handle.seek(toOffset: UInt64(file.offset))
            } catch {
                refusal = APIError(status: .internalServerError, title: "Internal Server Error", detail: "cannot read the file: \(error)")
            }
        } else {
            refusal = .notFound("the recording's file is gone (deleted meanwhile)")
        }
        if let refusal {
            try? handle?.close()
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.send(refusal.status, contentType: "application/json", body: APIResponse(refusal).json, head: head, context: context)
            }
            return
        }
        guard let handle else { return }
        defer { try? handle.close() }
        let started: EventLoopFuture<Bool> = eventLoop.submit {
            let (handler, context) = loopBound.value
            var headers = HTTPHeaders(extraHeaders)
            headers.add(name: "content-type", value: file.contentType)
            headers.add(name: "content-length", value: "\(file.length)")
            let keepAlive = head.isKeepAlive && !handler.services.draining.isSet
            headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
            context.write(handler.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            return keepAlive
        }
        guard let keepAlive = try? await started.get() else { return }
        var left = head.method == .HEAD ? 0 : file.length
        await withTaskCancellationHandler {
            while left > 0, !Task.isCancelled {
                guard let data = try? handle.read(upToCount: min(left, 256 << 10)), !data.isEmpty else { break }
                left -= data.count
                let written: EventLoopFuture<Void> = eventLoop.flatSubmit {
                    let (handler, context) = loopBound.value
                    var buffer = context.channel.allocator.buffer(capacity: data.count)
                    buffer.writeBytes(data)
                    return context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(buffer))))
                }
                guard (try? await written.get()) != nil else { break }
            }
        } onCancel: {
            // A write the client never reads would wait forever: closing the channel fails it.
            eventLoop.execute { loopBound.value.1.channel.close(promise: nil) }
        }
        let cut = left > 0
        eventLoop.execute {
            let (handler, context) = loopBound.value
            let done = context.writeAndFlush(handler.wrapOutboundOut(.end(nil)))
            if !keepAlive || cut {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    private func send(
        _ status: HTTPResponseStatus, contentType: String = "text/plain; charset=utf-8", body: String,
        extraHeaders: [(String, String)] = [], head: HTTPRequestHead, context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders(extraHeaders)
        if status != .noContent {  // a 204 has neither (RFC 9110, 8.6)
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: "\(body.utf8.count)")
        }
        let keepAlive = head.isKeepAlive && !services.draining.isSet
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if !body.isEmpty, head.method != .HEAD {  // a HEAD answer has the length, not the body
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension HTTPHandler: Sendable {}
