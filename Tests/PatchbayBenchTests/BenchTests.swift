import Foundation
import NIOPosix
import PatchbayServer
import PatchbayTestSupport
import PatchbayVoiceAPI
import Testing

@testable import PatchbayBench
@testable import PatchbayServerTestSupport

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

    @Test("burst probes through the echo route are all found again, at the tagged round trip's scale")
    func burstThroughEcho() async throws {
        let gateway = try await RunningGateway.start()
        var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)/echo")!)
        c.calls = 3
        c.duration = .seconds(2)
        c.grace = .milliseconds(300)
        c.probe = .burst
        let result = try await BenchRunner(configuration: c).run()
        await gateway.stop()
        #expect(result.probesSent >= 3 * 3)
        #expect(result.probesFound == result.probesSent && result.probesMissed == 0)
        // An echo returns the burst at the start of the frame it was sent in: the latency is one
        // loopback round trip, well under a frame.
        #expect(result.roundTripMicroseconds.count == result.probesSent)
        #expect(result.roundTripMicroseconds.max < 20_000, "\(result.roundTripMicroseconds)")
        #expect(result.framesLost == 0)
    }

    @Test("two-leg 8k-16k conversations: each leg finds its partner's bursts, resampled, and its in-band digits come back as events")
    func pairs() async throws {
        let mp3 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../testdata/sine1k-xing.mp3")
        let gateway = try await RunningGateway.start { c in
            c.routes.append(.init(path: "/pair", mode: .conversation, conversationHeader: "conversation", dtmfEvents: true))
            c.routes.append(
                .init(
                    path: "/pair-mp3", mode: .conversation, conversationHeader: "conversation",
                    stream: .init(url: mp3.standardizedFileURL.path, loop: 0, level: -0.5), dtmfEvents: true))
        }
        var eventsReceived = 0
        for path in ["/pair", "/pair-mp3"] {
            var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)\(path)")!)
            c.calls = 4
            c.pairRate = 8000
            c.probe = .burst
            c.duration = .seconds(3)
            c.grace = .milliseconds(500)
            c.inbandDTMFEveryFrames = 50
            let result = try await BenchRunner(configuration: c).run()
            #expect(result.callsConnected == 4 && result.callsFailed == 0, "\(path)")
            #expect(result.probesSent >= 4 * 5, "\(path)")
            #expect(
                result.probesFound == result.probesSent && result.probesMissed == 0,
                "\(path): \(result.probesFound) found, \(result.probesMissed) missed, \(result.roundTripMicroseconds)")
            // Through a 20 ms mixing clock and a resampler: more than a loopback round trip, less than
            // the 100 ms search window.
            #expect(result.roundTripMicroseconds.p50 > 1000 && result.roundTripMicroseconds.max < 100_000, "\(path)")
            #expect(result.dtmfSent == 4 * 3, "\(path)")
            #expect(result.dtmfMatched == result.dtmfSent && result.dtmfUnexpected == 0, "\(path): \(result.dtmfMatched)")
            // The detector reports a digit when its tone ends: 100 ms of tone, then the event.
            #expect(result.dtmfRoundTripMicroseconds.p50 > 100_000 && result.dtmfRoundTripMicroseconds.max < 400_000, "\(path)")
            eventsReceived += result.dtmfMatched + result.dtmfUnexpected
        }
        // Every event the bench received was counted by the gateway as sent.
        let metrics = try await fetchMetrics(gateway)
        #expect((metrics["patchbay_dtmf_events_sent_total"] ?? -1) >= Double(eventsReceived), "\(metrics)")
        #expect(metrics["patchbay_frames_trimmed_total"] != nil)
        await gateway.stop()
    }

    @Test("three-leg conversations with an mp3 mixed in: each leg finds the next leg's bursts in its mix")
    func threeLegGroups() async throws {
        let mp3 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../testdata/sine1k-xing.mp3")
        let gateway = try await RunningGateway.start { c in
            c.routes.append(
                .init(
                    path: "/trio-mp3", mode: .conversation, conversationHeader: "conversation",
                    stream: .init(url: mp3.standardizedFileURL.path, loop: 0, level: -0.5)))
        }
        var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)/trio-mp3")!)
        c.calls = 6
        c.pairRate = 8000
        c.groupSize = 3
        c.probe = .burst
        c.duration = .seconds(3)
        c.grace = .milliseconds(500)
        #expect(c.listener(ofCall: 0) == 1 && c.listener(ofCall: 2) == 0 && c.listener(ofCall: 5) == 3)
        #expect((0..<3).map(c.burstOffset(ofCall:)) == [0, 8, 16])
        #expect((0..<6).map(c.sampleRate(ofCall:)) == [16000, 8000, 8000, 16000, 8000, 8000])
        let result = try await BenchRunner(configuration: c).run()
        await gateway.stop()
        #expect(result.callsConnected == 6 && result.callsFailed == 0)
        #expect(result.probesSent >= 6 * 5)
        #expect(
            result.probesFound == result.probesSent && result.probesMissed == 0,
            "\(result.probesFound) found, \(result.probesMissed) missed, \(result.roundTripMicroseconds)")
        // Mixed at a tick that follows the legs' arrivals, resampled: above a loopback round trip, below
        // the search window.
        #expect(result.roundTripMicroseconds.p50 > 1000 && result.roundTripMicroseconds.max < 100_000, "\(result.roundTripMicroseconds)")
        #expect(result.table.contains("2 3-leg conversations"), "\(result.table)")
    }

    @Test(
        "forwarded calls: the bench plays the service too, finds each caller's bursts on the way there and back, echoed at once or in bursts",
        arguments: [(8000, 0), (16000, 200)])
    func forwarded(serviceRate: Int, burstMilliseconds: Int) async throws {
        let clients = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let servicePort = try await freePort(group: clients)
        try await clients.shutdownGracefully()
        var endpoint = WebSocketEndpoint(uri: "ws://127.0.0.1:\(servicePort)/", contentType: "audio/l16;rate=\(serviceRate)")
        endpoint.headers = ["bench_call": .string("{caller.bench_call}")]
        let gateway = try await RunningGateway.start { c in
            c.routes.append(.init(path: "/forward", mode: .conversation, connect: [endpoint]))
        }
        var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)/forward")!)
        c.calls = 3
        c.probe = .burst
        c.service = ("127.0.0.1", servicePort)
        c.serviceBurst = .milliseconds(Int64(burstMilliseconds))
        c.duration = .seconds(3)
        c.grace = .milliseconds(500)
        let result = try await BenchRunner(configuration: c).run()
        await gateway.stop()
        let forward = try #require(result.forward)
        #expect(result.callsConnected == 3 && result.callsFailed == 0)
        #expect(forward.connections == 3 && forward.unknownCalls == 0 && forward.callsNeverForwarded == 0, "\(result.table)")
        // Bursts from 100 ms after each service connected: about five per call, every one found twice.
        #expect(result.probesSent >= 3 * 3, "\(result.table)")
        #expect(result.probesFound == result.probesSent && result.probesMissed == 0, "\(result.table)")
        #expect(forward.probesMissed == 0 && forward.probesFound >= result.probesFound - 3, "\(result.table)")
        #expect(forward.callerToServiceMicroseconds.count >= result.probesFound - 3)
        #expect(forward.serviceToCallerMicroseconds.count >= result.probesFound - 3)
        // Each half is part of the round trip (the service adds nothing when it echoes at once).
        #expect(forward.callerToServiceMicroseconds.p50 < result.roundTripMicroseconds.p50, "\(result.table)")
        #expect(forward.serviceToCallerMicroseconds.p50 < result.roundTripMicroseconds.p50, "\(result.table)")
        if burstMilliseconds > 0 {
            // Sent back in 200 ms messages: 3 s of each caller in about 15 of them.
            #expect(forward.messagesOut < forward.framesIn / 5, "\(result.table)")
        } else {
            #expect(forward.messagesOut == forward.framesIn, "\(result.table)")
        }
        #expect(result.table.contains("caller -> service") && result.table.contains("forwarded to the bench's service"), "\(result.table)")
        #expect(result.brokenSLOs(c).isEmpty)
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

    @Test("the probe search finds a burst at its exact lag under a loud tone, and nothing in the tone alone", arguments: [8000, 16000, 24000])
    func probeSearch(rate: Int) {
        let n = rate / 50
        let burst = ProbeBurst.samples(rate: rate)
        let lag = 2 * n + 37
        var window = (0..<(5 * n)).map { Float(8000 * sin(2 * Double.pi * 1000 * Double($0) / Double(rate))) }
        let toneOnly = window
        for i in 0..<burst.count { window[lag + i] += Float(burst[i]) }
        let search = ProbeSearch(rate: rate)
        let found = window.withUnsafeBufferPointer { search.best(in: $0) }
        #expect(found.lag == lag)
        #expect(ProbeSearch.isFound(found), "\(found)")
        // A tone as loud as the burst leaks a little into the 10 ms correlation: the gain is near 1, not exact.
        #expect(abs(found.gain - 1) < 0.35, "\(found)")
        let nothing = toneOnly.withUnsafeBufferPointer { search.best(in: $0) }
        #expect(!ProbeSearch.isFound(nothing), "\(nothing)")
    }

    @Test("--metrics-url reports the target's counters over the run: the echo route counted every frame the bench sent")
    func targetCounters() async throws {
        let gateway = try await RunningGateway.start()
        var c = BenchConfiguration(url: URL(string: "ws://127.0.0.1:\(gateway.port)/echo")!)
        c.calls = 3
        c.duration = .seconds(1)
        c.grace = .milliseconds(300)
        c.metricsURL = "http://127.0.0.1:\(gateway.port)/metrics"
        let result = try await BenchRunner(configuration: c).run()
        let counters = try #require(result.targetCounters)
        #expect(counters["patchbay_frames_in_total"] == Double(result.framesSent), "\(counters)")
        #expect(counters["patchbay_frames_out_total"] == Double(result.framesReceived), "\(counters)")
        #expect(counters["patchbay_frames_trimmed_total"] == 0)

        c.metricsURL = "http://127.0.0.1:\(gateway.port)/nowhere"
        await #expect(throws: TargetCounters.Unreadable.self) { try await BenchRunner(configuration: c).run() }
        await gateway.stop()
    }

    @Test("Prometheus text: unlabelled _total samples are read, everything else is skipped")
    func prometheusParsing() {
        let text = """
            # HELP a_total A.
            # TYPE a_total counter
            a_total 12
            b_total{le="1"} 3
            legs_active 4
            c_total 1.5e3
            """
        #expect(TargetCounters.parse(text) == ["a_total": 12, "c_total": 1500])
        #expect(TargetCounters.difference(["a_total": 2, "x_total": 1], ["a_total": 12, "c_total": 3]) == ["a_total": 10])
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
