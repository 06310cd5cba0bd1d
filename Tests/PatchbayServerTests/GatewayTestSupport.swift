import Foundation
import Logging
import NIOCore
import NIOPosix
import PatchbayDSP
import PatchbayEngine
import PatchbayServer

/// A gateway on an ephemeral loopback port, and a client event loop group to reach it.
struct RunningGateway {
    let server: GatewayServer
    let port: Int
    let clients: MultiThreadedEventLoopGroup

    static func start(_ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> RunningGateway {
        var c = ServerConfiguration()
        c.port = 0
        c.shards = 2
        c.routes =
            ServerConfiguration.defaultRoutes + [
                .init(path: "/room", mode: .conversation, conversation: "room")
            ]
        configure(&c)
        var logger = Logger(label: "patchbay.test")
        logger.logLevel = .critical
        let server = try GatewayServer(configuration: try c.validated(), logger: logger)
        let address = try await server.start()
        return RunningGateway(server: server, port: address.port!, clients: MultiThreadedEventLoopGroup(numberOfThreads: 1))
    }

    func connect(_ path: String, headers: [(String, String)] = []) async throws -> TestPeer {
        try await TestPeer.connect(port: port, path: path, headers: headers, group: clients)
    }

    func stop() async {
        await server.shutdown()
        try? await clients.shutdownGracefully()
    }

    /// The engine's leg for a peer that has sent `connected` (the only leg on `path` when several exist).
    func waitForLegs(_ count: Int) async -> [Leg] {
        _ = await eventually { server.engine.legs.count >= count }
        return server.engine.legs
    }
}

/// A sine at `frequency` and `amplitude`, `count` samples at `rate`, starting at sample `offset`.
func sine(_ frequency: Double, amplitude: Double, rate: Int, count: Int, offset: Int = 0) -> [Int16] {
    (0..<count).map { Int16((amplitude * sin(2 * .pi * frequency * Double($0 + offset) / Double(rate))).rounded()) }
}

/// The amplitude of the component at `frequency` in `samples` (a single-bin DFT).
func toneAmplitude(_ samples: ArraySlice<Int16>, frequency: Double, rate: Int) -> Double {
    var re = 0.0
    var im = 0.0
    for (i, s) in samples.enumerated() {
        let phase = 2 * .pi * frequency * Double(i) / Double(rate)
        re += Double(s) * cos(phase)
        im -= Double(s) * sin(phase)
    }
    return 2 * (re * re + im * im).squareRoot() / Double(samples.count)
}

/// Sends `frames` 20 ms frames of `signal` (cycled), one every 20 ms, against an absolute clock.
func stream(_ peer: TestPeer, frames: Int, frameSamples: Int, signal: (Int) -> [Int16]) async throws {
    let clock = ContinuousClock()
    let start = clock.now
    for k in 0..<frames {
        try await peer.send(samples: signal(k))
        try await clock.sleep(until: start + .milliseconds(20 * (k + 1)))
    }
    _ = frameSamples
}
