public import Foundation

/// What `patchbay bench` runs: how many calls, against what, for how long, and the SLOs to judge.
public struct BenchConfiguration: Sendable {
    public enum Audio: Sendable, Equatable {
        /// A 1 kHz sine at -20 dBFS.
        case tone
        /// A wav or mp3 file, decoded to the call's rate and looped.
        case file(String)
    }

    /// ws:// or wss:// URL of the endpoint.
    public var url: URL
    public var calls: Int
    public var sampleRate: Int
    /// How long each call streams.
    public var duration: Duration
    /// Calls started per second.
    public var rampPerSecond: Double
    /// Extra fields of the `websocket:connected` message (the NCCO endpoint's headers).
    public var headers: [(String, String)]
    public var audio: Audio
    /// Send a `websocket:dtmf` event every this many frames (0: never).
    public var dtmfEventEveryFrames: Int
    /// A frame coming back later than this after it was sent counts as late.
    public var lateAfter: Duration
    /// After the last frame is sent, how long to wait for frames still on their way.
    public var grace: Duration
    /// SLOs: the run fails when broken.
    public var maximumP99: Duration?
    public var maximumLostFrames: Int?
    /// Client event loops (0: one per core).
    public var threads: Int
    /// Conversations: calls come in groups of `groupSize` (pairs by default), every call but the first
    /// of each group at this rate, joined by a `conversation` header naming the group; each call listens
    /// for the probes of the next call of its group.
    public var pairRate: Int?
    /// Calls per conversation when `pairRate` is set (2...4: a listener's 100 ms search after each burst
    /// must not see the next leg's).
    public var groupSize: Int
    /// How returned audio is recognised (see `ProbeKind`).
    public var probe: ProbeKind
    /// Send an in-band DTMF digit (100 ms, -10 dBm0) every this many frames (0: never) and time the
    /// `websocket:dtmf` event the target sends back for it (its partner's, in pair mode).
    public var inbandDTMFEveryFrames: Int
    /// The target's Prometheus endpoint: its `_total` counters are read before and after the run and
    /// reported as differences (nil: not read).
    public var metricsURL: String?
    /// Names this run's conversations in pair mode, so two runs against one gateway never meet.
    public var runID: String
    /// Forwarded calls: the bench also plays the speech service the gateway forwards each call to, a
    /// websocket server listening here (see `BenchService`). Burst probes only.
    public var service: (host: String, port: Int)?
    /// How the service answers: each frame echoed as it comes (zero), or everything heard in this long
    /// sent back as one message (faster than real time: the gateway's playout paces it).
    public var serviceBurst: Duration

    public init(url: URL) {
        self.url = url
        calls = 10
        sampleRate = 16000
        duration = .seconds(60)
        rampPerSecond = 200
        headers = []
        audio = .tone
        dtmfEventEveryFrames = 0
        lateAfter = .milliseconds(100)
        grace = .seconds(1)
        maximumP99 = nil
        maximumLostFrames = nil
        threads = 0
        pairRate = nil
        groupSize = 2
        probe = .tag
        inbandDTMFEveryFrames = 0
        runID = String(UUID().uuidString.prefix(8)).lowercased()
        metricsURL = nil
        service = nil
        serviceBurst = .zero
    }

    /// The rate call `index` streams at.
    public func sampleRate(ofCall index: Int) -> Int {
        if let pairRate, index % groupSize != 0 { return pairRate }
        return sampleRate
    }

    /// The call whose probes call `index` listens for: the next call of its group in conversations
    /// (its partner in a pair), else itself.
    public func listener(ofCall index: Int) -> Int {
        guard pairRate != nil else { return index }
        let base = index - index % groupSize
        return base + (index - base + 1) % groupSize
    }

    /// The conversation call `index` belongs to (conversations only).
    public func group(ofCall index: Int) -> Int { index / groupSize }

    /// Where in the probe interval call `index` sends its burst, in frames: in groups of three or more
    /// every call hears several others, so their bursts are spread over the interval (at least 120 ms
    /// apart for up to four legs, beyond the 100 ms a listener searches after each); a pair's bursts need no spreading.
    public func burstOffset(ofCall index: Int) -> Int {
        guard pairRate != nil, groupSize > 2 else { return 0 }
        return (index % groupSize) * ProbeBurst.everyFrames / groupSize
    }

    /// Samples per 20 ms frame.
    public var frameSamples: Int { sampleRate / 50 }

    /// Parses "60s", "500ms", "2m", "1.5s", "250us".
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
            return .nanoseconds(Int64((value * scale * 1e9).rounded()))
        }
        return nil
    }

    /// Parses "200/s" or "200".
    public static func parseRate(_ text: String) -> Double? {
        let number = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
        guard let value = Double(number), value > 0, value.isFinite else { return nil }
        return value
    }
}

extension Duration {
    /// Nanoseconds, for histograms and deadlines.
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
