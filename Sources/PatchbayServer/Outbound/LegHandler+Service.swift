import Foundation
import Logging
import NIOCore
import NIOWebSocket
import PatchbayCodecs
import PatchbayDSP
import PatchbayEngine

/// Opus both ways for a `raw` service with `codec: opus` (libopus state is not copyable: it lives here).
final class OpusCoders {
    var encoder: OpusEncoder
    var decoder: OpusDecoder
    var packet = [UInt8](repeating: 0, count: OpusEncoder.maximumPacketBytes)

    init(sampleRate: Int) throws(OpusCodecError) {
        encoder = try OpusEncoder(sampleRate: sampleRate)
        decoder = try OpusDecoder(sampleRate: sampleRate)
    }
}

/// The client role's own state: what the service sent, waiting to be played, and the clock that plays it.
struct ServiceSide {
    let endpoint: WebSocketEndpoint
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

    // `raw` only.
    /// Audio may go to the service (false until `wait_for` is seen, and after `close`).
    var audioOpen: Bool
    /// The caller's audio gathered into one `chunk_ms` message.
    var chunk: [UInt8] = []
    var chunkBytes: Int
    var lastAudioSent: Int64
    var lastKeepalive: Int64 = 0
    var closing = false
    var opus: OpusCoders?
    /// `pcmu`/`pcma` (`raw` and `openai-realtime`): G.711 both ways.
    let g711: G711?

    // `openai-realtime` only.
    /// Where each response item's audio starts in the playout (its `written` position), in order.
    var items: [(id: String, start: Int)] = []
    /// Items whose late deltas are dropped (truncated at a barge-in), and cancelled responses.
    var droppedItems: Set<String> = []
    var cancelledResponses: Set<String> = []

    init(endpoint: WebSocketEndpoint, frameBytes: Int, connectedAt: Int64) throws(OpusCodecError) {
        self.endpoint = endpoint
        playout = Playout(frameBytes: frameBytes, capacityFrames: endpoint.playoutBufferFrames)
        frame = [UInt8](repeating: 0, count: frameBytes)
        self.connectedAt = connectedAt
        audioOpen = endpoint.waitFor == nil
        g711 = endpoint.codec.g711
        // G.711 carries one byte per sample, PCM two.
        chunkBytes = (g711 == nil ? frameBytes : frameBytes / 2) * endpoint.chunkMilliseconds / 20
        chunk.reserveCapacity(chunkBytes)
        lastAudioSent = connectedAt
        if endpoint.protocol == .raw, endpoint.codec == .opus { opus = try OpusCoders(sampleRate: frameBytes * 25) }
    }
}

extension LegHandler {
    /// A partial last frame is played (zero-padded) once no audio has come for this long.
    static let partialFrameWait: Int64 = 40_000_000

    /// The websocket to the service is up: send `websocket:connected` (the endpoint's content type and
    /// headers; `raw`: its `init` message, if any), then the leg joins the caller's conversation.
    func startService(_ link: ServiceLink, rate: Int) {
        guard let context else { return }
        let side: ServiceSide
        do {
            side = try ServiceSide(endpoint: link.endpoint, frameBytes: 2 * rate / 50, connectedAt: Self.now)
        } catch {
            logger.error("cannot start the service's codec", metadata: ["error": "\(error)"])
            perform(lifecycle.handle(.hangUp(reason: "codec: \(error)")))
            return
        }
        let first: String? =
            switch link.endpoint.protocol {
            case .voiceAPI: link.endpoint.connectedMessage(caller: link.caller.headers)
            case .raw: link.endpoint.initMessage.map(WebSocketEndpoint.text)
            case .openAIRealtime: Self.sessionUpdate(link.endpoint)
            }
        let transport = ChannelLegTransport(
            channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop), forwardsDTMF: true, isService: true)
        let leg = Leg(
            id: link.legID, conversationName: link.caller.conversationName, direction: .outbound, sampleRate: rate,
            hearsItself: link.endpoint.source == .mixed, transport: transport, waker: setup.outbound.waker)
        self.leg = leg
        service = side
        logger[metadataKey: "leg"] = "\(leg.id.uuidString.lowercased())"
        if let first { send(text: first) }
        setup.outbound.write(leg, with: self)
        setup.engine.attach(leg)
        logger.info("service leg connected", metadata: ["rate": "\(rate)", "conversation": "\(leg.conversationName)"])
        link.serviceStarted(leg, handler: self)
    }

    /// Audio from the service: any length, into the playout buffer (what overflows it is dropped and
    /// counted), then played out one frame per 20 ms.
    func receiveServiceAudio(_ frame: WebSocketFrame, at now: Int64) {
        guard var side = service else { return }
        var data = frame.maskKey == nil ? frame.data : frame.unmaskedData
        if let opus = side.opus {
            // One Opus packet per message: decoded to PCM at the endpoint's rate.
            let bytes = data.readBytes(length: data.readableBytes) ?? []
            do {
                let pcm = try opus.decoder.decode(bytes)
                var decoded = context?.channel.allocator.buffer(capacity: 2 * pcm.count) ?? ByteBuffer()
                decoded.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * pcm.count) { raw in
                    pcm.withUnsafeBufferPointer { PCM16LittleEndian.encode($0, into: raw) }
                    return 2 * pcm.count
                }
                data = decoded
            } catch {
                setup.metrics.serviceMessagesInvalid.increment()
                problem("dropped an Opus packet from the service that does not decode", ["error": "\(error)"])
                return
            }
        }
        if let law = side.g711 {
            data = Self.expand(data, law: law, allocator: context?.channel.allocator ?? ByteBufferAllocator())
        }
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
        service = side
        data.withUnsafeReadableBytes { queue($0, at: now) }
    }

    /// G.711 bytes expanded to 16-bit little-endian PCM.
    static func expand(_ codes: ByteBuffer, law: G711, allocator: ByteBufferAllocator) -> ByteBuffer {
        var pcm = allocator.buffer(capacity: 2 * codes.readableBytes)
        codes.withUnsafeReadableBytes { codes in
            pcm.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * codes.count) { out in
                law.decode(codes, into: out)
                return 2 * codes.count
            }
        }
        return pcm
    }

    /// Queues a service's audio bytes for playout (what overflows is dropped and counted) and plays
    /// what is due.
    func queue(_ bytes: UnsafeRawBufferPointer, at now: Int64) {
        guard var side = service else { return }
        let dropped = side.playout.append(bytes)
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
            answerNotify(payload)
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
        switch service?.endpoint.protocol {
        case .raw?:
            receiveRawText(text, leg: leg)
            return
        case .openAIRealtime?:
            receiveRealtimeText(text, leg: leg)
            return
        case .voiceAPI?, nil:
            break
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
            // Their audio will never play: the pending notifies are answered now, then the clear.
            for payload in clearPlayout() { answerNotify(payload) }
            send(text: #"{"event":"websocket:cleared"}"#)
        case .notify(let payload):
            service?.playout.appendMarker(payload)
            releaseDue()
        case .other:
            setup.metrics.serviceMessages.increment()
            setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .message(text: text)))
        }
    }

    /// Drops what waits for playout, counted; returns the pending markers' payloads.
    private func clearPlayout() -> [String] {
        guard var side = service else { return [] }
        let (dropped, markers) = side.playout.clear()
        side.release?.cancel()
        side.release = nil
        service = side
        setup.metrics.serviceClearedMilliseconds.increment(by: dropped / (side.playout.frameBytes / 20))
        return markers
    }

    // MARK: `raw`

    /// A `raw` service's text: its `wait_for` opens the audio, its `clear_on` drops queued playout, and
    /// every JSON message is published as an event (transcripts, the service's own events).
    private func receiveRawText(_ text: String, leg: Leg) {
        let object: [String: Any]
        do {
            object = try PeerMessage.jsonObject(text, limit: ServiceCommand.maximumTextBytes)
        } catch {
            setup.metrics.serviceMessagesInvalid.increment()
            problem("ignored an invalid text message from the service", ["reason": "\(error.description)"])
            return
        }
        guard let side = service else { return }
        if !side.audioOpen, !side.closing, WebSocketEndpoint.matches(object, side.endpoint.waitFor) {
            service?.audioOpen = true
            logger.info("service ready for audio")
        }
        if WebSocketEndpoint.matches(object, side.endpoint.clearOn) { _ = clearPlayout() }
        setup.metrics.serviceMessages.increment()
        setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .message(text: text)))
    }

    /// Sends the caller's audio to a `raw` service: `chunk_ms` per binary message (or one Opus packet per
    /// 20 ms), nothing before `wait_for` or after `close`, no digital silence unless `send_silence`.
    func writeRawOutbound(frame: UnsafeMutableBufferPointer<Int16>, context: ChannelHandlerContext) {
        guard let leg, var side = service else { return }
        let n = frame.count
        var wrote = false
        while leg.outbound.available >= n {
            _ = leg.outbound.read(into: frame)
            guard side.audioOpen, !side.closing else { continue }
            if !side.endpoint.sendSilence, !frame.contains(where: { $0 != 0 }) { continue }
            if let opus = side.opus {
                let length: Int
                do {
                    length = try opus.packet.withUnsafeMutableBufferPointer { try opus.encoder.encode(UnsafeBufferPointer(frame), into: $0) }
                } catch {
                    problem("could not encode a frame to Opus", ["error": "\(error)"])
                    continue
                }
                let buffer = context.channel.allocator.buffer(bytes: opus.packet[0..<length])
                context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: maskKey, data: buffer)), promise: nil)
                wrote = true
            } else {
                if let law = side.g711 {
                    for sample in frame { side.chunk.append(law.encode(sample)) }
                } else {
                    for sample in frame {
                        side.chunk.append(UInt8(truncatingIfNeeded: sample))
                        side.chunk.append(UInt8(truncatingIfNeeded: sample >> 8))
                    }
                }
                guard side.chunk.count >= side.chunkBytes else { continue }
                if side.endpoint.protocol == .openAIRealtime {
                    let text = #"{"type":"input_audio_buffer.append","audio":""# + Data(side.chunk).base64EncodedString() + #""}"#
                    var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
                    buffer.writeString(text)
                    context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: buffer)), promise: nil)
                } else {
                    let buffer = context.channel.allocator.buffer(bytes: side.chunk)
                    context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: maskKey, data: buffer)), promise: nil)
                }
                side.chunk.removeAll(keepingCapacity: true)
                wrote = true
            }
            side.lastAudioSent = Self.now
        }
        service = side
        if wrote { context.flush() }
    }

    /// Every 250 ms: a `raw` service's keepalive when no audio has gone for its interval.
    func serviceHousekeeping(at now: Int64) {
        guard let side = service, let keepalive = side.endpoint.keepalive, side.audioOpen, !side.closing else { return }
        let interval = Int64(keepalive.interval * 1e9)
        guard now - side.lastAudioSent >= interval, now - side.lastKeepalive >= interval else { return }
        service?.lastKeepalive = now
        send(text: WebSocketEndpoint.text(keepalive.message))
    }

    /// Patchbay ends a `raw` session that has a `close` message: the message goes, no audio follows, and
    /// the service has two seconds to send its last results and close itself. False when there is no
    /// such message (the caller closes at once).
    func closeServiceGracefully(reason: String) -> Bool {
        guard let side = service, let message = side.endpoint.closeMessage, !side.closing, let context else { return false }
        service?.closing = true
        send(text: WebSocketEndpoint.text(message))
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .seconds(2)) {
            let handler = loopBound.value
            handler.perform(handler.lifecycle.handle(.hangUp(reason: reason)))
        }
        return true
    }

    // MARK: `openai-realtime`

    /// The first message: `session.update` with the endpoint's `session`, its audio formats filled in
    /// (`audio/pcm` at 24 kHz both ways, or `audio/pcmu`/`audio/pcma` with those codecs) where the
    /// template leaves them out.
    static func sessionUpdate(_ endpoint: WebSocketEndpoint) -> String {
        var session: [String: Any] = [:]
        if case .object(let template)? = endpoint.session { session = template.mapValues(\.foundationObject) }
        if session["type"] == nil { session["type"] = "realtime" }
        var audio = session["audio"] as? [String: Any] ?? [:]
        for direction in ["input", "output"] {
            var d = audio[direction] as? [String: Any] ?? [:]
            if d["format"] == nil {
                d["format"] =
                    switch endpoint.codec {
                    case .pcmu: ["type": "audio/pcmu"]
                    case .pcma: ["type": "audio/pcma"]
                    case .pcm, .opus: ["type": "audio/pcm", "rate": 24000] as [String: Any]
                    }
            }
            audio[direction] = d
        }
        session["audio"] = audio
        let object: [String: Any] = ["type": "session.update", "session": session]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// A Realtime event: audio deltas are played (unless their item was truncated or their response
    /// cancelled), `input_audio_buffer.speech_started` is a barge-in, and every event but the audio
    /// deltas is published (transcripts, errors, the session's own events).
    private func receiveRealtimeText(_ text: String, leg: Leg) {
        let object: [String: Any]
        do {
            object = try PeerMessage.jsonObject(text, limit: setup.limits.maxServiceMessageBytes)
        } catch {
            setup.metrics.serviceMessagesInvalid.increment()
            problem("ignored an invalid text message from the service", ["reason": "\(error.description)"])
            return
        }
        let type = object["type"] as? String ?? ""
        switch type {
        case "response.output_audio.delta":
            guard let side = service, let delta = object["delta"] as? String, let item = object["item_id"] as? String else { return }
            let response = object["response_id"] as? String ?? ""
            if side.droppedItems.contains(item) || side.cancelledResponses.contains(response) {
                setup.metrics.serviceLateDeltasDropped.increment()
                return
            }
            guard let audio = Data(base64Encoded: delta) else {
                setup.metrics.serviceMessagesInvalid.increment()
                problem("ignored an audio delta that is not base64", [:])
                return
            }
            if side.items.last?.id != item { service?.items.append((item, side.playout.written)) }
            if let law = side.g711 {
                let pcm = Self.expand(ByteBuffer(bytes: audio), law: law, allocator: ByteBufferAllocator())
                pcm.withUnsafeReadableBytes { queue($0, at: Self.now) }
            } else {
                audio.withUnsafeBytes { queue($0, at: Self.now) }
            }
            return
        case "input_audio_buffer.speech_started":
            bargeIn()
        case "response.done":
            if let response = object["response"] as? [String: Any], response["status"] as? String == "cancelled",
                let id = response["id"] as? String
            {
                service?.cancelledResponses.insert(id)
            }
        default:
            break
        }
        setup.metrics.serviceMessages.increment()
        setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .message(text: text)))
    }

    /// The caller started speaking: what is queued is dropped, and the item that was playing is
    /// truncated at what the caller actually heard (`audio_end_ms`), so the model's memory of its own
    /// words matches the call. Items queued but not begun are dropped whole; their late deltas too.
    private func bargeIn() {
        guard var side = service else { return }
        let taken = side.playout.taken
        let bytesPerMillisecond = side.playout.frameBytes / 20
        var truncate: (id: String, ms: Int)?
        for (i, item) in side.items.enumerated() {
            let end = i + 1 < side.items.count ? side.items[i + 1].start : side.playout.written
            guard end > taken else { continue }  // played to its end before the barge-in
            side.droppedItems.insert(item.id)
            if item.start < taken, truncate == nil { truncate = (item.id, (taken - item.start) / bytesPerMillisecond) }
            if item.start >= taken, truncate == nil { truncate = (item.id, 0) }
        }
        side.items.removeAll()
        service = side
        _ = clearPlayout()
        if let truncate {
            let object: [String: Any] = [
                "type": "conversation.item.truncate", "item_id": truncate.id, "content_index": 0, "audio_end_ms": truncate.ms,
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            send(text: String(decoding: data, as: UTF8.self))
        }
    }

    /// `websocket:notify` with the payload of the `notify` it answers (compact JSON).
    private func answerNotify(_ payload: String) {
        send(text: #"{"event":"websocket:notify","payload":"# + payload + "}")
    }
}
