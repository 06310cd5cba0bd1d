import Foundation
import Logging
import NIOCore
import NIOWebSocket
import PatchbayDSP
import PatchbayEngine

/// One Voice API websocket after the upgrade: speaks PROTOCOL.md section 1 as the server.
///
/// Policy for bad input (README "Bad input"): binary audio before `websocket:connected`, an unusable
/// content type, no `connected` within the connect timeout, or silence past the idle timeout close
/// the leg with a reasoned close code; a frame of the wrong size, a text message that is not a valid
/// event, and messages over the rate limit are dropped and counted; oversized messages are refused by
/// the websocket decoder (close 1009). Every case is counted in `/metrics` and logged (the first few
/// per leg, then one in a thousand), and touches no other leg.
final class LegHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Setup {
        let engine: Engine
        let route: ServerConfiguration.Route
        let limits: ServerConfiguration.Limits
        let metrics: ServerMetrics
        let outbound: LoopOutbound
        let logger: Logger
        /// Called once the leg is attached (the route's stream starts here).
        let legStarted: @Sendable (Leg) -> Void
    }

    private enum State {
        case awaitingConnected
        case streaming(Leg)
        case closing
        case closed
    }

    private let setup: Setup
    private var logger: Logger
    private var state = State.awaitingConnected
    private var context: ChannelHandlerContext?
    private var housekeeping: RepeatedTask?
    private let upgradedAt = NIODeadline.now()
    private var lastReceived = NIODeadline.now()
    private var lastPing = NIODeadline.now()
    private var frameBytes = 0
    private var frameSamples = 0
    /// Message-rate token bucket: up to one second's allowance in reserve.
    private var tokens: Double
    private var lastRefill = NIODeadline.now()
    private var problemsLogged = 0
    /// One outbound frame (20 ms at up to 48 kHz).
    private let scratch = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 960)

    init(setup: Setup) {
        self.setup = setup
        logger = setup.logger
        tokens = Double(setup.limits.maxMessagesPerSecond)
        scratch.initialize(repeating: 0)
    }

    deinit {
        scratch.deallocate()
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        setup.metrics.connectionsOpen.increment()
        setup.outbound.register(self)
        logger[metadataKey: "peer"] = "\(context.remoteAddress.map { "\($0)" } ?? "?")"
        let interval = TimeAmount.milliseconds(250)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        housekeeping = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            loopBound.value.checkTimers()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.notice("websocket error, closing", metadata: ["error": "\(error)"])
        end()
        context.close(promise: nil)
    }

    /// Leaves the engine and stops the timers (idempotent).
    private func end() {
        housekeeping?.cancel()
        housekeeping = nil
        switch state {
        case .closed:
            return
        case .streaming(let leg):
            setup.engine.detach(leg)
            logger.info(
                "leg ended",
                metadata: [
                    "frames_in": "\(leg.framesIn.value)", "frames_out": "\(leg.framesOut.value)",
                    "concealed": "\(leg.framesConcealed.value)",
                ])
        case .awaitingConnected, .closing:
            break
        }
        state = .closed
        setup.outbound.unregister(self)
        setup.metrics.connectionsOpen.decrement()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastReceived = .now()
        switch frame.opcode {
        case .binary:
            guard allowMessage() else { return }
            receiveAudio(frame, context: context)
        case .text:
            guard allowMessage() else { return }
            var data = frame.unmaskedData
            receiveText(data.readString(length: data.readableBytes) ?? "")
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            // Answer with the peer's code (RFC 6455 5.5.1), then close.
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            close(code: code, reason: "", log: false)
        default:
            break
        }
    }

    /// Takes one binary message: the samples go from the bytes they arrived in straight into the leg's
    /// ring, unmasked as they are read (a client's frames are masked; nothing is copied to unmask them).
    private func receiveAudio(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        let data = frame.data
        guard case .streaming(let leg) = state else {
            if case .awaitingConnected = state {
                setup.metrics.legsClosedByPolicy.add()
                close(code: .policyViolation, reason: "binary audio before websocket:connected")
            }
            return
        }
        guard data.readableBytes == frameBytes else {
            setup.metrics.framesWrongSize.add()
            setup.engine.metrics.framesRejected.add()
            problem(
                "dropped a binary message of the wrong size",
                ["bytes": "\(data.readableBytes)", "expected": "\(frameBytes)"])
            return
        }
        if leg.isEcho {
            // The frame goes straight back: bit-exact, and no later than it takes to write it.
            leg.framesIn.add()
            leg.framesOut.add()
            setup.engine.metrics.framesIn.add()
            setup.engine.metrics.framesOut.add()
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: frame.unmaskedData)), promise: nil)
            return
        }
        if let key = frame.maskKey {
            data.withUnsafeReadableBytes { leg.receive(PCM16LittleEndian($0, maskingKey: (key[0], key[1], key[2], key[3]))) }
        } else {
            data.withUnsafeReadableBytes { leg.receive(PCM16LittleEndian($0)) }
        }
        setup.engine.metrics.framesIn.add()
    }

    private func receiveText(_ text: String) {
        let message: PeerMessage
        do {
            message = try PeerMessage.parse(text)
        } catch {
            setup.metrics.messagesInvalid.add()
            if case .awaitingConnected = state, error.event == "websocket:connected" {
                // Without a usable rate there is no leg to stream: say why and close.
                setup.metrics.legsClosedByPolicy.add()
                close(code: .unacceptableData, reason: error.description)
                return
            }
            problem("ignored an invalid text message", ["reason": "\(error.description)"])
            return
        }
        switch (state, message) {
        case (.awaitingConnected, .connected(let rate, let headers)):
            startLeg(sampleRate: rate, headers: headers)
        case (.awaitingConnected, _):
            setup.metrics.messagesInvalid.add()
            problem("ignored a text message before websocket:connected", ["message": "\(message)"])
        case (.streaming, .connected):
            setup.metrics.messagesInvalid.add()
            problem("ignored a second websocket:connected", [:])
        case (.streaming(let leg), .dtmf(let digit, let duration)):
            setup.engine.peerReportedDTMF(digit, durationMilliseconds: duration, on: leg)
        case (.streaming(let leg), .cleared):
            setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .cleared))
        case (.streaming(let leg), .notify(let payload)):
            setup.engine.events.publish(
                EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .notify(payload: payload)))
        case (.streaming, .other(let event)):
            logger.debug("ignored event", metadata: ["event": "\(event)"])
        case (.closing, _), (.closed, _):
            break
        }
    }

    private func startLeg(sampleRate: Int, headers: [String: String]) {
        guard let context else { return }
        let route = setup.route
        let conversation = route.conversationHeader.flatMap { headers[$0] } ?? route.conversation
        let transport = ChannelLegTransport(
            channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop),
            forwardsDTMF: route.dtmfEvents == true)
        let leg = Leg(
            conversationName: conversation, sampleRate: sampleRate, headers: headers, isEcho: route.mode == .echo,
            transport: transport, waker: setup.outbound.waker)
        frameSamples = leg.frameSamples
        frameBytes = 2 * leg.frameSamples
        state = .streaming(leg)
        logger[metadataKey: "leg"] = "\(leg.id.uuidString.lowercased())"
        setup.engine.attach(leg)
        logger.info(
            "leg connected",
            metadata: ["rate": "\(sampleRate)", "route": "\(route.path)", "conversation": "\(leg.conversationName)"])
        setup.legStarted(leg)
    }

    /// Takes a token from the message-rate bucket; counts and drops the message when there is none.
    private func allowMessage() -> Bool {
        let now = NIODeadline.now()
        let rate = Double(setup.limits.maxMessagesPerSecond)
        let elapsed = Double((now - lastRefill).nanoseconds) / 1e9
        lastRefill = now
        tokens = min(rate, tokens + elapsed * rate)
        guard tokens >= 1 else {
            setup.metrics.messagesOverRate.add()
            setup.engine.metrics.framesRejected.add()
            problem("dropped a message over the rate limit", ["limit_per_second": "\(setup.limits.maxMessagesPerSecond)"])
            return false
        }
        tokens -= 1
        return true
    }

    // MARK: Outbound

    /// Writes every whole frame the shard has produced (called on the event loop when woken).
    func writeOutbound() {
        guard case .streaming(let leg) = state, let context else { return }
        let n = frameSamples
        let frame = UnsafeMutableBufferPointer(rebasing: scratch[0..<n])
        guard context.channel.isWritable else {
            // A peer that does not read never makes us buffer: its frames are dropped and counted.
            var dropped = 0
            while leg.outbound.available >= n {
                dropped += leg.outbound.read(into: frame)
            }
            leg.samplesDropped.add(dropped)
            setup.engine.metrics.samplesDropped.add(dropped)
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
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: buffer)), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
    }

    /// Sends a text message (a command to the peer).
    func send(text: String) {
        guard let context, case .streaming = state else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
    }

    /// Sends a close frame with `code` and `reason`, then closes the connection (idempotent).
    func close(code: WebSocketErrorCode, reason: String, log: Bool = true) {
        guard let context else { return }
        switch state {
        case .closing, .closed: return
        case .streaming(let leg): setup.engine.detach(leg)
        case .awaitingConnected: break
        }
        if log {
            logger.notice("closing leg", metadata: ["code": "\(code)", "reason": "\(reason)"])
        }
        state = .closing
        var buffer = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.write(webSocketErrorCode: code)
        buffer.writeString(String(reason.utf8.prefix(120)) ?? "")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: Timers

    private func checkTimers() {
        let now = NIODeadline.now()
        let limits = setup.limits
        switch state {
        case .awaitingConnected:
            if limits.connectTimeoutSeconds > 0, now - upgradedAt > .nanoseconds(Int64(limits.connectTimeoutSeconds * 1e9)) {
                setup.metrics.legsClosedByPolicy.add()
                close(code: .policyViolation, reason: "no websocket:connected within \(limits.connectTimeoutSeconds) s")
                return
            }
        case .streaming:
            break
        case .closing, .closed:
            return
        }
        if limits.idleTimeoutSeconds > 0, now - lastReceived > .nanoseconds(Int64(limits.idleTimeoutSeconds * 1e9)) {
            setup.metrics.legsClosedByPolicy.add()
            close(code: .goingAway, reason: "idle for \(limits.idleTimeoutSeconds) s")
            return
        }
        if limits.pingIntervalSeconds > 0, now - lastPing >= .nanoseconds(Int64(limits.pingIntervalSeconds * 1e9)),
            let context
        {
            lastPing = now
            var data = context.channel.allocator.buffer(capacity: 8)
            data.writeInteger(UInt64(now.uptimeNanoseconds))
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: data)), promise: nil)
        }
    }

    /// Logs a problem with the peer's input: the first five per leg, then one in a thousand.
    private func problem(_ message: Logger.Message, _ metadata: Logger.Metadata) {
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

    init(channel: any Channel, handler: NIOLoopBound<LegHandler>, forwardsDTMF: Bool) {
        self.channel = channel
        self.handler = handler
        self.forwardsDTMF = forwardsDTMF
    }

    func send(text: String) {
        let handler = handler
        channel.eventLoop.execute { handler.value.send(text: text) }
    }

    func close(reason: String) {
        let handler = handler
        channel.eventLoop.execute { handler.value.close(code: .goingAway, reason: reason) }
    }
}
