import Foundation
import NIOCore
import NIOWebSocket

/// One simulated Voice API call: after the upgrade it sends `websocket:connected`, then one tagged
/// 20 ms frame per tick against an absolute clock (frame k leaves at start + k × 20 ms, however late
/// the previous one was), and matches every frame that comes back.
final class SimulatedCall: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Setup {
        let index: Int
        let configuration: BenchConfiguration
        /// This call's rate (in pair mode, the second call of each pair has the pair rate).
        let sampleRate: Int
        let audio: [Int16]
        let stats: LoopStats
        /// Where this call notes the probes and digits it sends, and where it finds those it listens for.
        let sentLedger: ProbeLedger
        let heardLedger: ProbeLedger
        let connectStarted: NIODeadline
        let done: EventLoopPromise<Void>
    }

    private static let window = 4096  // frames remembered for matching (82 s)

    private let setup: Setup
    private var context: ChannelHandlerContext?
    private var start = NIODeadline.now()
    private var next = 0
    private let totalFrames: Int
    private let frameBytes: Int
    private var sentAt: [Int64]
    private var sentSequence: [Int32]
    private var receivedSequence: [Int32]
    private var uniqueReceived = 0
    private var untaggedReceived = 0
    private var lastArrival: NIODeadline?
    private var finished = false
    private var audioPosition = 0
    private var beginWhenAdded = false

    // Burst probes and in-band digits.
    private let burst: [Int16]
    private let tones: ToneBank?
    private var tone: (samples: [Int16], position: Int)?
    private var listener: BurstListener?
    private var probeLatencies: [UInt64] = []
    /// Forwarded calls: each burst found, by when it was sent and when it came back.
    private var forwardTrips: [(sent: UInt64, back: UInt64)] = []
    /// When this call sent `connected` (bursts sent before it, plus a margin, are not looked for).
    private var listeningSince: UInt64 = 0
    /// A burst sent within this of the listener joining (or the service connecting) may reach no one.
    private static let joinMargin: UInt64 = 100_000_000
    /// Frames searched for each burst after it was sent: a burst later than that is missed.
    private let searchFrames: Int
    /// A burst sent longer ago than this has had its whole search window to arrive.
    private var searchSpan: UInt64 { UInt64(searchFrames) * 20_000_000 + 100_000_000 }

    init(setup: Setup) {
        self.setup = setup
        let c = setup.configuration
        totalFrames = Int(c.duration.nanoseconds / 20_000_000)
        frameBytes = 2 * (setup.sampleRate / 50)
        sentAt = Array(repeating: 0, count: Self.window)
        sentSequence = Array(repeating: -1, count: Self.window)
        receivedSequence = Array(repeating: -1, count: Self.window)
        let burstProbe = c.probe == .burst
        burst = burstProbe ? ProbeBurst.samples(rate: setup.sampleRate) : []
        // A service answering in bursts holds each burst of audio back up to that long.
        searchFrames = 5 + Int(c.serviceBurst.nanoseconds / 20_000_000)
        listener = burstProbe ? BurstListener(rate: setup.sampleRate, frames: searchFrames) : nil
        tones = c.inbandDTMFEveryFrames > 0 ? ToneBank(rate: setup.sampleRate) : nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if beginWhenAdded { begin() }
    }

    /// The websocket is open: say `connected`, then stream. (The upgrade may report completion before
    /// this handler is in the pipeline; then it begins when added.)
    func begin() {
        guard let context else {
            beginWhenAdded = true
            return
        }
        beginWhenAdded = false
        let now = NIODeadline.now()
        setup.stats.callsConnected += 1
        setup.stats.connect.record(UInt64(max(1, (now - setup.connectStarted).nanoseconds / 1000)))
        listeningSince = now.uptimeNanoseconds
        let c = setup.configuration
        var object: [String: String] = ["event": "websocket:connected", "content-type": "audio/l16;rate=\(setup.sampleRate)"]
        if c.service != nil { object["bench_call"] = "\(setup.index)" }
        if c.pairRate != nil, !c.headers.contains(where: { $0.1.contains("{pair}") }) {
            object["conversation"] = "patchbay-bench-\(c.runID)-\(c.group(ofCall: setup.index))"
        }
        for (k, v) in c.headers {
            object[k] = v.replacingOccurrences(of: "{call}", with: "\(setup.index)").replacingOccurrences(
                of: "{pair}", with: "\(c.group(ofCall: setup.index))")
        }
        let json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        var buffer = context.channel.allocator.buffer(capacity: json.count)
        buffer.writeBytes(json)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer)), promise: nil)
        start = now
        sendDue()
    }

    private func sendDue() {
        guard let context, !finished else { return }
        let deadline = start + .milliseconds(Int64(20 * next))
        let now = NIODeadline.now()
        setup.stats.sendLateness.record(UInt64(max(0, (now - deadline).nanoseconds / 1000)))
        sendFrame(sequence: next, now: now, context: context)
        if setup.configuration.dtmfEventEveryFrames > 0, next % setup.configuration.dtmfEventEveryFrames == 0 {
            var text = context.channel.allocator.buffer(capacity: 64)
            text.writeString(#"{"event":"websocket:dtmf","digit":"\#(next / setup.configuration.dtmfEventEveryFrames % 10)","duration":100}"#)
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: text)), promise: nil)
        }
        context.flush()
        next += 1
        if next < totalFrames {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(deadline: start + .milliseconds(Int64(20 * next))) { loopBound.value.sendDue() }
        } else {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .nanoseconds(setup.configuration.grace.nanoseconds)) { loopBound.value.finish() }
        }
    }

    private func sendFrame(sequence: Int, now: NIODeadline, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: frameBytes)
        let audio = setup.audio
        let samples = frameBytes / 2
        var position = audioPosition
        let c = setup.configuration
        let burstNow = c.probe == .burst && (sequence + ProbeBurst.everyFrames - c.burstOffset(ofCall: setup.index)) % ProbeBurst.everyFrames == 0
        if let tones, sequence % c.inbandDTMFEveryFrames == 12 {
            // Between two bursts (the interval is a multiple of theirs; the tone lasts 5 of the 25 frames).
            let index = (sequence / c.inbandDTMFEveryFrames) % tones.digits.count
            tone = (tones.tones[index], 0)
            setup.sentLedger.sentDigit(tones.digits[index], at: now.uptimeNanoseconds)
            setup.stats.dtmfSent += 1
        }
        let burst = burst
        var tonePosition = tone?.position ?? 0
        let toneSamples = tone?.samples ?? []
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: frameBytes) { raw in
            for i in 0..<samples {
                var value = Int32(audio[position])
                if burstNow, i < burst.count { value += Int32(burst[i]) }
                if tonePosition < toneSamples.count {
                    value += Int32(toneSamples[tonePosition])
                    tonePosition += 1
                }
                raw.storeBytes(of: Int16(clamping: value).littleEndian, toByteOffset: 2 * i, as: Int16.self)
                position += 1
                if position == audio.count { position = 0 }
            }
            if c.probe == .tag { FrameTag.write(call: UInt32(setup.index), sequence: UInt32(sequence), into: raw) }
            return frameBytes
        }
        audioPosition = position
        if tone != nil { tone = tonePosition < toneSamples.count ? (toneSamples, tonePosition) : nil }
        if burstNow { setup.sentLedger.sentBurst(at: now.uptimeNanoseconds) }
        let slot = sequence % Self.window
        sentAt[slot] = Int64(now.uptimeNanoseconds)
        sentSequence[slot] = Int32(sequence)
        setup.stats.framesSent += 1
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: buffer)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            received(frame.data, at: .now())
        case .text:
            var data = frame.data
            receivedText(data.readString(length: data.readableBytes) ?? "", at: .now())
        case .connectionClose:
            if !finished {
                setup.stats.callsClosedByServer += 1
                var data = frame.data
                let code = data.readWebSocketErrorCode().map { "\($0)" } ?? "?"
                fail("server closed the call: \(code) \(data.readString(length: data.readableBytes) ?? "")")
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.data)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        default:
            break
        }
    }

    private func received(_ data: ByteBuffer, at now: NIODeadline) {
        let stats = setup.stats
        guard data.readableBytes == frameBytes else {
            stats.framesWrongSize += 1
            return
        }
        stats.framesReceived += 1
        stats.framesReceivedInterval += 1
        if let last = lastArrival {
            let gap = (now - last).nanoseconds
            stats.jitter.record(UInt64(abs(gap - 20_000_000) / 1000))
        }
        lastArrival = now
        if listener != nil {
            stats.framesUntagged += 1
            untaggedReceived += 1
            listenForBurst(data, at: now)
            return
        }
        guard let tag = data.withUnsafeReadableBytes({ FrameTag.read($0) }) else {
            stats.framesUntagged += 1
            untaggedReceived += 1
            return
        }
        guard tag.call == UInt32(setup.index) else {
            stats.framesMisrouted += 1
            return
        }
        let sequence = Int(tag.sequence)
        let slot = sequence % Self.window
        guard sentSequence[slot] == Int32(sequence) else {
            stats.framesLate += 1  // older than the matching window
            return
        }
        if receivedSequence[slot] == Int32(sequence) {
            stats.framesDuplicated += 1
            return
        }
        receivedSequence[slot] = Int32(sequence)
        uniqueReceived += 1
        let rtt = Int64(now.uptimeNanoseconds) - sentAt[slot]
        let micros = UInt64(max(1, rtt / 1000))
        stats.recordRoundTrip(microseconds: micros)
        if rtt > setup.configuration.lateAfter.nanoseconds { stats.framesLate += 1 }
    }

    /// Looks for the bursts this call listens for in what it hears: latency = the arrival of the frame a
    /// burst starts in + its offset there - when it was sent.
    private func listenForBurst(_ data: ByteBuffer, at now: NIODeadline) {
        guard listener != nil else { return }
        let ledger = setup.heardLedger
        let stats = setup.stats
        // Bursts sent before this call had joined (its partner may connect first), or before the service
        // it is forwarded to had, reached no one.
        var since: UInt64? = listeningSince + Self.joinMargin
        if setup.configuration.service != nil {
            since = ledger.serviceListening(margin: Self.joinMargin).map { max($0, since ?? 0) }
        }
        let outcome = data.withUnsafeReadableBytes { raw in
            listener!.heard(raw, at: now.uptimeNanoseconds) {
                while let sent = ledger.takeBurst() {
                    guard let since, sent >= since else { continue }
                    stats.probesSent += 1
                    return sent
                }
                return nil
            }
        }
        switch outcome {
        case .found(let sent, let at, _)?:
            let latency = (at - sent) / 1000
            stats.probesFound += 1
            stats.recordRoundTrip(microseconds: max(1, latency))
            probeLatencies.append(latency)
            if setup.configuration.service != nil { forwardTrips.append((sent, at)) }
        case .missed?:
            stats.probesMissed += 1
        case nil:
            break
        }
    }

    /// A `websocket:dtmf` event: matched to the oldest digit of that kind still outstanding.
    private func receivedText(_ text: String, at now: NIODeadline) {
        guard setup.configuration.inbandDTMFEveryFrames > 0, text.contains("websocket:dtmf"),
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
            object["event"] as? String == "websocket:dtmf", let digit = (object["digit"] as? String)?.first
        else { return }
        guard let sent = setup.heardLedger.takeDigit(digit) else {
            setup.stats.dtmfUnexpected += 1
            return
        }
        setup.stats.dtmfMatched += 1
        setup.stats.dtmfRoundTrip.record(max(1, (now.uptimeNanoseconds - sent) / 1000))
    }

    /// Probe accounting at the end of the call: bursts and digits sent well before now (more than the
    /// search window ago) and never found are missed; each latency is also counted above the call's floor.
    private func settleProbes() {
        let now = NIODeadline.now().uptimeNanoseconds
        let ledger = setup.heardLedger
        let stats = setup.stats
        var since = listeningSince + Self.joinMargin
        if setup.configuration.service != nil {
            if let ready = ledger.serviceListening(margin: Self.joinMargin) {
                since = max(since, ready)
            } else {
                // Nothing reached the service: every burst is lost, and so is the call.
                stats.callsNeverForwarded += 1
                since = .max
            }
        }
        let outstanding = ledger.outstanding(after: since, before: now - searchSpan)
        stats.probesSent += outstanding.bursts
        stats.probesMissed += outstanding.bursts
        if let sent = listener?.abandon() {
            // Being looked for when the call ended: missed if it had had the whole window to arrive.
            if sent < now - searchSpan { stats.probesMissed += 1 } else { stats.probesSent -= 1 }
        }
        stats.dtmfMissed += outstanding.digits
        if let floor = probeLatencies.min() {
            for l in probeLatencies { stats.latencyAboveFloor.record(l - floor) }
        }
        guard setup.configuration.service != nil else { return }
        // Each burst's two halves, from what the service saw of it.
        for trip in forwardTrips {
            let times = ledger.serviceTimes(of: trip.sent)
            if let reached = times.reached, reached > trip.sent { stats.toService.record(max(1, (reached - trip.sent) / 1000)) }
            if let echoed = times.echoed, trip.back > echoed { stats.fromService.record(max(1, (trip.back - echoed) / 1000)) }
        }
        let service = ledger.serviceOutcome(after: since, before: now - searchSpan)
        stats.serviceProbesFound += service.found
        stats.serviceProbesMissed += service.missed
    }

    /// Frames sent that never came back. A route that does not echo returns its own audio (untagged):
    /// then every frame expected (one per frame sent) and not received is lost.
    private var lostFrames: Int {
        uniqueReceived == 0 && untaggedReceived > 0 ? max(0, next - untaggedReceived) : max(0, next - uniqueReceived)
    }

    private func finish() {
        guard !finished, let context else { return }
        finished = true
        setup.stats.callsFinished += 1
        setup.stats.framesLost += lostFrames
        settleProbes()
        var buffer = context.channel.allocator.buffer(capacity: 2)
        buffer.write(webSocketErrorCode: .normalClosure)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: buffer)))
            .whenComplete { _ in channel.close(promise: nil) }
        setup.done.succeed()
    }

    private func fail(_ reason: String) {
        guard !finished else { return }
        finished = true
        setup.stats.callsFailed += 1
        setup.stats.framesLost += lostFrames
        settleProbes()
        if setup.stats.failures.count < 20 { setup.stats.failures.append("call \(setup.index): \(reason)") }
        context?.close(promise: nil)
        setup.done.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail("connection closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
    }
}

@available(*, unavailable)
extension SimulatedCall: Sendable {}
