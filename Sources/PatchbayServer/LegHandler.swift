import Foundation
import Logging
import NIOCore
import NIOWebSocket
import PatchbayDSP
import PatchbayEngine

/// One websocket leg after the upgrade, in either role of the Voice API's websocket protocol: as the
/// server for a caller that dialled in (the Voice API), or as the client — the Voice API's side — for a
/// speech or AI service Patchbay dialled (`ServiceLink`; the service-only parts are in
/// `LegHandler+Service.swift`).
///
/// What to do with each message, timer and close is decided by the leg's `LegLifecycle` (the protocol
/// and the bad-input policy, as a value); this handler turns the socket's events into lifecycle events
/// and performs the actions: attach the leg, hand audio to its ring (or a service's to its playout
/// buffer), count and log what is dropped, ping, close with a code. Every case is counted in `/metrics`
/// and logged (the first few per leg, then one in a thousand), and touches no other leg.
final class LegHandler: ChannelInboundHandler {
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
        /// A caller that dialled in on `route` (the Voice API). `attaching` is called just before the leg
        /// is attached (its record is made there, before the engine's first event about it), `started`
        /// once it is (the route's stream and services start there), `ended` once it has left.
        case caller(
            route: ServerConfiguration.Route, attaching: @Sendable (Leg) -> Void, started: @Sendable (Leg, any EventLoop) -> Void,
            ended: @Sendable (Leg, LegEndReason) -> Void)
        /// A service Patchbay dialled for a caller.
        case service(ServiceLink)
    }

    let setup: Setup
    var logger: Logger
    var lifecycle: LegLifecycle
    /// The engine's leg, from the lifecycle's `.start` to its end.
    var leg: Leg?
    var context: ChannelHandlerContext?
    /// The client role's playout of what the service sends (nil for a caller).
    var service: ServiceSide?
    /// Counted in `connectionsOpen` and registered for outbound writes until the channel goes.
    private var connectionCounted = false
    private var housekeeping: RepeatedTask?
    private var problemsLogged = 0
    /// One outbound frame (20 ms at up to 48 kHz).
    let scratch = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 960)

    init(setup: Setup) {
        self.setup = setup
        logger = setup.logger
        let limits = setup.limits
        let role: LegLifecycle.Role =
            switch setup.peer {
            case .caller: .server
            case .service(let link): .client(rate: link.rate)
            }
        lifecycle = LegLifecycle(
            role: role,
            limits: .init(
                connectTimeoutNanoseconds: Int64(limits.connectTimeoutSeconds * 1e9),
                idleTimeoutNanoseconds: Int64(limits.idleTimeoutSeconds * 1e9),
                pingIntervalNanoseconds: Int64(limits.pingIntervalSeconds * 1e9),
                maxMessagesPerSecond: limits.maxMessagesPerSecond))
        scratch.initialize(repeating: 0)
    }

    deinit {
        scratch.deallocate()
    }

    static var now: Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    /// Frames from Patchbay's side are masked in the client role (RFC 6455 5.3), not in the server role.
    var maskKey: WebSocketMaskingKey? { isClient ? .random() : nil }

    private var isClient: Bool {
        if case .service = setup.peer { return true }
        return false
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
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
            if handler.service != nil { handler.serviceHousekeeping(at: now) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        service?.release?.cancel()
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

    /// Performs what the lifecycle decided (everything but `.start` and `.accept`, which need the
    /// message and are handled where it is).
    func perform(_ action: LegLifecycle.Action) {
        switch action {
        case .none, .accept:
            break
        case .start(let rate):
            // The client role starts as soon as the websocket is up (the server role, on the peer's
            // `websocket:connected`, where the message is).
            if case .service(let link) = setup.peer { startService(link, rate: rate) }
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
        service?.release?.cancel()
        service?.release = nil
        defer {
            switch setup.peer {
            case .service(let link): link.serviceEnded(reason)
            case .caller: break
            }
        }
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
        if case .caller(_, _, _, let ended) = setup.peer { ended(leg, reason) }
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

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = Self.now
        switch frame.opcode {
        case .binary:
            let action = lifecycle.handle(.audio(bytes: frame.data.readableBytes, at: now))
            if case .accept = action {
                if service != nil {
                    receiveServiceAudio(frame, at: now)
                } else {
                    receiveAudio(frame, context: context)
                }
            } else {
                perform(action)
            }
        case .text:
            var data = frame.unmaskedData
            let text = data.readString(length: data.readableBytes) ?? ""
            if isClient {
                receiveServiceText(text, at: now)
            } else {
                receiveText(text, at: now)
            }
        case .ping:
            perform(lifecycle.handle(.control(at: now)))
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: maskKey, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            perform(lifecycle.handle(.control(at: now)))
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode().map { UInt16(webSocketErrorCode: $0) }
            perform(lifecycle.handle(.peerClosed(code: code)))
        default:
            break
        }
    }

    /// Takes one accepted binary message (one 20 ms frame): the samples go from the bytes they arrived
    /// in straight into the leg's ring, unmasked as they are read (a client's frames are masked; nothing
    /// is copied to unmask them).
    private func receiveAudio(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        guard let leg else { return }
        if leg.isEcho {
            // The frame goes straight back: bit-exact, and no later than it takes to write it.
            leg.framesIn.add()
            leg.framesOut.add()
            setup.engine.metrics.framesIn.increment()
            setup.engine.metrics.framesOut.increment()
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: frame.unmaskedData)), promise: nil)
            return
        }
        if let key = frame.maskKey {
            frame.data.withUnsafeReadableBytes { leg.receive(PCM16LittleEndian($0, maskingKey: (key[0], key[1], key[2], key[3]))) }
        } else {
            frame.data.withUnsafeReadableBytes { leg.receive(PCM16LittleEndian($0)) }
        }
        setup.engine.metrics.framesIn.increment()
    }

    private func receiveText(_ text: String, at now: Int64) {
        let parsed: Result<PeerMessage, PeerMessage.Invalid>
        do {
            parsed = .success(try PeerMessage.parse(text))
        } catch {
            parsed = .failure(error)
        }
        let event: LegLifecycle.Event
        switch parsed {
        case .success(.connected(let rate, _)): event = .connected(rate: rate, at: now)
        case .failure(let e) where e.event == "websocket:connected": event = .unusableConnected(reason: e.description, at: now)
        default: event = .text(at: now)
        }
        let action = lifecycle.handle(event)
        switch (action, parsed) {
        case (.start(let rate), .success(.connected(_, let headers))):
            startLeg(sampleRate: rate, headers: headers)
        case (.accept, .success(let message)):
            dispatch(message)
        case (.accept, .failure(let e)), (.drop(.beforeConnected), .failure(let e)):
            setup.metrics.messagesInvalid.increment()
            problem("ignored an invalid text message", ["reason": "\(e.description)"])
        case (.close, .failure):
            setup.metrics.messagesInvalid.increment()
            perform(action)
        default:
            perform(action)
        }
    }

    /// A valid text event while streaming.
    private func dispatch(_ message: PeerMessage) {
        guard let leg else { return }
        switch message {
        case .dtmf(let digit, let duration):
            setup.engine.peerReportedDTMF(digit, durationMilliseconds: duration, on: leg)
        case .cleared:
            setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .cleared))
        case .notify(let payload):
            setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .notify(payload: payload)))
        case .other(let event):
            logger.debug("ignored event", metadata: ["event": "\(event)"])
        case .connected:
            break  // the lifecycle answers a second one with .drop(.repeatedConnected)
        }
    }

    private func startLeg(sampleRate: Int, headers: [String: String]) {
        guard let context, case .caller(let route, let attaching, let started, _) = setup.peer else { return }
        let conversation = route.conversationHeader.flatMap { headers[$0] } ?? route.conversation
        let transport = ChannelLegTransport(
            channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop),
            forwardsDTMF: route.dtmfEvents == true, isService: false)
        let leg = Leg(
            conversationName: conversation, sampleRate: sampleRate, headers: headers, isEcho: route.mode == .echo,
            transport: transport, waker: setup.outbound.waker)
        self.leg = leg
        logger[metadataKey: "leg"] = "\(leg.id.uuidString.lowercased())"
        setup.outbound.write(leg, with: self)
        attaching(leg)
        setup.engine.attach(leg)
        logger.info(
            "leg connected",
            metadata: ["rate": "\(sampleRate)", "route": "\(route.path)", "conversation": "\(leg.conversationName)"])
        started(leg, context.eventLoop)
    }

    // MARK: Outbound

    /// Writes every whole frame the shard has produced (called on the event loop when woken).
    func writeOutbound() {
        guard let leg, let context else { return }
        let n = leg.frameSamples
        let frame = UnsafeMutableBufferPointer(rebasing: scratch[0..<n])
        guard context.channel.isWritable else {
            // A peer that does not read never makes us buffer: its frames are dropped and counted.
            var dropped = 0
            while leg.outbound.available >= n {
                dropped += leg.outbound.read(into: frame)
            }
            leg.samplesDropped.add(dropped)
            setup.engine.metrics.samplesDropped.increment(by: dropped)
            return
        }
        if let side = service, side.endpoint.protocol != .voiceAPI {
            writeRawOutbound(frame: frame, context: context)
            return
        }
        var wrote = false
        while leg.outbound.available >= n {
            _ = leg.outbound.read(into: frame)
            var buffer = context.channel.allocator.buffer(capacity: 2 * n)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * n) { raw in
                PCM16LittleEndian.encode(UnsafeBufferPointer(frame), into: raw)
                return 2 * n
            }
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: maskKey, data: buffer)), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
    }

    /// Sends a text message (a command to the peer) while streaming.
    func send(text: String) {
        guard let context, leg != nil else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: buffer)), promise: nil)
    }

    /// Ends the leg on request: closes with 1000 and the reason.
    func hangUp(reason: String) {
        if closeServiceGracefully(reason: reason) { return }
        perform(lifecycle.handle(.hangUp(reason: reason)))
    }

    /// The drain deadline: closes with 1001.
    func drainDeadline() {
        perform(lifecycle.handle(.drainDeadline))
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
extension LegHandler: Sendable {}

/// The engine's handle on a websocket leg: commands cross to the leg's event loop.
final class ChannelLegTransport: LegTransport {
    private let channel: any Channel
    private let handler: NIOLoopBound<LegHandler>
    /// The leg's route sends it the conversation's detected digits (`dtmf_events`).
    let forwardsDTMF: Bool
    /// A service Patchbay dialled: it hears every digit of the other legs, detected or reported, as the
    /// Voice API would send them.
    let isService: Bool

    init(channel: any Channel, handler: NIOLoopBound<LegHandler>, forwardsDTMF: Bool, isService: Bool) {
        self.channel = channel
        self.handler = handler
        self.forwardsDTMF = forwardsDTMF
        self.isService = isService
    }

    func send(text: String) {
        let handler = handler
        channel.eventLoop.execute { handler.value.send(text: text) }
    }

    func close(reason: String) {
        let handler = handler
        channel.eventLoop.execute { handler.value.hangUp(reason: reason) }
    }
}
