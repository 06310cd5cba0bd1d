import ArgumentParser
import Foundation
import PatchbayBench
import PatchbayVoiceAPI

#if canImport(Glibc)
    import Glibc
#endif

/// `patchbay bench`: simulate Voice API calls against a websocket endpoint and measure it.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Simulate Voice API calls against a websocket endpoint and measure the latency it adds.",
        discussion: """
            Opens N calls as the Voice API does (websocket:connected with headers, then 20 ms audio/l16 frames
            paced against an absolute clock). Every frame is tagged, so against an echo route each returned
            frame is matched to the one sent: round trip, jitter (|inter-arrival - 20 ms|), lost, late,
            duplicated and wrongly sized frames. Prints a live line per second, then a table; --json and
            --plot (SVG) write the full result. Exits 1 when an SLO given with --max-p99 or --max-lost is broken.
            Header values may contain {call}, replaced by the call's number (e.g. --header conversation=c{call}).

            Processing routes change the audio, so no tag survives them: --probe burst sends silence with a known
            10 ms burst every 500 ms and finds each burst again by correlation (latency = the frame it comes back
            in, plus its offset there, minus when it was sent). --pair-rate R makes two-leg conversations: calls come
            in pairs, the second at rate R, both with a conversation header naming the pair ({pair} in a header
            value overrides it), and each listens for its partner's bursts; with --group-size 3 or 4 the conversations
            have that many legs (the first at --rate, the rest at R), each leg listens for the next one's bursts in
            the mix, and the legs of a group send their bursts spread over the 500 ms. --inband-dtmf-every sends a DTMF digit
            in the audio and times the websocket:dtmf event the target sends back (patchbay: a route with
            "dtmf_events": true reports detected digits to the other legs of the conversation).

            --service HOST:PORT measures forwarding: the bench also plays the speech service the gateway forwards each
            call to (a route with "connect" to ws://HOST:PORT/ and "headers": {"bench_call": "{caller.bench_call}"}, so
            the service knows which call each of its connections carries). The service echoes what it hears; each
            caller finds its own bursts again (the round trip) and the service finds them on the way (caller ->
            service, service -> caller). --service-burst 200ms makes it answer with everything heard in 200 ms as
            one message, faster than real time, for the gateway's playout to pace.
            """
    )

    @Argument(help: "The endpoint, e.g. ws://127.0.0.1:8080/echo (wss:// for TLS; certificates are not verified).")
    var url: String

    @Option(help: "Concurrent calls.")
    var calls = 10

    @Option(help: "Sample rate: \(L16.list(L16.callRates)).")
    var rate = 16000

    @Option(help: "How long each call streams, e.g. 60s, 500ms, 2m.")
    var duration = "60s"

    @Option(help: "Calls started per second, e.g. 200/s.")
    var ramp = "200/s"

    @Option(name: .customLong("header"), help: "A connected-message header k=v (repeatable).")
    var headers: [String] = []

    @Option(help: "Audio to send: tone (1 kHz, -20 dBFS) or a wav/mp3 file.")
    var audio = "tone"

    @Option(name: .customLong("dtmf-every"), help: "Send a websocket:dtmf event every N frames (0: never).")
    var dtmfEvery = 0

    @Option(help: "Write the full result as JSON to this file.")
    var json: String?

    @Option(help: "Write a latency plot (SVG) to this file.")
    var plot: String?

    @Option(name: .customLong("max-p99"), help: "SLO: p99 round trip at most this, e.g. 2ms.")
    var maxP99: String?

    @Option(name: .customLong("max-lost"), help: "SLO: at most this many frames lost.")
    var maxLost: Int?

    @Option(help: "Client event loop threads (0: one per core).")
    var threads = 0

    @Option(help: "How returned audio is recognised: tag (exact, echo routes) or burst (correlation). Default: tag, or burst with --pair-rate.")
    var probe: String?

    @Option(name: .customLong("pair-rate"), help: "Two-leg conversations: every second call streams at this rate (\(L16.list(L16.callRates))).")
    var pairRate: Int?

    @Option(
        name: .customLong("group-size"),
        help: "With --pair-rate: calls per conversation, 2...4 (the first of each group at --rate, the rest at --pair-rate).")
    var groupSize: Int = 2

    @Option(name: .customLong("metrics-url"), help: "The target's Prometheus /metrics: its counters over the run are reported.")
    var metricsURL: String?

    @Option(
        name: .customLong("inband-dtmf-every"), help: "Send an in-band DTMF digit this often (a multiple of 500ms, e.g. 2s) and time the event back.")
    var inbandDTMFEvery: String?

    @Option(help: "Play the service the gateway forwards each call to: listen here (host:port) for its websocket connections.")
    var service: String?

    @Option(
        name: .customLong("service-burst"),
        help:
            "With --service: send back everything heard in this long (a multiple of 20ms, up to 2s) as one message (default: each frame as it comes)."
    )
    var serviceBurst: String?

    /// `host:port` (`[v6]:port` too).
    static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func validate() throws {
        guard let u = URL(string: url), ["ws", "wss"].contains(u.scheme ?? ""), u.host != nil else {
            throw ValidationError("URL must be ws://host:port/path or wss://... (got \(url))")
        }
        guard L16.callRates.contains(rate) else { throw ValidationError("--rate must be \(L16.list(L16.callRates))") }
        guard calls > 0, calls <= 100_000 else { throw ValidationError("--calls must be 1...100000") }
        guard BenchConfiguration.parseDuration(duration).map({ $0 >= .milliseconds(20) }) == true else {
            throw ValidationError("--duration must be like 60s, 500ms or 2m, at least 20ms (got \(duration))")
        }
        guard BenchConfiguration.parseRate(ramp) != nil else { throw ValidationError("--ramp must be like 200/s (got \(ramp))") }
        if let maxP99, BenchConfiguration.parseDuration(maxP99) == nil {
            throw ValidationError("--max-p99 must be like 2ms (got \(maxP99))")
        }
        for h in headers where !h.contains("=") { throw ValidationError("--header must be k=v (got \(h))") }
        guard dtmfEvery >= 0, threads >= 0 else { throw ValidationError("--dtmf-every and --threads must be >= 0") }
        if let probe, ProbeKind(rawValue: probe) == nil { throw ValidationError("--probe must be tag or burst (got \(probe))") }
        if let pairRate {
            guard L16.callRates.contains(pairRate) else { throw ValidationError("--pair-rate must be \(L16.list(L16.callRates))") }
            guard (2...4).contains(groupSize) else { throw ValidationError("--group-size must be 2...4 (got \(groupSize))") }
            guard calls % groupSize == 0 else {
                throw ValidationError("--pair-rate needs --calls to be a multiple of --group-size \(groupSize) (got \(calls))")
            }
            if groupSize > 2, inbandDTMFEvery != nil {
                // Every leg would hear every other's digits: the events could not be told apart.
                throw ValidationError("--inband-dtmf-every works with pairs only (--group-size 2)")
            }
            guard probe != "tag" else { throw ValidationError("--pair-rate listens for the partner's bursts: use --probe burst") }
        }
        if pairRate == nil, groupSize != 2 { throw ValidationError("--group-size needs --pair-rate") }
        if let service {
            guard Self.parseAddress(service) != nil else { throw ValidationError("--service must be host:port (got \(service))") }
            guard probe != "tag" else {
                throw ValidationError("--service finds its audio by correlation: use --probe burst (the default with --service)")
            }
            guard pairRate == nil, inbandDTMFEvery == nil else {
                throw ValidationError("--service forwards each call on its own: it does not combine with --pair-rate or --inband-dtmf-every")
            }
        }
        if let serviceBurst {
            guard service != nil else { throw ValidationError("--service-burst needs --service") }
            guard let d = BenchConfiguration.parseDuration(serviceBurst), d <= .seconds(2),
                (d / .milliseconds(20)).rounded() == d / .milliseconds(20)
            else {
                throw ValidationError("--service-burst must be a multiple of 20ms up to 2s, e.g. 200ms (got \(serviceBurst))")
            }
        }
        if let metricsURL, URL(string: metricsURL).map({ ["http", "https"].contains($0.scheme ?? "") && $0.host != nil }) != true {
            throw ValidationError("--metrics-url must be an http(s) URL (got \(metricsURL))")
        }
        if let inbandDTMFEvery {
            guard let d = BenchConfiguration.parseDuration(inbandDTMFEvery), d >= .milliseconds(500),
                (d / .milliseconds(500)).rounded() == d / .milliseconds(500)
            else {
                throw ValidationError("--inband-dtmf-every must be a multiple of 500ms, e.g. 2s (got \(inbandDTMFEvery))")
            }
        }
    }

    func run() async throws {
        var c = BenchConfiguration(url: URL(string: url)!)
        c.calls = calls
        c.sampleRate = rate
        c.duration = BenchConfiguration.parseDuration(duration)!
        c.rampPerSecond = BenchConfiguration.parseRate(ramp)!
        c.headers = headers.map { h in
            let i = h.firstIndex(of: "=")!
            return (String(h[..<i]), String(h[h.index(after: i)...]))
        }
        c.audio = audio == "tone" ? .tone : .file(audio)
        c.dtmfEventEveryFrames = dtmfEvery
        c.maximumP99 = maxP99.flatMap(BenchConfiguration.parseDuration)
        c.maximumLostFrames = maxLost
        c.threads = threads
        c.pairRate = pairRate
        c.groupSize = groupSize
        c.metricsURL = metricsURL
        c.probe = probe.flatMap(ProbeKind.init(rawValue:)) ?? (pairRate == nil && service == nil ? .tag : .burst)
        c.service = service.flatMap(Self.parseAddress)
        c.serviceBurst = serviceBurst.flatMap(BenchConfiguration.parseDuration) ?? .zero
        c.inbandDTMFEveryFrames = inbandDTMFEvery.flatMap(BenchConfiguration.parseDuration).map { Int(($0 / .milliseconds(20)).rounded()) } ?? 0

        let terminal = isatty(STDERR_FILENO) == 1
        let runner = BenchRunner(configuration: c) { p in
            // On a terminal the line rewrites itself; otherwise a plain line every five seconds.
            if terminal {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + p.line).utf8))
            } else if p.elapsedSeconds % 5 == 0 {
                FileHandle.standardError.write(Data((p.line + "\n").utf8))
            }
        }
        let result = try await runner.run()
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        print(result.table)
        if !result.failures.isEmpty {
            print("\nfirst failures:\n  " + result.failures.prefix(5).joined(separator: "\n  "))
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try encoder.encode(result).write(to: URL(fileURLWithPath: json))
        }
        if let plot {
            try Data(result.svg.utf8).write(to: URL(fileURLWithPath: plot))
        }
        let broken = result.brokenSLOs(c)
        if !broken.isEmpty {
            FileHandle.standardError.write(Data(("SLO broken: " + broken.joined(separator: "; ") + "\n").utf8))
            throw ExitCode.failure
        }
    }
}
