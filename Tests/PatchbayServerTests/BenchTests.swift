import Foundation
import PatchbayBench
import PatchbayServer
import Testing

/// `patchbay bench`'s engine against a real gateway over loopback.
@Suite(.serialized) struct BenchTests {
    @Test("against the echo route every frame is matched: none lost, round trips measured")
    func echo() async throws {
        let gateway = try await RunningGateway.start()
        var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)/echo")!)
        c.calls = 5
        c.duration = .seconds(1)
        c.grace = .milliseconds(300)
        c.maximumP99 = .seconds(1)
        c.maximumLostFrames = 0
        let result = try await BenchRunner(configuration: c).run()
        await gateway.stop()
        #expect(result.callsConnected == 5 && result.callsFailed == 0)
        #expect(result.framesSent == 250)
        #expect(result.framesReceived == 250)
        #expect(result.framesLost == 0 && result.framesDuplicated == 0 && result.framesWrongSize == 0)
        #expect(result.roundTripMicroseconds.count == 250)
        #expect(result.roundTripMicroseconds.p50 > 0 && result.roundTripMicroseconds.p50 < 100_000)
        #expect(result.brokenSLOs(c).isEmpty)
        // The JSON and the plot are complete documents.
        let json = try JSONEncoder().encode(result)
        #expect(try JSONSerialization.jsonObject(with: json) is [String: Any])
        #expect(result.svg.hasPrefix("<svg") && result.svg.hasSuffix("</svg>\n"))
    }

    @Test("against a conversation route frames come back untagged and are counted, not matched")
    func conversation() async throws {
        let gateway = try await RunningGateway.start()
        var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)/socket")!)
        c.calls = 2
        c.duration = .seconds(1)
        c.grace = .milliseconds(300)
        c.headers = [("conversation", "bench-{call}")]
        let result = try await BenchRunner(configuration: c).run()
        await gateway.stop()
        #expect(result.callsConnected == 2)
        #expect(result.roundTripMicroseconds.count == 0)
        #expect(result.framesUntagged >= 90, "\(result.framesUntagged)")
        #expect(result.framesLost <= 10, "\(result.framesLost)")
    }

    @Test("refused calls fail and break the SLOs; a tight p99 SLO is reported broken")
    func slos() async throws {
        let gateway = try await RunningGateway.start()
        var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)/nowhere")!)
        c.calls = 3
        c.duration = .milliseconds(200)
        c.maximumLostFrames = 0
        let refused = try await BenchRunner(configuration: c).run()
        #expect(refused.callsFailed == 3)
        #expect(refused.failures.allSatisfy { $0.contains("404") }, "\(refused.failures)")
        #expect(refused.brokenSLOs(c) == ["3 calls failed"])

        c.url = URL(string: "ws://127.0.0.1:\(gateway.port)/echo")!
        c.maximumP99 = .nanoseconds(1000)  // 1 µs: no loopback round trip is that fast
        let tight = try await BenchRunner(configuration: c).run()
        await gateway.stop()
        #expect(tight.brokenSLOs(c).contains { $0.hasPrefix("p99 round trip") })
    }

    @Test("durations and rates parse as the CLI documents")
    func parsing() {
        #expect(BenchConfiguration.parseDuration("60s") == .seconds(60))
        #expect(BenchConfiguration.parseDuration("2ms") == .milliseconds(2))
        #expect(BenchConfiguration.parseDuration("1.5s") == .milliseconds(1500))
        #expect(BenchConfiguration.parseDuration("2m") == .seconds(120))
        #expect(BenchConfiguration.parseDuration("250us") == .microseconds(250))
        #expect(BenchConfiguration.parseDuration("fast") == nil)
        #expect(BenchConfiguration.parseRate("200/s") == 200)
        #expect(BenchConfiguration.parseRate("0") == nil)
    }
}
