import Foundation
import NIOCore
import NIOWebSocket
import PatchbayConfiguration
import PatchbayDSP
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import Testing

@testable import PatchbayBench
@testable import PatchbayServerTestSupport

/// Every kind of bad input, each sent while a healthy leg streams on the same gateway: the bad leg gets
/// its documented answer, and the healthy leg never misses a frame.
@Suite(.serialized) struct BadInputTests {
    /// A healthy echo leg streaming paced frames for the whole test, and what it got back.
    struct Bystander {
        let peer: TestPeer
        let task: Task<Void, any Error>
        static let frames = 60

        static func start(_ gateway: RunningGateway) async throws -> Bystander {
            let peer = try await gateway.connect("/echo")
            try await peer.sendConnected(rate: 16000)
            let task = Task {
                try await stream(peer, frames: frames, frameSamples: 320) { k in
                    Tone.sine(440, rate: 16000, count: 320, amplitude: 5000, offset: 320 * k)
                }
            }
            return Bystander(peer: peer, task: task)
        }

        func finish() async throws {
            try await task.value
            #expect(await eventually { peer.received.binary.count == Self.frames })
            #expect(peer.received.binary.count == Self.frames, "bystander got \(peer.received.binary.count) of \(Self.frames)")
            #expect(peer.received.binary.allSatisfy { $0.count == 640 })
            #expect(!peer.isClosed)
        }
    }

    func withGateway(
        _ configure: (inout ServerConfiguration) -> Void = { _ in }, _ body: (RunningGateway) async throws -> Void
    ) async throws {
        let gateway = try await RunningGateway.start(configure)
        let bystander = try await Bystander.start(gateway)
        try await body(gateway)
        try await bystander.finish()
        await bystander.peer.close()
        await gateway.stop()
    }

    @Test("binary audio before websocket:connected closes with 1008")
    func binaryBeforeConnected() async throws {
        try await withGateway { gateway in
            let peer = try await gateway.connect("/socket")
            try await peer.send(bytes: [UInt8](repeating: 0, count: 640))
            #expect(await eventually { peer.isClosed })
            #expect(peer.received.closeCode == .policyViolation)
            #expect(peer.received.closeReason?.contains("before websocket:connected") == true)
        }
    }

    @Test(
        "an unsupported content type closes with 1003 and says why",
        arguments: [
            "audio/l16;rate=44100", "audio/pcmu;rate=8000", "audio/l16",
        ])
    func badContentType(contentType: String) async throws {
        try await withGateway { gateway in
            let peer = try await gateway.connect("/socket")
            try await peer.send(text: #"{"event":"websocket:connected","content-type":"\#(contentType)"}"#)
            #expect(await eventually { peer.isClosed })
            #expect(peer.received.closeCode == .unacceptableData)
            #expect(peer.received.closeReason?.isEmpty == false)
        }
    }

    @Test("frames of the wrong size and odd lengths are dropped and counted; the leg goes on")
    func wrongSizes() async throws {
        try await withGateway { gateway in
            let peer = try await gateway.connect("/echo")
            try await peer.sendConnected(rate: 8000)
            _ = await gateway.waitForLegs(2)
            for size in [0, 1, 319, 321, 640, 4000] {
                try await peer.send(bytes: [UInt8](repeating: 7, count: size))
            }
            try await peer.send(bytes: [UInt8](repeating: 1, count: 320))
            #expect(await eventually { peer.received.binary.count == 1 })
            #expect(peer.received.binary == [[UInt8](repeating: 1, count: 320)])
            #expect(!peer.isClosed)
            let metrics = try await fetchMetrics(gateway)
            #expect(metrics["patchbay_frames_wrong_size_total"] == 6)
        }
    }

    @Test("invalid JSON and unknown or malformed events are ignored and counted")
    func invalidText() async throws {
        try await withGateway { gateway in
            let peer = try await gateway.connect("/echo")
            let bad = [
                "not json", "{", "[1,2]", #"{"no":"event"}"#, #"{"event":42}"#,
                #"{"event":"websocket:dtmf","digit":"x"}"#, String(repeating: "a", count: 9000),
            ]
            for text in bad { try await peer.send(text: text) }
            // Still waiting for connected: a good one now starts the leg.
            try await peer.sendConnected(rate: 8000)
            try await peer.send(bytes: [UInt8](repeating: 2, count: 320))
            #expect(await eventually { peer.received.binary.count == 1 })
            let metrics = try await fetchMetrics(gateway)
            #expect(metrics["patchbay_messages_invalid_total"] == Double(bad.count))
        }
    }

    @Test("a message over max_message_bytes closes with 1009")
    func oversized() async throws {
        try await withGateway({ $0.limits.maxMessageBytes = 4096 }) { gateway in
            let peer = try await gateway.connect("/echo")
            try await peer.sendConnected(rate: 8000)
            try await peer.send(bytes: [UInt8](repeating: 0, count: 100_000))
            #expect(await eventually { peer.isClosed })
            #expect(peer.received.closeCode == .messageTooLarge)
        }
    }

    @Test("a flood is cut to the message rate limit; the excess is counted")
    func flood() async throws {
        try await withGateway({ $0.limits.maxMessagesPerSecond = 100 }) { gateway in
            let peer = try await gateway.connect("/echo")
            try await peer.sendConnected(rate: 8000)
            let frame = [UInt8](repeating: 3, count: 320)
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<1000 { try await peer.send(bytes: frame) }
            // Every message is either echoed or counted over the rate: wait until all 1000 are accounted for.
            let deadline = clock.now + .seconds(20)
            var echoed = 0
            var overRate = 0.0
            repeat {
                echoed = peer.received.binary.count
                overRate = try await fetchMetrics(gateway)["patchbay_messages_over_rate_total"] ?? 0
                if Double(echoed) + overRate == 1000 { break }
                try await Task.sleep(for: .milliseconds(20))
            } while clock.now < deadline
            #expect(Double(echoed) + overRate == 1000, "\(echoed) echoed, \(overRate) over the rate")
            // A second's allowance (100) less the connected message, plus what refilled while the flood was
            // read: 100 a second for as long as it took (longer on a loaded machine).
            let (seconds, attoseconds) = (clock.now - start).components
            let refill = Int((Double(seconds) + Double(attoseconds) * 1e-18) * 100) + 1
            #expect((99...(100 + refill)).contains(echoed), "\(echoed) echoed in \(clock.now - start)")
            #expect(!peer.isClosed)
        }
    }

    @Test("no websocket:connected within the connect timeout closes with 1008")
    func connectTimeout() async throws {
        try await withGateway({ $0.limits.connectTimeoutSeconds = 0.3 }) { gateway in
            let peer = try await gateway.connect("/socket")
            #expect(await eventually { peer.isClosed })
            #expect(peer.received.closeCode == .policyViolation)
        }
    }

    @Test("a silent leg is closed after the idle timeout with 1001")
    func idleTimeout() async throws {
        try await withGateway({ $0.limits.idleTimeoutSeconds = 0.5 }) { gateway in
            let peer = try await gateway.connect("/socket")
            try await peer.sendConnected(rate: 8000)
            #expect(await eventually { peer.isClosed })
            #expect(peer.received.closeCode == .goingAway)
        }
    }

    @Test("upgrades: 401 without the token, 404 for unknown paths, 503 at capacity, 426 without upgrade")
    func upgrades() async throws {
        let gateway = try await RunningGateway.start {
            $0.auth.token = "s3cret"
            $0.limits.maxLegs = 2
        }
        func upgrade(_ path: String, _ extra: String = "") async throws -> String {
            let response = try await rawHTTP(
                port: gateway.port,
                "GET \(path) HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extra)\r\n",
                group: gateway.clients)
            // "\r\n" is one Character in Swift: split on the string.
            return response.components(separatedBy: "\r\n").first ?? ""
        }
        #expect(try await upgrade("/socket") == "HTTP/1.1 401 Unauthorized")
        #expect(try await upgrade("/socket", "Authorization: Bearer wrong\r\n") == "HTTP/1.1 401 Unauthorized")
        #expect(try await upgrade("/nowhere", "Authorization: Bearer s3cret\r\n") == "HTTP/1.1 404 Not Found")
        let plain = try await rawHTTP(
            port: gateway.port, "GET /socket HTTP/1.1\r\nHost: x\r\nAuthorization: s3cret\r\nConnection: close\r\n\r\n",
            group: gateway.clients)
        #expect(plain.hasPrefix("HTTP/1.1 426"))
        let auth = [("Authorization", "Bearer s3cret")]
        let a = try await gateway.connect("/socket", headers: auth)
        let b = try await gateway.connect("/echo", headers: [("Authorization", "s3cret")])
        await #expect(throws: (any Error).self) { try await gateway.connect("/socket", headers: auth) }
        #expect(try await upgrade("/socket", "Authorization: Bearer s3cret\r\n") == "HTTP/1.1 503 Service Unavailable")
        let metrics = try await fetchMetrics(gateway)
        #expect(metrics["patchbay_upgrades_unauthorized_total"] == 2)
        #expect(metrics["patchbay_upgrades_over_capacity_total"] == 2)
        await a.close()
        await b.close()
        await gateway.stop()
    }

    @Test("/health answers ok, and draining after drain begins")
    func health() async throws {
        let gateway = try await RunningGateway.start()
        let peer = try await gateway.connect("/socket")
        try await peer.sendConnected(rate: 8000)
        _ = await gateway.waitForLegs(1)
        let ok = try await rawHTTP(port: gateway.port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", group: gateway.clients)
        #expect(ok.hasPrefix("HTTP/1.1 200"))
        #expect(ok.hasSuffix(#"{"status":"ok","legs":1}"#))
        // Drain: no new legs; the open leg is closed with 1001 at the deadline.
        let drain = Task { await gateway.server.drain(timeout: .milliseconds(300)) }
        #expect(await eventually { gateway.server.isDraining })
        await #expect(throws: (any Error).self) { try await gateway.connect("/socket") }
        #expect(await eventually { peer.isClosed })
        #expect(peer.received.closeCode == .goingAway)
        await drain.value
        try? await gateway.clients.shutdownGracefully()
    }
}
