import Foundation
import Logging
import NIOCore
import NIOWebSocket
import PatchbayCodecs
import PatchbayDSP
import PatchbayEngine
import PatchbayVoiceAPI

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

/// The service's side of a leg Patchbay dialled (`ServiceLink`): the driver that runs the endpoint's
/// dialect (`ServiceDialect`: what the service's messages mean, as a value) and does the byte work around
/// it — the codec both ways (PCM, G.711, Opus), the caller's audio framed into the service's messages
/// (`chunk_ms`, binary or Realtime's base64 text), and the service's audio, of any length and faster than
/// real time, into the leg through a playout buffer released one frame per 20 ms on Patchbay's clock
/// (`PacedPlayout`). Everything here runs on the leg's event loop.
final class ServiceLeg {
    private let link: ServiceLink
    private unowned let channel: LegChannelHandler
    private var dialect: ServiceDialect
    private let outgoing: ServiceDialect.OutgoingAudio
    private var playout: PacedPlayout
    /// The next release of playout into the leg.
    private var release: Scheduled<Void>?
    private var connectedAt: Int64 = 0
    private var heardFirstAudio = false
    /// One frame of the service's audio, as playout releases it (bytes of PCM16).
    private let frame: UnsafeMutableRawBufferPointer
    /// One frame of the caller's audio, as the shard wrote it.
    private let callerFrame: UnsafeMutableBufferPointer<Int16>
    /// The caller's audio gathered into one message (`chunk_ms`), encoded.
    private var chunk: [UInt8] = []
    private var lastAudioSent: Int64 = 0
    private var opus: OpusCoders?
    private let g711: G711?

    init(link: ServiceLink, channel: LegChannelHandler) {
        self.link = link
        self.channel = channel
        let endpoint = link.endpoint
        dialect = ServiceDialect(
            endpoint: endpoint, callerHeaders: link.caller.headers, textLimit: channel.setup.limits.maxServiceMessageBytes)
        outgoing = dialect.outgoing
        let frameBytes = L16.frameBytes(rate: link.rate)
        playout = PacedPlayout(frameBytes: frameBytes, capacityFrames: endpoint.playoutBufferFrames)
        frame = .allocate(byteCount: frameBytes, alignment: 2)
        frame.initializeMemory(as: UInt8.self, repeating: 0)
        callerFrame = .allocate(capacity: L16.frameSamples(rate: link.rate))
        callerFrame.initialize(repeating: 0)
        g711 = G711(rawValue: endpoint.codec.rawValue)
        chunk.reserveCapacity(outgoing.chunkBytes)
    }

    deinit {
        frame.deallocate()
        callerFrame.deallocate()
    }

    private var setup: LegChannelHandler.Setup { channel.setup }
    private var metrics: ServerMetrics { channel.setup.metrics }

    // MARK: The session

    /// The websocket to the service is up: the dialect's first message goes (`websocket:connected`, an
    /// `init`, a `session.update`), and the leg joins the caller's conversation.
    func start(rate: Int) {
        guard let transport = channel.transport() else { return }
        if outgoing.encoding == .opus {
            do {
                opus = try OpusCoders(sampleRate: rate)
            } catch {
                channel.logger.error("cannot start the service's codec", metadata: ["error": "\(error)"])
                channel.handle(.hangUp(reason: "codec: \(error)"))
                return
            }
        }
        connectedAt = LegChannelHandler.now
        lastAudioSent = connectedAt
        let leg = Leg(
            id: link.legID, conversationName: link.caller.conversationName, direction: .outbound, sampleRate: rate,
            hearsItself: link.endpoint.source == .mixed, transport: transport, waker: setup.outbound.waker)
        channel.attach(leg)
        apply(dialect.handle(.opened))
        channel.logger.info("service leg connected", metadata: ["rate": "\(rate)", "conversation": "\(leg.conversationName)"])
        link.serviceStarted(leg, handler: channel)
    }

    /// The leg has ended (after it left the engine): no more playout; the link decides what follows.
    func ended(_ reason: LegEndReason) {
        release?.cancel()
        release = nil
        link.serviceEnded(reason)
    }

    /// Patchbay ends the session: a dialect with a close message (`raw`'s `close`) sends it and gives the
    /// service two seconds for its last results. False when the leg should close at once.
    func closesGracefully(reason: String) -> Bool {
        let actions = dialect.handle(.hangUp)
        guard actions.contains(.closeAfterGrace), let loop = channel.eventLoop else { return false }
        for case .send(let text) in actions { channel.send(text: text) }
        let handler = NIOLoopBound(channel, eventLoop: loop)
        loop.scheduleTask(in: .seconds(2)) { handler.value.handle(.hangUp(reason: reason)) }
        return true
    }

    /// Every 250 ms: the dialect's timers (`raw`'s keepalive).
    func housekeeping(at now: Int64) {
        guard channel.leg != nil else { return }
        apply(dialect.handle(.timer(now: now, lastAudioSent: lastAudioSent)))
    }

    /// A command from the engine: the call's digits go to the service if its dialect takes them. `clear`
    /// and `notify` are commands to a Voice API caller and mean nothing to a service.
    func perform(_ command: LegCommand) {
        guard case .dtmf(let digit, let duration, _) = command else { return }
        let actions = dialect.handle(.digit(digit, durationMilliseconds: duration))
        if !actions.isEmpty { metrics.dtmfEventsSent.increment() }
        apply(actions)
    }

    // MARK: From the service

    func receiveText(_ text: String) {
        apply(dialect.handle(.text(text, playout: cursor)))
    }

    private var cursor: ServiceDialect.PlayoutCursor {
        .init(written: playout.playout.written, taken: playout.playout.taken, bytesPerMillisecond: playout.frameBytes / 20)
    }

    /// Audio from the service (one Opus packet, G.711 codes or PCM): into the playout buffer.
    func receiveAudio(_ frame: WebSocketFrame, at now: Int64) {
        var data = frame.maskKey == nil ? frame.data : frame.unmaskedData
        if let opus {
            let bytes = data.readBytes(length: data.readableBytes) ?? []
            do {
                let pcm = try opus.decoder.decode(bytes)
                var decoded = channel.allocator.buffer(capacity: 2 * pcm.count)
                decoded.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * pcm.count) { raw in
                    pcm.withUnsafeBufferPointer { PCM16LittleEndian.encode($0, into: raw) }
                    return 2 * pcm.count
                }
                data = decoded
            } catch {
                metrics.serviceMessagesInvalid.increment()
                channel.problem("dropped an Opus packet from the service that does not decode", ["error": "\(error)"])
                return
            }
        }
        if let g711 { data = data.withUnsafeReadableBytes { expand($0, law: g711) } }
        if data.readableBytes % 2 == 1 {
            metrics.serviceOddMessages.increment()
            channel.problem(
                "a service audio message had an odd number of bytes (the odd byte starts the next one)", ["bytes": "\(data.readableBytes)"])
        }
        data.withUnsafeReadableBytes { queue($0, at: now) }
    }

    /// G.711 codes expanded to 16-bit little-endian PCM.
    private func expand(_ codes: UnsafeRawBufferPointer, law: G711) -> ByteBuffer {
        var pcm = channel.allocator.buffer(capacity: 2 * codes.count)
        pcm.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * codes.count) { out in
            law.decode(codes, into: out)
            return 2 * codes.count
        }
        return pcm
    }

    /// Queues the service's PCM for playout (what overflows is dropped and counted) and plays what is due.
    private func queue(_ bytes: UnsafeRawBufferPointer, at now: Int64) {
        if !heardFirstAudio {
            heardFirstAudio = true
            metrics.serviceFirstAudioTime.recordNanoseconds(now - connectedAt)
        }
        // A gap inside a stream (silence stood in): the buffer had run dry.
        if playout.playout.count == 0, let last = playout.lastAudioReleased, now - last > 2 * DirectPacer.period,
            now - last < 1_000_000_000
        {
            metrics.serviceUnderruns.increment()
        }
        let dropped = playout.append(bytes, at: now)
        if dropped > 0 {
            metrics.servicePlayoutOverflowBytes.increment(by: dropped)
            channel.problem(
                "the service sent more audio than the playout buffer holds: dropped",
                ["bytes": "\(dropped)", "buffer_frames": "\(playout.playout.capacityBytes / playout.frameBytes)"])
        }
        // A release already scheduled plays it at its time (nothing may go before the schedule): only
        // without one (the first audio) is it released now. Rescheduling at every message would cost a
        // timer's allocations per frame for nothing.
        if release == nil { releaseDue() }
    }

    /// Plays what is due: every frame the playout lets go now goes into the leg (as a caller's frame would
    /// arrive), and every `notify` playout has reached is answered. Schedules itself for the next frame.
    private func releaseDue() {
        guard let leg = channel.leg, let loop = channel.eventLoop else { return }
        release?.cancel()
        release = nil
        let now = LegChannelHandler.now
        var released = false
        let frame = UnsafeRawBufferPointer(self.frame)
        let due = playout.release(at: now, into: self.frame) { silence in
            leg.receive(PCM16LittleEndian(frame))
            if !silence {
                setup.engine.metrics.framesIn.increment()
                released = true
            }
        }
        if released { metrics.servicePlayoutDepth.record(playout.playout.framesQueued) }
        let reached = playout.reachedMarkers()
        if !reached.isEmpty { apply(dialect.handle(.markersReached(reached))) }
        if let due {
            let handler = NIOLoopBound(self, eventLoop: loop)
            release = loop.scheduleTask(deadline: .uptimeNanoseconds(UInt64(max(due, now + 500_000)))) {
                handler.value.releaseDue()
            }
        }
    }

    /// Performs what the dialect decided.
    private func apply(_ actions: [ServiceDialect.Action]) {
        guard let leg = channel.leg else { return }
        for action in actions {
            switch action {
            case .send(let text):
                channel.send(text: text)
            case .play(let audio):
                let now = LegChannelHandler.now
                if let g711 {
                    let pcm = audio.withUnsafeBytes { expand($0, law: g711) }
                    pcm.withUnsafeReadableBytes { queue($0, at: now) }
                } else {
                    audio.withUnsafeBytes { queue($0, at: now) }
                }
            case .marker(let payload):
                playout.appendMarker(payload)
                releaseDue()
            case .clearPlayout:
                let (dropped, markers) = playout.clear()
                metrics.serviceClearedMilliseconds.increment(by: dropped / (playout.frameBytes / 20))
                if !markers.isEmpty { apply(dialect.handle(.markersReached(markers))) }
            case .publish(let text):
                metrics.serviceMessages.increment()
                setup.engine.events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .message(text: text)))
            case .invalid(let reason):
                metrics.serviceMessagesInvalid.increment()
                channel.problem("ignored an invalid text message from the service", ["reason": "\(reason)"])
            case .audioOpened:
                channel.logger.info("service ready for audio")
            case .lateAudioDropped:
                metrics.serviceLateDeltasDropped.increment()
            case .close:
                channel.handle(.hangUp(reason: "closed by the service's protocol"))
            case .closeAfterGrace:
                break  // only an answer to a hang-up (`closesGracefully`)
            }
        }
    }

    // MARK: To the service

    /// Sends the caller's audio as the dialect frames it: nothing while it may not go (`raw` before
    /// `wait_for`, after `close`), no digital silence unless `send_silence`, `chunk_ms` per message (one Opus
    /// packet per 20 ms), binary or as Realtime's `input_audio_buffer.append`.
    func writeOutbound(_ leg: Leg) {
        let n = leg.frameSamples
        let frame = UnsafeMutableBufferPointer(rebasing: callerFrame[0..<n])
        let accepts = dialect.acceptsCallerAudio
        var wrote = false
        while leg.outbound.available >= n {
            _ = leg.outbound.read(into: frame)
            guard accepts else { continue }
            if !outgoing.sendsSilence, !frame.contains(where: { $0 != 0 }) { continue }
            wrote = encode(UnsafeBufferPointer(frame)) || wrote
            lastAudioSent = LegChannelHandler.now
        }
        if wrote { channel.flush() }
    }

    /// Adds one frame to what goes to the service; true when a message was written.
    private func encode(_ frame: UnsafeBufferPointer<Int16>) -> Bool {
        switch outgoing.encoding {
        case .opus:
            guard let opus else { return false }
            let length: Int
            do {
                length = try opus.packet.withUnsafeMutableBufferPointer { try opus.encoder.encode(frame, into: $0) }
            } catch {
                channel.problem("could not encode a frame to Opus", ["error": "\(error)"])
                return false
            }
            channel.write(binary: channel.allocator.buffer(bytes: opus.packet[0..<length]))
            return true
        case .pcm16 where outgoing.envelope == .binary && outgoing.chunkBytes == 2 * frame.count:
            // One frame per message (the Voice API's own framing): straight into the message's buffer.
            var buffer = channel.allocator.buffer(capacity: 2 * frame.count)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * frame.count) { raw in
                PCM16LittleEndian.encode(frame, into: raw)
                return 2 * frame.count
            }
            channel.write(binary: buffer)
            return true
        case .pcm16:
            for sample in frame {
                chunk.append(UInt8(truncatingIfNeeded: sample))
                chunk.append(UInt8(truncatingIfNeeded: sample >> 8))
            }
        case .g711:
            guard let g711 else { return false }
            for sample in frame { chunk.append(g711.encode(sample)) }
        }
        guard chunk.count >= outgoing.chunkBytes else { return false }
        switch outgoing.envelope {
        case .binary:
            channel.write(binary: channel.allocator.buffer(bytes: chunk))
        case .realtimeAppend:
            channel.write(text: RealtimeDialect.append(base64: Data(chunk).base64EncodedString()))
        }
        chunk.removeAll(keepingCapacity: true)
        return true
    }
}
