import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PatchbayDSP
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import Testing

@testable import PatchbayServerTestSupport

/// Stream players fed over real HTTP: the fetch, its limits, and the audio the far side hears.
@Suite(.serialized) struct StreamTests {
    static func routes() throws -> [String: TestHTTPServer.Answer] {
        let mp3 = [UInt8](try Data(contentsOf: testdata.appendingPathComponent("sine1k-xing.mp3")))
        let wav = [UInt8](try Data(contentsOf: testdata.appendingPathComponent("sine1k-s16-mono-16k.wav")))
        return [
            "/sine.mp3": .body(mp3, contentType: "audio/mpeg"),
            "/sine.wav": .body(wav, contentType: "audio/wav"),
            "/moved": .redirect("/sine.mp3"),
            "/hop1": .redirect("/hop2"), "/hop2": .redirect("/hop3"), "/hop3": .redirect("/hop4"),
            "/hop4": .redirect("/sine.mp3"),
            "/loop": .redirect("/loop"),
            "/huge": .declaresLength(1 << 30),
            "/slow": .silence,
            "/text": .body(Array("<html>not audio</html>".utf8), contentType: "text/html"),
            "/gone": .status(.gone),
        ]
    }

    @Test("an mp3 and a wav fetched over HTTP (one through a redirect) play into the leg", arguments: ["/sine.mp3", "/sine.wav", "/moved"])
    func plays(path: String) async throws {
        let gateway = try await RunningGateway.start()
        let http = try await TestHTTPServer(routes: try Self.routes(), group: gateway.clients)
        let peer = try await gateway.connect("/socket")
        try await peer.sendConnected(rate: 8000)
        let leg = try #require(await gateway.waitForLegs(1).first)
        try await gateway.server.playStream(http.url(path), loop: 0, on: leg.id)
        let start = peer.receivedSamples.count
        #expect(await eventually { peer.receivedSamples.count >= start + 8000 * 400 / 1000 })
        let heard = peer.receivedSamples.dropFirst(start + 8000 / 10).prefix(8000 / 5)
        // The fixtures are a 1 kHz sine at half scale.
        let amplitude = Tone.amplitude(of: heard, at: 1000, rate: 8000)
        #expect(abs(20 * log10(amplitude / 16384)) < 0.5, "1 kHz at \(amplitude)")
        await peer.close()
        await http.stop()
        await gateway.stop()
    }

    @Test("a route's stream plays to every leg from the moment it connects, at the route's level; a bad one leaves the leg streaming")
    func routeStream() async throws {
        let http = try await TestHTTPServer(routes: try Self.routes(), group: MultiThreadedEventLoopGroup.singleton)
        let gateway = try await RunningGateway.start { c in
            c.routes.append(.init(path: "/music", mode: .conversation, stream: .init(url: http.url("/sine.wav"), loop: 0, level: -0.5)))
            c.routes.append(.init(path: "/broken", mode: .conversation, stream: .init(url: http.url("/text"))))
        }
        let peer = try await gateway.connect("/music")
        try await peer.sendConnected(rate: 16000)
        #expect(await eventually { peer.receivedSamples.count >= 16000 * 600 / 1000 })
        let heard = peer.receivedSamples.dropFirst(16000 * 3 / 10).prefix(16000 / 5)
        // Half scale, 10 dB down (level -0.5).
        let amplitude = Tone.amplitude(of: heard, at: 1000, rate: 16000)
        #expect(abs(20 * log10(amplitude / 16384) + 10) < 0.5, "1 kHz at \(amplitude)")

        // More legs on the route: the stream was fetched once for 16 kHz and once for 8 kHz, and every
        // leg hears it.
        var more: [TestPeer] = []
        for rate in [16000, 8000, 16000, 8000] {
            let p = try await gateway.connect("/music")
            try await p.sendConnected(rate: rate)
            more.append(p)
        }
        for (p, rate) in zip(more, [16000, 8000, 16000, 8000]) {
            #expect(await eventually { p.receivedSamples.count >= rate * 600 / 1000 })
            let tone = Tone.amplitude(of: p.receivedSamples.dropFirst(rate * 3 / 10).prefix(rate / 5), at: 1000, rate: rate)
            #expect(abs(20 * log10(tone / 16384) + 10) < 0.5, "\(rate) Hz leg: 1 kHz at \(tone)")
        }
        #expect(http.requests.filter { $0 == "/sine.wav" }.count == 2, "\(http.requests)")
        for p in more { await p.close() }

        let other = try await gateway.connect("/broken")
        try await other.sendConnected(rate: 8000)
        #expect(await eventually { other.receivedSamples.count >= 8000 * 300 / 1000 })
        #expect(other.receivedSamples.allSatisfy { $0 == 0 })
        await peer.close()
        await other.close()
        await gateway.stop()
        await http.stop()
    }

    @Test("fetch failures are typed errors, and the leg plays on")
    func failures() async throws {
        let gateway = try await RunningGateway.start()
        let http = try await TestHTTPServer(routes: try Self.routes(), group: gateway.clients)
        let peer = try await gateway.connect("/socket")
        try await peer.sendConnected(rate: 8000)
        let leg = try #require(await gateway.waitForLegs(1).first)
        let server = gateway.server
        let limits = server.fetcher.limits
        let cases: [(String, GatewayServer.StreamError)] = [
            ("ftp://example.com/a.mp3", .fetch(.invalidURL("ftp://example.com/a.mp3"))),
            (http.url("/gone"), .fetch(.httpStatus(410))),
            (http.url("/nope"), .fetch(.httpStatus(404))),
            (http.url("/hop1"), .fetch(.tooManyRedirects(limit: limits.maximumRedirects))),
            (http.url("/loop"), .fetch(.tooManyRedirects(limit: limits.maximumRedirects))),
            (http.url("/huge"), .fetch(.tooLarge(limit: limits.maximumBytes))),
            ("/no/such/file.mp3", .engine(.audio(.fileNotFound(path: "/no/such/file.mp3")))),
        ]
        for (source, expected) in cases {
            await #expect(throws: expected, "\(source)") { try await server.playStream(source, on: leg.id) }
        }
        // Bytes that are not audio: a decoding error, not a crash.
        await #expect(throws: GatewayServer.StreamError.self) { try await server.playStream(http.url("/text"), on: leg.id) }
        await #expect(throws: GatewayServer.StreamError.engine(.unknownLeg(UUID(uuidString: "00000000-0000-0000-0000-000000000000")!))) {
            try await server.playStream(http.url("/sine.mp3"), on: UUID(uuidString: "00000000-0000-0000-0000-000000000000")!)
        }
        // The leg still streams one frame per tick.
        let before = peer.received.binary.count
        #expect(await eventually { peer.received.binary.count >= before + 5 })
        #expect(!peer.isClosed)
        await peer.close()
        await http.stop()
        await gateway.stop()
    }

    @Test("a server that never answers times out at the fetch limit")
    func timeout() async throws {
        let http = try await TestHTTPServer(routes: try Self.routes(), group: .singletonMultiThreadedEventLoopGroup)
        let fetcher = StreamFetcher(limits: .init(timeout: .milliseconds(300)), group: MultiThreadedEventLoopGroup.singleton)
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: StreamFetchError.timedOut(limit: .milliseconds(300))) { try await fetcher.fetch(http.url("/slow")) }
        #expect(clock.now - started < .seconds(3))
        await fetcher.shutdown()
        await http.stop()
    }
}
