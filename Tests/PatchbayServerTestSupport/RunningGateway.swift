import Foundation
import Logging
import NIOCore
import NIOPosix
import PatchbayConfiguration
import PatchbayDSP
import PatchbayEngine
import PatchbayServer

@testable import PatchbayBench

/// A gateway on an ephemeral loopback port, and a client event loop group to reach it.
struct RunningGateway {
    let server: GatewayServer
    let port: Int
    let clients: MultiThreadedEventLoopGroup
    /// A folder of the gateway's own (its call records), removed when it stops.
    var scratch: URL? = nil

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
        // PATCHBAY_TEST_LOG=debug (or any level) shows the gateway's log while a test runs.
        logger.logLevel = ProcessInfo.processInfo.environment["PATCHBAY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
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
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    /// The engine's leg for a peer that has sent `connected` (the only leg on `path` when several exist).
    func waitForLegs(_ count: Int) async -> [Leg] {
        _ = await eventually { server.engine.legs.count >= count }
        return server.engine.legs
    }
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

/// Reads `/metrics` and returns each unlabelled sample by name.
func fetchMetrics(_ gateway: RunningGateway) async throws -> [String: Double] {
    let response = try await rawHTTP(
        port: gateway.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", group: gateway.clients)
    let body = response.range(of: "\r\n\r\n").map { String(response[$0.upperBound...]) } ?? ""
    return TargetCounters.samples(body)
}

/// A loopback port nothing listens on right now: bind port 0, read the port back, close.
func freePort(group: any EventLoopGroup) async throws -> Int {
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}
