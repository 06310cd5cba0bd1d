public import Foundation
import Histogram

/// One progress line's worth of measurements (the last second).
public struct BenchProgress: Sendable, Codable {
    public var elapsedSeconds: Int
    public var callsUp = 0
    public var framesPerSecond = 0
    /// The highest per-loop p99 round trip of the last second (µs).
    public var intervalP99Microseconds: UInt64 = 0
    public var framesLost = 0
    public var sendLatenessP99Microseconds: UInt64 = 0

    public init(elapsedSeconds: Int) {
        self.elapsedSeconds = elapsedSeconds
    }

    /// One line: calls up, frames per second, current p99, losses.
    public var line: String {
        "\(elapsedSeconds)s  calls up \(callsUp)  frames/s \(framesPerSecond)  p99 \(BenchResult.format(intervalP99Microseconds))"
            + "  lost \(framesLost)  send lateness p99 \(BenchResult.format(sendLatenessP99Microseconds))"
    }
}

/// Everything a run measured, for the table, the JSON and the plot.
public struct BenchResult: Sendable, Codable {
    public struct Percentiles: Sendable, Codable, Equatable {
        public var count: UInt64
        public var p50: UInt64
        public var p90: UInt64
        public var p99: UInt64
        public var p999: UInt64
        public var max: UInt64

        init(_ h: Histogram<UInt64>) {
            count = h.totalCount
            p50 = h.totalCount == 0 ? 0 : h.valueAtPercentile(50)
            p90 = h.totalCount == 0 ? 0 : h.valueAtPercentile(90)
            p99 = h.totalCount == 0 ? 0 : h.valueAtPercentile(99)
            p999 = h.totalCount == 0 ? 0 : h.valueAtPercentile(99.9)
            max = h.totalCount == 0 ? 0 : h.max
        }
    }

    public var url: String
    public var calls: Int
    public var sampleRate: Int
    public var durationSeconds: Double
    public var started: Date
    public var wallSeconds: Double
    public var cores: Int

    public var callsConnected: Int
    public var callsFailed: Int
    public var callsClosedByServer: Int
    public var framesSent: Int
    public var framesReceived: Int
    public var framesLost: Int
    public var framesLate: Int
    public var framesDuplicated: Int
    public var framesWrongSize: Int
    public var framesUntagged: Int
    public var framesMisrouted: Int
    public var probe: ProbeKind
    public var pairRate: Int?
    /// Calls per conversation (with `pairRate`).
    public var groupSize: Int?
    /// Burst probes (`probe == .burst`): sent, found again, never found.
    public var probesSent: Int
    public var probesFound: Int
    public var probesMissed: Int
    /// In-band DTMF digits sent, matched to a `websocket:dtmf` event, never reported, and events for
    /// no digit sent.
    public var dtmfSent: Int
    public var dtmfMatched: Int
    public var dtmfMissed: Int
    public var dtmfUnexpected: Int

    /// All times in microseconds.
    public var roundTripMicroseconds: Percentiles
    public var jitterMicroseconds: Percentiles
    public var connectMicroseconds: Percentiles
    public var sendLatenessMicroseconds: Percentiles
    /// Burst probes: each latency above its call's own lowest.
    public var latencyAboveFloorMicroseconds: Percentiles
    public var dtmfRoundTripMicroseconds: Percentiles
    public var generatorCPUPercent: Double
    /// False when the generator's own send lateness is large enough to distort the figures.
    public var generatorReliable: Bool
    /// The round-trip distribution for the plot: (percentile, µs).
    public var roundTripCurve: [[Double]]
    public var timeline: [BenchProgress]
    public var failures: [String]
    /// The target's `_total` counters over the run (after - before), when `--metrics-url` was given.
    public var targetCounters: [String: Double]?
    /// Forwarded calls (`--service`): what the bench's service saw, and each round trip's two halves.
    public var forward: Forward?

    public struct Forward: Sendable, Codable {
        /// Where the service listened, and its burst (0: each frame echoed as it came).
        public var service: String
        public var burstMilliseconds: Int
        public var connections: Int
        /// Connections that named no call of the run.
        public var unknownCalls: Int
        /// Calls whose service connection never came: nothing of them was forwarded.
        public var callsNeverForwarded: Int
        public var framesIn: Int
        public var messagesOut: Int
        /// 20 ms frames' worth of audio sent back.
        public var framesOut: Int
        public var oddMessages: Int
        /// The callers' bursts the service found, and missed.
        public var probesFound: Int
        public var probesMissed: Int
        /// A caller's burst sent → found by the service.
        public var callerToServiceMicroseconds: Percentiles
        /// The service's echo of a burst sent → found by the caller (answering in bursts, from when the
        /// message carrying it left: the burst's place in the message is part of it).
        public var serviceToCallerMicroseconds: Percentiles

        init(configuration c: BenchConfiguration, address: String, stats s: LoopStats, counts: BenchService.Counts) {
            service = address
            burstMilliseconds = Int(c.serviceBurst.nanoseconds / 1_000_000)
            connections = counts.connections
            unknownCalls = counts.unknownCalls
            callsNeverForwarded = s.callsNeverForwarded
            framesIn = counts.framesIn
            messagesOut = counts.messagesOut
            framesOut = counts.framesOut
            oddMessages = counts.oddMessages
            probesFound = s.serviceProbesFound
            probesMissed = s.serviceProbesMissed
            callerToServiceMicroseconds = Percentiles(s.toService)
            serviceToCallerMicroseconds = Percentiles(s.fromService)
        }
    }

    init(
        configuration c: BenchConfiguration, stats s: LoopStats, started: Date, wallSeconds: Double,
        generatorCPUPercent: Double, cores: Int
    ) {
        url = c.url.absoluteString
        calls = c.calls
        sampleRate = c.sampleRate
        durationSeconds = Double(c.duration.nanoseconds) / 1e9
        self.started = started
        self.wallSeconds = wallSeconds
        self.cores = cores
        callsConnected = s.callsConnected
        callsFailed = s.callsFailed
        callsClosedByServer = s.callsClosedByServer
        framesSent = s.framesSent
        framesReceived = s.framesReceived
        framesLost = s.framesLost
        framesLate = s.framesLate
        framesDuplicated = s.framesDuplicated
        framesWrongSize = s.framesWrongSize
        framesUntagged = s.framesUntagged
        framesMisrouted = s.framesMisrouted
        probe = c.probe
        pairRate = c.pairRate
        groupSize = c.pairRate == nil ? nil : c.groupSize
        probesSent = s.probesSent
        probesFound = s.probesFound
        probesMissed = s.probesMissed
        dtmfSent = s.dtmfSent
        dtmfMatched = s.dtmfMatched
        dtmfMissed = s.dtmfMissed
        dtmfUnexpected = s.dtmfUnexpected
        latencyAboveFloorMicroseconds = Percentiles(s.latencyAboveFloor)
        dtmfRoundTripMicroseconds = Percentiles(s.dtmfRoundTrip)
        roundTripMicroseconds = Percentiles(s.roundTrip)
        jitterMicroseconds = Percentiles(s.jitter)
        connectMicroseconds = Percentiles(s.connect)
        sendLatenessMicroseconds = Percentiles(s.sendLateness)
        self.generatorCPUPercent = generatorCPUPercent
        // Round trips are timed from the moment each frame actually left, so a late send does not
        // lengthen one; but a generator whose clock slips by more than a 2 ms SLO, or that is short of
        // CPU, is also slow to read what comes back: then the numbers describe the generator. (On a
        // small VM a bare timer already wakes up to ~0.7 ms late at p99: see BENCHMARKS.md.)
        generatorReliable = sendLatenessMicroseconds.p99 <= 2000 && generatorCPUPercent < 90 * Double(cores)
        var curve: [[Double]] = []
        if s.roundTrip.totalCount > 0 {
            for p in [0.0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100] {
                curve.append([p, Double(p == 100 ? s.roundTrip.max : s.roundTrip.valueAtPercentile(p))])
            }
        }
        roundTripCurve = curve
        timeline = []
        failures = s.failures
        targetCounters = nil
        forward = nil
    }

    /// What the latency figures measure: a tagged frame's round trip, or a burst probe's way back.
    var latencyName: String {
        switch (probe, pairRate) {
        case (.tag, _): "round trip"
        case (.burst, nil): "probe round trip"
        case (.burst, _): groupSize.map { $0 > 2 } == true ? "probe latency (one leg to the next)" : "probe latency (partner to leg)"
        }
    }

    /// The SLOs the run broke, in words (empty when none).
    public func brokenSLOs(_ c: BenchConfiguration) -> [String] {
        var broken: [String] = []
        if let limit = c.maximumP99 {
            let p99 = roundTripMicroseconds.p99
            if Int64(p99) * 1000 > limit.nanoseconds {
                broken.append("p99 \(latencyName) \(Self.format(p99)) > \(Self.format(UInt64(limit.nanoseconds / 1000)))")
            }
        }
        if let limit = c.maximumLostFrames, framesLost > limit {
            broken.append("\(framesLost) frames lost > \(limit)")
        }
        if let limit = c.maximumLostFrames, probesMissed > limit {
            broken.append("\(probesMissed) probe bursts never found > \(limit)")
        }
        if let limit = c.maximumLostFrames, let forward, forward.probesMissed > limit {
            broken.append("\(forward.probesMissed) probe bursts never found by the service > \(limit)")
        }
        if c.maximumP99 != nil || c.maximumLostFrames != nil {
            if callsFailed > 0 { broken.append("\(callsFailed) calls failed") }
            if let n = forward?.callsNeverForwarded, n > 0 { broken.append("\(n) calls never reached the service") }
            if framesWrongSize > 0 { broken.append("\(framesWrongSize) frames of the wrong size") }
        }
        return broken
    }

    /// Microseconds as "850 µs", "1.23 ms" or "2.5 s".
    public static func format(_ micros: UInt64) -> String {
        if micros < 1000 { return "\(micros) µs" }
        if micros < 1_000_000 { return String(format: "%.2f ms", Double(micros) / 1000) }
        return String(format: "%.2f s", Double(micros) / 1e6)
    }

    /// The final table.
    public var table: String {
        func row(_ name: String, _ p: Percentiles) -> String {
            let cells = [p.p50, p.p90, p.p99, p.p999, p.max].map { Self.format($0).padding(toLength: 10, withPad: " ", startingAt: 0) }
            return name.padding(toLength: 22, withPad: " ", startingAt: 0) + cells.joined(separator: " ") + "  (\(p.count))"
        }
        var t = "patchbay bench \(url): \(calls) calls at \(sampleRate) Hz"
        if let pairRate {
            let n = groupSize ?? 2
            t +=
                n == 2
                ? " paired with \(pairRate) Hz (\(calls / 2) two-leg conversations)"
                : " in groups of \(n), the others at \(pairRate) Hz (\(calls / n) \(n)-leg conversations)"
        }
        if let forward {
            t += ", each forwarded to the bench's service on \(forward.service)"
            t += forward.burstMilliseconds > 0 ? " (answering every \(forward.burstMilliseconds) ms in one message)" : " (echoing each frame)"
        }
        t += " for \(durationSeconds) s, \(probe.rawValue) probes\n"
        t += "calls: \(callsConnected) connected, \(callsFailed) failed, \(callsClosedByServer) closed by the server\n"
        t += "frames: \(framesSent) sent, \(framesReceived) received, \(framesLost) lost, \(framesLate) late, "
        t += "\(framesDuplicated) duplicated, \(framesWrongSize) wrong size"
        if framesUntagged > 0 || framesMisrouted > 0 { t += ", \(framesUntagged) untagged, \(framesMisrouted) misrouted" }
        t += "\n"
        if probe == .burst {
            t += "probes: \(probesSent) bursts sent, \(probesFound) found, \(probesMissed) never found\n"
        }
        if let f = forward {
            t += "service: \(f.connections) connections (\(f.unknownCalls) for no call), \(f.callsNeverForwarded) calls never forwarded, "
            t += "\(f.framesIn) frames in, \(f.messagesOut) messages (\(f.framesOut) frames) out; "
            t += "bursts \(f.probesFound) found, \(f.probesMissed) never found\n"
        }
        if dtmfSent > 0 {
            t += "dtmf: \(dtmfSent) digits sent in band, \(dtmfMatched) reported back, \(dtmfMissed) never reported, "
            t += "\(dtmfUnexpected) unexpected events\n"
        }
        if probe == .tag && framesUntagged > 0 && roundTripMicroseconds.count == 0 {
            t += "(the route does not echo: frames come back untagged, so round trip is not measured; "
            t += "lost = frames expected one per frame sent and not received)\n"
        }
        t += "\n"
        t +=
            "".padding(toLength: 22, withPad: " ", startingAt: 0)
            + ["p50", "p90", "p99", "p99.9", "max"].map { $0.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined(separator: " ") + "  (n)\n"
        if probe == .burst {
            t += row(pairRate == nil ? "probe round trip" : "probe latency", roundTripMicroseconds) + "\n"
            t += row("  above call's floor", latencyAboveFloorMicroseconds) + "\n"
            if let f = forward {
                t += row("  caller -> service", f.callerToServiceMicroseconds) + "\n"
                t += row("  service -> caller", f.serviceToCallerMicroseconds) + "\n"
            }
        } else {
            t += row("round trip", roundTripMicroseconds) + "\n"
        }
        if dtmfSent > 0 { t += row("dtmf tone -> event", dtmfRoundTripMicroseconds) + "\n" }
        t += row("jitter |gap - 20 ms|", jitterMicroseconds) + "\n"
        t += row("connect", connectMicroseconds) + "\n"
        t += row("generator lateness", sendLatenessMicroseconds) + "\n\n"
        if let counters = targetCounters {
            let moved = counters.filter { $0.value != 0 }.sorted { $0.key < $1.key }
            t += "target counters over the run (\(moved.count) of \(counters.count) changed):\n"
            for (name, value) in moved { t += "  \(name) +\(String(format: "%.0f", value))\n" }
            t += "\n"
        }
        t += String(format: "generator CPU: %.0f%% of one core (%d cores)", generatorCPUPercent, cores)
        if !generatorReliable {
            t += "\nWARNING: the generator itself is late (send lateness p99 \(Self.format(sendLatenessMicroseconds.p99))) or "
            t += "saturated: these figures measure the generator as much as the target."
        }
        return t
    }
}
