import Foundation
import Logging
import NIOCore
import NIOWebSocket
import PatchbayConfiguration
import PatchbayDSP
import PatchbayEngine
import PatchbayVoiceAPI

/// The caller's side of a leg that dialled in (the Voice API, or any client of a route): the Voice API's
/// protocol from the server's side. Its `websocket:connected` starts the leg on the route (the rate, the
/// conversation its header names); its 20 ms frames go from the bytes they arrived in straight into the
/// leg's ring; its `websocket:dtmf`, `websocket:cleared` and `websocket:notify` become engine events; the
/// shard's frames go back as 20 ms binary messages; `clear` and `notify` go out as the Voice API's commands.
final class CallerLeg {
    /// A route's legs, and what the gateway does when one starts and ends.
    struct Route {
        let configuration: ServerConfiguration.Route
        /// Just before the leg is attached (its record is made here, before the engine's first event about it).
        let attaching: @Sendable (Leg) -> Void
        /// Once it is attached (the route's stream and services start here).
        let started: @Sendable (Leg, any EventLoop) -> Void
        /// Once it has left the engine.
        let ended: @Sendable (Leg, LegEndReason) -> Void
    }

    private let route: Route
    private unowned let channel: LegChannelHandler
    /// One outbound frame (20 ms at up to 24 kHz).
    private let scratch = UnsafeMutableBufferPointer<Int16>.allocate(capacity: L16.frameSamples(rate: L16.rates.max()!))

    init(route: Route, channel: LegChannelHandler) {
        self.route = route
        self.channel = channel
        scratch.initialize(repeating: 0)
    }

    deinit {
        scratch.deallocate()
    }

    private var setup: LegChannelHandler.Setup { channel.setup }

    // MARK: In

    /// One accepted binary message (one 20 ms frame), unmasked as it is read (a client's frames are masked;
    /// nothing is copied to unmask them). An echo leg's frame goes straight back.
    func receiveAudio(_ frame: WebSocketFrame) {
        guard let leg = channel.leg else { return }
        if leg.isEcho {
            // Bit-exact, and no later than it takes to write it.
            leg.framesIn.add()
            leg.framesOut.add()
            setup.engine.metrics.framesIn.increment()
            setup.engine.metrics.framesOut.increment()
            channel.write(binary: frame.unmaskedData)
            channel.flush()
            return
        }
        if let key = frame.maskKey {
            frame.data.withUnsafeReadableBytes { leg.receive(PCM16LittleEndian($0, maskingKey: (key[0], key[1], key[2], key[3]))) }
        } else {
            frame.data.withUnsafeReadableBytes { leg.receive(PCM16LittleEndian($0)) }
        }
        setup.engine.metrics.framesIn.increment()
    }

    func receiveText(_ text: String, at now: Int64) {
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
        let action = channel.decide(event)
        switch (action, parsed) {
        case (.start(let rate), .success(.connected(_, let headers))):
            start(sampleRate: rate, headers: headers)
        case (.accept, .success(let message)):
            dispatch(message)
        case (.accept, .failure(let e)), (.drop(.beforeConnected), .failure(let e)):
            // One count and one log line for the message, whichever rule refused it.
            setup.metrics.messagesInvalid.increment()
            channel.problem("ignored an invalid text message", ["reason": "\(e.description)"])
        case (.close, .failure):
            setup.metrics.messagesInvalid.increment()
            channel.perform(action)
        default:
            channel.perform(action)
        }
    }

    /// A valid text event while streaming.
    private func dispatch(_ message: PeerMessage) {
        guard let leg = channel.leg else { return }
        switch message {
        case .dtmf(let digit, let duration):
            setup.engine.peerReportedDTMF(digit, durationMilliseconds: duration, on: leg)
        case .cleared:
            setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .cleared))
        case .notify(let payload):
            setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .notify(payload: payload)))
        case .other(let event):
            channel.logger.debug("ignored event", metadata: ["event": "\(event)"])
        case .connected:
            break  // the lifecycle answers a second one with .drop(.repeatedConnected)
        }
    }

    private func start(sampleRate: Int, headers: [String: String]) {
        guard let transport = channel.transport(), let loop = channel.eventLoop else { return }
        let configuration = route.configuration
        let conversation = configuration.conversationHeader.flatMap { headers[$0] } ?? configuration.conversation
        let leg = Leg(
            conversationName: conversation, sampleRate: sampleRate, headers: headers, isEcho: configuration.mode == .echo,
            transport: transport, waker: setup.outbound.waker)
        route.attaching(leg)
        channel.attach(leg)
        channel.logger.info(
            "leg connected",
            metadata: ["rate": "\(sampleRate)", "route": "\(configuration.path)", "conversation": "\(leg.conversationName)"])
        route.started(leg, loop)
    }

    func ended(_ leg: Leg, reason: LegEndReason) {
        route.ended(leg, reason)
    }

    // MARK: Out

    /// Writes every whole frame the shard has produced for the caller, as 20 ms binary messages.
    func writeOutbound(_ leg: Leg) {
        let n = leg.frameSamples
        let frame = UnsafeMutableBufferPointer(rebasing: scratch[0..<n])
        var wrote = false
        while leg.outbound.available >= n {
            _ = leg.outbound.read(into: frame)
            var buffer = channel.allocator.buffer(capacity: 2 * n)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * n) { raw in
                PCM16LittleEndian.encode(UnsafeBufferPointer(frame), into: raw)
                return 2 * n
            }
            channel.write(binary: buffer)
            wrote = true
        }
        if wrote { channel.flush() }
    }

    /// The engine's commands, in the Voice API's words. Digits go only to a route that asked for the
    /// conversation's detected digits (`dtmf_events`): the Voice API itself does not expect them.
    func perform(_ command: LegCommand) {
        switch command {
        case .clear:
            channel.send(text: OutgoingText.clear)
        case .notify(let payload):
            channel.send(text: OutgoingText.notify(payload: payload))
        case .dtmf(let digit, let duration, let detected):
            guard detected, route.configuration.dtmfEvents == true else { return }
            channel.send(text: OutgoingText.dtmf(digit: digit, durationMilliseconds: duration))
            setup.metrics.dtmfEventsSent.increment()
        }
    }
}
