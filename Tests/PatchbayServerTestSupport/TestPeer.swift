import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import PatchbayDSP
import PatchbayWebSocketClient
import Synchronization

@testable import PatchbayBench

/// A websocket client in the Voice API's role, for tests: connects over loopback, sends frames as the
/// Voice API would (masked), and collects what the server sends back.
final class TestPeer: Sendable {
    let channel: any Channel
    private let inbox: Inbox

    /// Frames received, in order; and the close frame (code) if one arrived.
    final class Inbox: Sendable {
        private struct State {
            var binary: [[UInt8]] = []
            /// When each binary frame arrived (uptime nanoseconds).
            var arrivals: [UInt64] = []
            /// Binary frames with a sample that is not zero, and frames since the last of them.
            var audible = 0
            var sinceAudible = 0
            var text: [String] = []
            var pings = 0
            var closeCode: WebSocketErrorCode?
            var closeReason: String?
        }
        private let state = Mutex(State())

        func append(_ frame: WebSocketFrame) {
            var data = frame.data
            state.withLock { s in
                switch frame.opcode {
                case .binary:
                    let bytes = data.readBytes(length: data.readableBytes) ?? []
                    s.binary.append(bytes)
                    s.arrivals.append(DispatchTime.now().uptimeNanoseconds)
                    if bytes.contains(where: { $0 != 0 }) {
                        s.audible += 1
                        s.sinceAudible = 0
                    } else {
                        s.sinceAudible += 1
                    }
                case .text: s.text.append(data.readString(length: data.readableBytes) ?? "")
                case .ping: s.pings += 1
                case .connectionClose:
                    s.closeCode = data.readWebSocketErrorCode()
                    s.closeReason = data.readString(length: data.readableBytes)
                default: break
                }
            }
        }

        var binary: [[UInt8]] { state.withLock { $0.binary } }
        /// Binary frames that were not digital silence, and frames since the last of them (cheap to poll:
        /// nothing is copied).
        var audibleFrames: (count: Int, since: Int) { state.withLock { ($0.audible, $0.sinceAudible) } }
        /// The binary frames with when each arrived (uptime nanoseconds).
        var timedBinary: [(frame: [UInt8], at: UInt64)] { state.withLock { Array(zip($0.binary, $0.arrivals)) } }
        var text: [String] { state.withLock { $0.text } }
        var pings: Int { state.withLock { $0.pings } }
        var closeCode: WebSocketErrorCode? { state.withLock { $0.closeCode } }
        var closeReason: String? { state.withLock { $0.closeReason } }
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let inbox: Inbox
        init(_ inbox: Inbox) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            inbox.append(frame)
            if frame.opcode == .ping {
                let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.data)
                context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            }
        }
    }

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    var received: Inbox { inbox }

    /// A client TLS context that accepts any certificate (tests use self-signed ones).
    static func insecureTLSContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        return try NIOSSLContext(configuration: tls)
    }

    /// Connects and upgrades to a websocket on `path`; with `tls`, over TLS (wss) without verifying the
    /// server's certificate.
    static func connect(
        port: Int, path: String, headers: [(String, String)] = [], group: any EventLoopGroup, tls: Bool = false
    ) async throws -> TestPeer {
        let inbox = Inbox()
        let sslContext = tls ? try insecureTLSContext() : nil
        let upgraded = group.next().makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                WebSocketClient.configure(channel, tls: sslContext, upgraded: upgraded) { try $0.addHandler(Collector(inbox)) }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
        } catch {
            upgraded.fail(error)
            throw error
        }
        try await WebSocketClient.requestUpgrade(on: channel, host: "127.0.0.1", port: port, path: path, headers: headers).get()
        do {
            try await upgraded.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        return TestPeer(channel: channel, inbox: inbox)
    }

    func send(text: String) async throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer)).get()
    }

    func send(bytes: [UInt8]) async throws {
        let buffer = channel.allocator.buffer(bytes: bytes)
        try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: buffer)).get()
    }

    func send(samples: [Int16]) async throws {
        var bytes = [UInt8](repeating: 0, count: samples.count * 2)
        for (i, s) in samples.enumerated() {
            bytes[2 * i] = UInt8(truncatingIfNeeded: s)
            bytes[2 * i + 1] = UInt8(truncatingIfNeeded: s >> 8)
        }
        try await send(bytes: bytes)
    }

    func sendConnected(rate: Int, extra: String = "") async throws {
        try await send(text: #"{"event":"websocket:connected","content-type":"audio/l16;rate=\#(rate)"\#(extra)}"#)
    }

    func close() async {
        try? await channel.close()
    }

    /// Whether the server has closed the connection.
    var isClosed: Bool { !channel.isActive }

    /// The samples of every binary frame received so far, concatenated.
    var receivedSamples: [Int16] {
        inbox.binary.flatMap { bytes in
            stride(from: 0, to: bytes.count - 1, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes (generous: a loaded machine is slow).
/// `eventually` for a condition that must await (an HTTP request, say).
func eventuallyAsync(timeout: Duration = .seconds(20), _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return await condition()
}

func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Sends a raw HTTP request and returns the whole response text (the server closes or 2 s pass).
func rawHTTP(port: Int, _ request: String, group: any EventLoopGroup) async throws -> String {
    let connection = try await RawConnection.connect(port: port, group: group)
    try await connection.send(request)
    _ = await eventually(timeout: .seconds(2)) {
        let text = connection.text
        return !connection.isActive || text.contains("\r\n\r\n") && !text.hasSuffix("\r\n\r\n")
    }
    await connection.close()
    return connection.text
}

/// A plain TCP client: connects, sends text when told, and collects whatever comes back.
final class RawConnection: Sendable {
    private final class Collect: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let text = Mutex("")
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            let s = b.readString(length: b.readableBytes) ?? ""
            text.withLock { $0 += s }
        }
    }

    private let channel: any Channel
    private let collect: Collect

    private init(channel: any Channel, collect: Collect) {
        self.channel = channel
        self.collect = collect
    }

    static func connect(port: Int, group: any EventLoopGroup) async throws -> RawConnection {
        let collect = Collect()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collect) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collect: collect)
    }

    func send(_ text: String) async throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await channel.writeAndFlush(buffer).get()
    }

    var text: String { collect.text.withLock { $0 } }

    var isActive: Bool { channel.isActive }

    func close() async {
        try? await channel.close()
    }
}
