import Foundation
import Logging
import NIOCore
import NIOWebSocket
import PatchbayDSP
import PatchbayEngine

/// The client role's own state: what the service sent, waiting to be played, and the clock that plays it.
struct ServiceSide {
    var playout: Playout
    /// Releases one frame per 20 ms into the leg (`DirectPacer`: never faster than real time).
    var pacer = DirectPacer()
    var release: Scheduled<Void>?
    /// When the service's last audio came (a partial last frame is padded once it is this stale).
    var lastAudio: Int64 = 0
    var connectedAt: Int64
    var heardFirstAudio = false
    /// One frame's bytes, taken from the playout.
    var frame: [UInt8]

    init(frameBytes: Int, capacityFrames: Int, connectedAt: Int64) {
        playout = Playout(frameBytes: frameBytes, capacityFrames: capacityFrames)
        frame = [UInt8](repeating: 0, count: frameBytes)
        self.connectedAt = connectedAt
    }
}

extension LegHandler {
    /// A partial last frame is played (zero-padded) once no audio has come for this long.
    static let partialFrameWait: Int64 = 40_000_000

    /// The websocket to the service is up: send `websocket:connected` (the endpoint's content type and
    /// headers), then the leg joins the caller's conversation.
    func startService(_ link: ServiceLink, rate: Int) {
        guard let context else { return }
        let connected = link.endpoint.connectedMessage(caller: link.caller.headers)
        let transport = ChannelLegTransport(
            channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop), forwardsDTMF: true, isService: true)
        let leg = Leg(
            conversationName: link.caller.conversationName, direction: .outbound, sampleRate: rate, transport: transport,
            waker: setup.outbound.waker)
        self.leg = leg
        service = ServiceSide(frameBytes: 2 * rate / 50, capacityFrames: link.endpoint.playoutBufferFrames, connectedAt: Self.now)
        logger[metadataKey: "leg"] = "\(leg.id.uuidString.lowercased())"
        send(text: connected)
        setup.outbound.write(leg, with: self)
        setup.engine.attach(leg)
        logger.info("service leg connected", metadata: ["rate": "\(rate)", "conversation": "\(leg.conversationName)"])
        link.serviceStarted(leg, handler: self)
    }

    /// Audio from the service: any length, into the playout buffer (what overflows it is dropped and
    /// counted), then played out one frame per 20 ms.
    func receiveServiceAudio(_ frame: WebSocketFrame, at now: Int64) {
        guard var side = service else { return }
        let data = frame.maskKey == nil ? frame.data : frame.unmaskedData
        if data.readableBytes % 2 == 1 {
            setup.metrics.serviceOddMessages.increment()
            problem("a service audio message had an odd number of bytes (the odd byte starts the next one)", ["bytes": "\(data.readableBytes)"])
        }
        if !side.heardFirstAudio {
            side.heardFirstAudio = true
            setup.metrics.serviceFirstAudioTime.recordNanoseconds(now - side.connectedAt)
        }
        // A gap inside a stream (the caller heard silence standing in): the buffer had run dry.
        if side.playout.count == 0, let last = side.pacer.lastSent, now - last > 2 * DirectPacer.period, now - last < 1_000_000_000 {
            setup.metrics.serviceUnderruns.increment()
        }
        let dropped = data.withUnsafeReadableBytes { side.playout.append($0) }
        side.lastAudio = now
        service = side
        if dropped > 0 {
            setup.metrics.servicePlayoutOverflowBytes.increment(by: dropped)
            problem(
                "the service sent more audio than the playout buffer holds: dropped",
                ["bytes": "\(dropped)", "buffer_frames": "\(side.playout.capacityBytes / side.playout.frameBytes)"])
        }
        releaseDue()
    }

    /// Plays what is due: every frame the pacer lets go now goes into the leg (as a caller's frame would
    /// arrive), and every `notify` playout has reached is answered. Schedules itself for the next frame.
    func releaseDue() {
        guard let leg, var side = service else { return }
        side.release?.cancel()
        side.release = nil
        let now = Self.now
        var released = false
        while side.pacer.maySend(at: now) {
            let stale = now - side.lastAudio >= Self.partialFrameWait
            let took = side.frame.withUnsafeMutableBytes { side.playout.takeFrame(into: $0, padding: stale) }
            guard took else { break }
            side.frame.withUnsafeBytes { leg.receive(PCM16LittleEndian($0)) }
            side.pacer.sent(at: now, silence: false)
            setup.engine.metrics.framesIn.increment()
            released = true
        }
        if released { setup.metrics.servicePlayoutDepth.record(side.playout.framesQueued) }
        for payload in side.playout.reachedMarkers() {
            send(text: #"{"event":"websocket:notify","payload":"# + payload + "}")
        }
        if side.playout.count > 0, let context {
            var due = side.pacer.nextAllowed(at: now)
            if side.playout.count < side.playout.frameBytes { due = max(due, side.lastAudio + Self.partialFrameWait) }
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            side.release = context.eventLoop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(max(due, now + 500_000)))) {
                loopBound.value.releaseDue()
            }
        }
        service = side
    }

    /// A text message from the service: `clear` and `notify` are honoured; anything else that is JSON is
    /// published as an event (a transcript, the service's own events); what is not JSON is counted and
    /// logged. Never fatal.
    func receiveServiceText(_ text: String, at now: Int64) {
        let action = lifecycle.handle(.text(at: now))
        guard case .accept = action, let leg else {
            perform(action)
            return
        }
        let command: ServiceCommand
        do {
            command = try ServiceCommand.parse(text)
        } catch {
            setup.metrics.serviceMessagesInvalid.increment()
            problem("ignored an invalid text message from the service", ["reason": "\(error.description)"])
            return
        }
        switch command {
        case .clear:
            guard var side = service else { return }
            let (dropped, markers) = side.playout.clear()
            side.release?.cancel()
            side.release = nil
            service = side
            setup.metrics.serviceClearedMilliseconds.increment(by: dropped / (side.playout.frameBytes / 20))
            // Their audio will never play: the pending notifies are answered now, then the clear.
            for payload in markers { send(text: #"{"event":"websocket:notify","payload":"# + payload + "}") }
            send(text: #"{"event":"websocket:cleared"}"#)
        case .notify(let payload):
            service?.playout.appendMarker(payload)
            releaseDue()
        case .other:
            setup.metrics.serviceMessages.increment()
            setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .message(text: text)))
        }
    }
}
