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
        let audio: [Int16]
        let stats: LoopStats
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

    init(setup: Setup) {
        self.setup = setup
        let c = setup.configuration
        totalFrames = Int(c.duration.nanoseconds / 20_000_000)
        frameBytes = 2 * c.frameSamples
        sentAt = Array(repeating: 0, count: Self.window)
        sentSequence = Array(repeating: -1, count: Self.window)
        receivedSequence = Array(repeating: -1, count: Self.window)
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
        var object: [String: String] = [
            "event": "websocket:connected", "content-type": "audio/l16;rate=\(setup.configuration.sampleRate)",
        ]
        for (k, v) in setup.configuration.headers { object[k] = v.replacingOccurrences(of: "{call}", with: "\(setup.index)") }
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
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: frameBytes) { raw in
            for i in 0..<samples {
                raw.storeBytes(of: audio[position].littleEndian, toByteOffset: 2 * i, as: Int16.self)
                position += 1
                if position == audio.count { position = 0 }
            }
            FrameTag.write(call: UInt32(setup.index), sequence: UInt32(sequence), into: raw)
            return frameBytes
        }
        audioPosition = position
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
        stats.roundTrip.record(micros)
        stats.roundTripInterval.record(micros)
        if rtt > setup.configuration.lateAfter.nanoseconds { stats.framesLate += 1 }
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
