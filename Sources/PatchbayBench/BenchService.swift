import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import PatchbayVoiceAPI
import Synchronization

/// The speech service a forwarded call reaches (`patchbay bench --service`): a websocket server in the
/// service's role of the Voice API protocol. The gateway dials it for each caller and names the caller in
/// its `websocket:connected` (a `bench_call` header: the route's endpoint sets it from the caller's own
/// field, `"headers": {"bench_call": "{caller.bench_call}"}`). It echoes the audio it hears, at once or
/// gathered into one message every `burst` (faster than real time: the gateway's playout paces it), and
/// finds the caller's probe bursts in what it hears, so each round trip splits into caller → service and
/// service → caller.
final class BenchService: Sendable {
    /// What the service's connections did, summed as each closes.
    struct Counts: Sendable {
        var connections = 0
        /// Connections whose `websocket:connected` named no call of this run (closed with 1008).
        var unknownCalls = 0
        var framesIn = 0
        /// Audio messages whose length was not a whole number of samples.
        var oddMessages = 0
        var messagesOut = 0
        var samplesOut = 0
        /// 20 ms frames' worth of the audio sent back (at each connection's rate).
        var framesOut = 0
    }

    let channel: any Channel
    private let shared: Shared

    private init(channel: any Channel, shared: Shared) {
        self.channel = channel
        self.shared = shared
    }

    var totals: Counts { shared.counts.withLock { $0 } }

    /// Listens on `host:port` on `group`'s loops for the gateway's connections.
    static func start(
        host: String, port: Int, group: any EventLoopGroup, ledgers: [ProbeLedger], burst: Duration
    ) async throws -> BenchService {
        let service = Shared(ledgers: ledgers, burst: burst)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 20,
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(EchoService(shared: service))
                        }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        return BenchService(channel: channel, shared: service)
    }

    func stop() async {
        try? await channel.close()
    }

    /// What every connection shares: the run's ledgers, the echo's pacing, and where counts go.
    final class Shared: Sendable {
        let ledgers: [ProbeLedger]
        let burst: Duration
        let counts = Mutex(Counts())

        init(ledgers: [ProbeLedger], burst: Duration) {
            self.ledgers = ledgers
            self.burst = burst
        }
    }
}

extension BenchService.Counts {
    mutating func add(_ other: Self) {
        connections += other.connections
        unknownCalls += other.unknownCalls
        framesIn += other.framesIn
        oddMessages += other.oddMessages
        messagesOut += other.messagesOut
        samplesOut += other.samplesOut
        framesOut += other.framesOut
    }
}

/// One of the gateway's connections to the bench's service: one caller's audio, echoed.
final class EchoService: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let shared: BenchService.Shared
    private var counts = BenchService.Counts()
    private var ledger: ProbeLedger?
    private var rate = 0
    private var listener: BurstListener?
    /// Bursts sent from here on reach this service.
    private var since: UInt64 = 0
    /// Audio heard and not yet sent back; the sample (of everything heard) it starts at.
    private var echo = ByteBuffer()
    private var echoStart = 0
    /// The last messages sent back: which samples each carried and when it left.
    private var sentChunks: [(start: Int, end: Int, at: UInt64)] = []
    /// Bursts found whose echo has not left yet: when each was sent, and its first sample.
    private var unresolved: [(sent: UInt64, sample: Int)] = []
    private var flushTask: RepeatedTask?
    private var reported = false

    init(shared: BenchService.Shared) {
        self.shared = shared
        counts.connections = 1
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = NIODeadline.now().uptimeNanoseconds
        switch frame.opcode {
        case .text:
            var data = frame.unmaskedData
            if ledger == nil { connected(data.readString(length: data.readableBytes) ?? "", at: now, context: context) }
        case .binary:
            guard ledger != nil else { return }
            heard(frame.unmaskedData, at: now, context: context)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            close(context: context, code: .normalClosure)
        default:
            break
        }
    }

    /// The gateway's `websocket:connected`: which call this is, and its rate.
    private func connected(_ text: String, at now: UInt64, context: ChannelHandlerContext) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
            object["event"] as? String == "websocket:connected"
        else { return }
        let call = (object["bench_call"] as? String).flatMap { Int($0) } ?? (object["bench_call"] as? Int)
        let rate = (object["content-type"] as? String).flatMap { try? L16.rate(ofContentType: $0, allowed: L16.rates) }
        guard let call, shared.ledgers.indices.contains(call), let rate else {
            counts.unknownCalls += 1
            close(context: context, code: .policyViolation)
            return
        }
        let ledger = shared.ledgers[call]
        self.ledger = ledger
        self.rate = rate
        ledger.serviceConnected(at: now)
        since = ledger.serviceListening(margin: 100_000_000) ?? now
        listener = BurstListener(rate: rate)
        echo = context.channel.allocator.buffer(capacity: 2 * rate)
        if shared.burst > .zero {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let period = TimeAmount.nanoseconds(shared.burst.nanoseconds)
            flushTask = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
                let (handler, context) = loopBound.value
                handler.flush(at: NIODeadline.now().uptimeNanoseconds, context: context)
            }
        }
    }

    /// Audio from the gateway: echoed (now, or at the next burst), and searched for the caller's bursts.
    private func heard(_ data: ByteBuffer, at now: UInt64, context: ChannelHandlerContext) {
        guard let ledger else { return }
        counts.framesIn += 1
        if data.readableBytes % 2 == 1 { counts.oddMessages += 1 }
        var echoed = data
        echo.writeBuffer(&echoed)
        if shared.burst == .zero { flush(at: now, context: context) }
        let since = since
        let found = data.withUnsafeReadableBytes { frame in
            listener!.heard(frame, at: now) { ledger.takeServiceBurst(since: since) }
        }
        switch found {
        case .found(let sent, let at, let sample)?:
            ledger.reachedService(sent, at: at)
            unresolved.append((sent, sample))
            resolve()
        case .missed(let sent)?:
            ledger.missedAtService(sent)
        case nil:
            break
        }
    }

    /// Sends what has been heard and not yet sent back, as one message.
    private func flush(at now: UInt64, context: ChannelHandlerContext) {
        let bytes = echo.readableBytes & ~1
        guard bytes > 0, let chunk = echo.readSlice(length: bytes) else { return }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: chunk)), promise: nil)
        let samples = bytes / 2
        sentChunks.append((echoStart, echoStart + samples, now))
        if sentChunks.count > 64 { sentChunks.removeFirst(sentChunks.count - 64) }
        echoStart += samples
        counts.messagesOut += 1
        counts.samplesOut += samples
        echo.discardReadBytes()
        resolve()
    }

    /// Bursts whose echo has left: when. Echoing frame by frame, that is when the burst's first sample
    /// went (the frame's departure plus the burst's place in it, as the caller times its arrival); in
    /// bursts, when the message carrying it went — the gateway may play a message's first frames faster
    /// than real time (pacing credit left from a quiet spell), so no later "due" time is well defined.
    private func resolve() {
        guard let ledger else { return }
        unresolved.removeAll { burst in
            guard burst.sample < echoStart else { return false }
            if let chunk = sentChunks.last(where: { $0.start <= burst.sample && burst.sample < $0.end }) {
                let offset = shared.burst == .zero ? UInt64(burst.sample - chunk.start) * 1_000_000_000 / UInt64(rate) : 0
                ledger.echoed(burst.sent, at: chunk.at + offset)
            }
            return true
        }
    }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        var buffer = context.channel.allocator.buffer(capacity: 2)
        buffer.write(webSocketErrorCode: code)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        flushTask?.cancel()
        flushTask = nil
        if !reported {
            reported = true
            if rate > 0 { counts.framesOut = counts.samplesOut / (rate / 50) }
            shared.counts.withLock { $0.add(counts) }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension EchoService: Sendable {}
