import Foundation
import Logging
import NIOCore
import NIOWebSocket
import PatchbayConfiguration
import PatchbayDSP
import PatchbayEngine
import PatchbayVoiceAPI

/// One websocket leg after the upgrade, in either role of the Voice API's websocket protocol: the frames
/// and the connection's life, nothing about what the messages mean.
///
/// What to do with each message, timer and close is decided by the leg's `LegLifecycle` (the protocol's
/// rules and the bad-input policy, as a value); this handler turns the socket's events into lifecycle
/// events and performs the actions: ping, close with a code, count and log what is dropped. What an
/// accepted message means is its peer's business: a caller that dialled in (`CallerLeg`: the Voice API's
/// side of the protocol) or a service Patchbay dialled (`ServiceLeg`, which runs the endpoint's dialect).
/// The role only sets which lifecycle starts and whether frames are masked (RFC 6455 5.3). Every case is
/// counted in `/metrics` and logged (the first few per leg, then one in a thousand), and touches no other
/// leg.
final class LegChannelHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Setup {
        let engine: Engine
        let limits: ServerConfiguration.Limits
        let metrics: ServerMetrics
        let outbound: LoopOutbound
        let logger: Logger
        let peer: Peer
    }

    /// Who is at the other end.
    enum Peer {
        /// A caller that dialled in on a route (the Voice API).
        case caller(CallerLeg.Route)
        /// A service Patchbay dialled for a caller.
        case service(ServiceLink)
    }

    /// The peer's side of the protocol (made when the handler is added).
    private enum Session {
        case caller(CallerLeg)
        case service(ServiceLeg)
    }

    let setup: Setup
    var logger: Logger
    private(set) var lifecycle: LegLifecycle
    private var session: Session!
    /// The engine's leg, from the lifecycle's `.start` to its end.
    private(set) var leg: Leg?
    private(set) var context: ChannelHandlerContext?
    /// Counted in `connectionsOpen` and registered for outbound writes until the channel goes.
    private var connectionCounted = false
    private var housekeeping: RepeatedTask?
    private var problemsLogged = 0
    /// Frames from Patchbay's side are masked in the client role, not in the server role.
    private let isClient: Bool

    init(setup: Setup) {
        self.setup = setup
        logger = setup.logger
        let limits = setup.limits
        let role: LegLifecycle.Role
        switch setup.peer {
        case .caller:
            role = .server
            isClient = false
        case .service(let link):
            role = .client(rate: link.rate)
            isClient = true
        }
        lifecycle = LegLifecycle(
            role: role,
            limits: .init(
                connectTimeoutNanoseconds: Int64(limits.connectTimeoutSeconds * 1e9),
                idleTimeoutNanoseconds: Int64(limits.idleTimeoutSeconds * 1e9),
                pingIntervalNanoseconds: Int64(limits.pingIntervalSeconds * 1e9),
                maxMessagesPerSecond: limits.maxMessagesPerSecond))
    }

    static var now: Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    private var maskKey: WebSocketMaskingKey? { isClient ? .random() : nil }

    // MARK: The connection's life

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        switch setup.peer {
        case .caller(let route): session = .caller(CallerLeg(route: route, channel: self))
        case .service(let link): session = .service(ServiceLeg(link: link, channel: self))
        }
        connectionCounted = true
        setup.metrics.connectionsOpen.increment()
        setup.outbound.register(self)
        logger[metadataKey: "peer"] = "\(context.remoteAddress.map { "\($0)" } ?? "?")"
        perform(lifecycle.handle(.upgraded(at: Self.now)))
        let interval = TimeAmount.milliseconds(250)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        housekeeping = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let handler = loopBound.value
            let now = Self.now
            handler.perform(handler.lifecycle.handle(.timer(at: now)))
            if case .service(let service) = handler.session { service.housekeeping(at: now) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        perform(lifecycle.handle(.transportClosed))
        connectionGone()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(lifecycle.handle(.transportClosed))
        connectionGone()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.notice("websocket error, closing", metadata: ["error": "\(error)"])
        // The websocket decoder has answered a protocol error itself (1009 for an oversized message).
        let code: WebSocketErrorCode =
            switch error as? NIOWebSocketError {
            case .invalidFrameLength?: .messageTooLarge
            default: .protocolError
            }
        perform(lifecycle.handle(.protocolError(code: UInt16(webSocketErrorCode: code), reason: "\(error)")))
        context.close(promise: nil)
    }

    /// The channel is gone: stop the timers, stop counting the connection (idempotent).
    private func connectionGone() {
        housekeeping?.cancel()
        housekeeping = nil
        guard connectionCounted else { return }
        connectionCounted = false
        setup.outbound.unregister(self)
        setup.metrics.connectionsOpen.decrement()
    }

    /// Hands a lifecycle event to the lifecycle and performs what it decides; returns the decision for
    /// the actions that need the message (`.start`, `.accept`), which the caller handles.
    @discardableResult
    func handle(_ event: LegLifecycle.Event) -> LegLifecycle.Action {
        let action = lifecycle.handle(event)
        perform(action)
        return action
    }

    /// What the lifecycle decides for an event, not yet performed (`perform` it, or handle it yourself).
    func decide(_ event: LegLifecycle.Event) -> LegLifecycle.Action {
        lifecycle.handle(event)
    }

    /// Performs what the lifecycle decided (`.accept` needs the message: the caller of `handle` acts on it).
    func perform(_ action: LegLifecycle.Action) {
        switch action {
        case .none, .accept:
            break
        case .start(let rate):
            // The client role starts as soon as the websocket is up (the server role, on the peer's
            // `websocket:connected`, where the message is).
            if case .service(let service) = session { service.start(rate: rate) }
        case .drop(let drop):
            dropped(drop)
        case .ping:
            guard let context else { return }
            var data = context.channel.allocator.buffer(capacity: 8)
            data.writeInteger(UInt64(Self.now))
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, maskKey: maskKey, data: data)), promise: nil)
        case .close(let code, let reason, let ended, _):
            legEnded(ended)
            sendClose(code: WebSocketErrorCode(codeNumber: Int(code)), reason: reason)
        case .end(let ended, _):
            legEnded(ended)
            context?.close(promise: nil)
        }
    }

    /// The lifecycle has ended: the leg leaves the engine (its "leg ended" event goes out there, once).
    private func legEnded(_ reason: LegEndReason) {
        housekeeping?.cancel()
        housekeeping = nil
        // A service's link hears of the end last, once the leg has left the engine (it may dial again).
        defer { if case .service(let service) = session { service.ended(reason) } }
        switch reason {
        case .policy(let code, let why):
            setup.metrics.legsClosedByPolicy.increment()
            logger.notice("closing leg", metadata: ["code": "\(code)", "reason": "\(why)"])
        case .hungUp(let why):
            logger.notice("closing leg", metadata: ["code": "1000", "reason": "\(why)"])
        case .shutdown:
            logger.notice("closing leg", metadata: ["code": "1001", "reason": "server shutting down"])
        case .peerClosed, .transportLost:
            break
        }
        guard let leg else { return }
        self.leg = nil
        setup.outbound.stopWriting(leg)
        setup.engine.detach(leg, reason: reason)
        if case .caller(let caller) = session { caller.ended(leg, reason: reason) }
        logger.info(
            "leg ended",
            metadata: [
                "reason": "\(reason)", "frames_in": "\(leg.framesIn.value)", "frames_out": "\(leg.framesOut.value)",
                "concealed": "\(leg.framesConcealed.value)",
            ])
    }

    /// Counts and logs a dropped message.
    private func dropped(_ drop: LegLifecycle.Drop) {
        switch drop {
        case .overRate:
            setup.metrics.messagesOverRate.increment()
            setup.engine.metrics.framesRejected.increment()
            problem("dropped a message over the rate limit", ["limit_per_second": "\(setup.limits.maxMessagesPerSecond)"])
        case .wrongSize(let bytes, let expected):
            setup.metrics.framesWrongSize.increment()
            setup.engine.metrics.framesRejected.increment()
            problem("dropped a binary message of the wrong size", ["bytes": "\(bytes)", "expected": "\(expected)"])
        case .beforeConnected:
            setup.metrics.messagesInvalid.increment()
            problem("ignored a text message before websocket:connected", [:])
        case .repeatedConnected:
            setup.metrics.messagesInvalid.increment()
            problem("ignored a second websocket:connected", [:])
        }
    }

    // MARK: Frames in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = Self.now
        switch frame.opcode {
        case .binary:
            guard case .accept = handle(.audio(bytes: frame.data.readableBytes, at: now)) else { return }
            switch session! {
            case .caller(let caller): caller.receiveAudio(frame)
            case .service(let service): service.receiveAudio(frame, at: now)
            }
        case .text:
            var data = frame.unmaskedData
            let text = data.readString(length: data.readableBytes) ?? ""
            switch session! {
            case .caller(let caller):
                caller.receiveText(text, at: now)
            case .service(let service):
                guard case .accept = handle(.text(at: now)) else { return }
                service.receiveText(text)
            }
        case .ping:
            handle(.control(at: now))
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: maskKey, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            handle(.control(at: now))
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode().map { UInt16(webSocketErrorCode: $0) }
            handle(.peerClosed(code: code))
        default:
            break
        }
    }

    // MARK: The engine's leg

    /// The leg is streaming: it joins the engine, and its frames are written from now on.
    func attach(_ leg: Leg) {
        self.leg = leg
        logger[metadataKey: "leg"] = "\(leg.id.uuidString.lowercased())"
        setup.outbound.write(leg, with: self)
        setup.engine.attach(leg)
    }

    /// The engine's handle on this leg.
    func transport() -> ChannelLegTransport? {
        guard let context else { return nil }
        return ChannelLegTransport(channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop))
    }

    /// A command from the engine or the control plane (on the event loop).
    func perform(_ command: LegCommand) {
        guard leg != nil else { return }
        switch session! {
        case .caller(let caller): caller.perform(command)
        case .service(let service): service.perform(command)
        }
    }

    // MARK: Frames out

    /// Writes every whole frame the shard has produced (called on the event loop when woken).
    func writeOutbound() {
        guard let leg, let context else { return }
        guard context.channel.isWritable else {
            // A peer that does not read never makes us buffer: its frames are dropped and counted.
            let dropped = leg.outbound.removeAll()
            leg.samplesDropped.add(dropped)
            setup.engine.metrics.samplesDropped.increment(by: dropped)
            return
        }
        switch session! {
        case .caller(let caller): caller.writeOutbound(leg)
        case .service(let service): service.writeOutbound(leg)
        }
    }

    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    var eventLoop: (any EventLoop)? { context?.eventLoop }

    /// Queues a binary message (call `flush` after a batch).
    func write(binary buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: maskKey, data: buffer)), promise: nil)
    }

    /// Queues a text message (call `flush` after a batch).
    func write(text: String) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: buffer)), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Sends a text message while streaming.
    func send(text: String) {
        guard let context, leg != nil else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: buffer)), promise: nil)
    }

    /// Ends the leg on request: closes with 1000 and the reason (a service may first close its session).
    func hangUp(reason: String) {
        if case .service(let service) = session, service.closesGracefully(reason: reason) { return }
        handle(.hangUp(reason: reason))
    }

    /// The drain deadline: closes with 1001.
    func drainDeadline() {
        handle(.drainDeadline)
    }

    /// Sends a close frame with `code` and `reason`, then closes the connection.
    private func sendClose(code: WebSocketErrorCode, reason: String) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.write(webSocketErrorCode: code)
        buffer.writeString(String(reason.utf8.prefix(120)) ?? "")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey, data: buffer)))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    /// Logs a problem with the peer's input: the first five per leg, then one in a thousand.
    func problem(_ message: Logger.Message, _ metadata: Logger.Metadata) {
        problemsLogged += 1
        guard problemsLogged <= 5 || problemsLogged % 1000 == 0 else { return }
        var metadata = metadata
        metadata["occurrence"] = "\(problemsLogged)"
        logger.warning(message, metadata: metadata)
    }
}

@available(*, unavailable)
extension LegChannelHandler: Sendable {}

/// The engine's handle on a websocket leg: commands cross to the leg's event loop.
final class ChannelLegTransport: LegTransport {
    private let channel: any Channel
    private let handler: NIOLoopBound<LegChannelHandler>

    init(channel: any Channel, handler: NIOLoopBound<LegChannelHandler>) {
        self.channel = channel
        self.handler = handler
    }

    func send(_ command: LegCommand) {
        let handler = handler
        channel.eventLoop.execute { handler.value.perform(command) }
    }

    func close(reason: String) {
        let handler = handler
        channel.eventLoop.execute { handler.value.hangUp(reason: reason) }
    }
}
