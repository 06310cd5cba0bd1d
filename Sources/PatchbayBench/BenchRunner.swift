import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import PatchbayCodecs
import PatchbayWebSocketClient
import Synchronization

/// Runs a benchmark: opens the calls at the ramp rate, streams, and gathers the measurements.
public final class BenchRunner: Sendable {
    public let configuration: BenchConfiguration
    private let progress: @Sendable (BenchProgress) -> Void

    /// - Parameter progress: called about once a second from a background task.
    public init(configuration: BenchConfiguration, progress: @escaping @Sendable (BenchProgress) -> Void = { _ in }) {
        self.configuration = configuration
        self.progress = progress
    }

    public func run() async throws -> BenchResult {
        let c = configuration
        var audioByRate: [Int: [Int16]] = [:]
        for rate in Set([c.sampleRate, c.pairRate ?? c.sampleRate]) { audioByRate[rate] = try Self.loadAudio(c, rate: rate) }
        let audio = audioByRate
        let ledgers = (0..<c.calls).map { _ in ProbeLedger(forwarded: c.service != nil) }
        let threads = c.threads > 0 ? c.threads : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let loops = Array(group.makeIterator())
        let service: BenchService?
        do {
            service = try await c.service.asyncMap { address in
                try await BenchService.start(host: address.host, port: address.port, group: group, ledgers: ledgers, burst: c.serviceBurst)
            }
        } catch {
            try? await group.shutdownGracefully()
            throw BenchError.serviceCannotListen("\(c.service.map { "\($0.host):\($0.port)" } ?? "")", "\(error)")
        }
        // Each loop's stats are made on (and bound to) that loop.
        var bound: [NIOLoopBound<LoopStats>] = []
        for loop in loops {
            bound.append(try await loop.submit { NIOLoopBound(LoopStats(), eventLoop: loop) }.get())
        }
        let stats = bound
        let tls: NIOSSLContext? =
            c.url.scheme == "wss"
            ? try NIOSSLContext(
                configuration: {
                    var t = TLSConfiguration.makeClientConfiguration()
                    t.certificateVerification = .none
                    return t
                }())
            : nil
        let host = c.url.host ?? "127.0.0.1"
        let port = c.url.port ?? (c.url.scheme == "wss" ? 443 : 80)
        let path = (c.url.path.isEmpty ? "/" : c.url.path) + (c.url.query.map { "?" + $0 } ?? "")

        let countersBefore = try await c.metricsURL.asyncMap { try await TargetCounters.read($0) }
        let usageBefore = ResourceUsage.now()
        let clock = ContinuousClock()
        let startedAt = clock.now
        let wallStart = Date()

        // Progress once a second until every call is done.
        let timeline = Timeline()
        let reporter = Task { [progress] in
            var seconds = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                seconds += 1
                var p = BenchProgress(elapsedSeconds: seconds)
                for (i, loop) in loops.enumerated() {
                    let s = stats[i]
                    let snapshot = try? await loop.submit {
                        let v = s.value
                        let interval = v.takeInterval()
                        return (
                            max(0, v.callsConnected - v.callsFinished - v.callsFailed), interval, v.framesLost, v.sendLateness.valueAtPercentile(99)
                        )
                    }.get()
                    guard let snapshot else { continue }
                    p.callsUp += snapshot.0
                    p.framesPerSecond += snapshot.1.frames
                    p.intervalP99Microseconds = max(p.intervalP99Microseconds, snapshot.1.p99)
                    p.framesLost += snapshot.2
                    p.sendLatenessP99Microseconds = max(p.sendLatenessP99Microseconds, snapshot.3)
                }
                timeline.points.withLock { $0.append(p) }
                progress(p)
            }
        }

        var calls: [EventLoopFuture<Void>] = []
        for index in 0..<c.calls {
            let loopIndex = index % loops.count
            let loop = loops[loopIndex]
            let delay = TimeAmount.nanoseconds(Int64(Double(index) / c.rampPerSecond * 1e9))
            let done = loop.makePromise(of: Void.self)
            calls.append(done.futureResult)
            let s = stats[loopIndex]
            loop.scheduleTask(in: delay) {
                Self.connect(
                    index: index, configuration: c, audio: audio[c.sampleRate(ofCall: index)]!, host: host, port: port,
                    path: path, tls: tls, loop: loop, stats: s, ledgers: (ledgers[index], ledgers[c.listener(ofCall: index)]),
                    done: done)
            }
        }
        for f in calls { try? await f.get() }
        reporter.cancel()
        await service?.stop()
        let elapsed = clock.now - startedAt
        let usageAfter = ResourceUsage.now()

        var merged = LoopStats()
        for (i, loop) in loops.enumerated() {
            let s = stats[i]
            let part = try await loop.submit { () -> LoopStatsSnapshot in LoopStatsSnapshot(s.value) }.get()
            merged = part.merge(into: merged)
        }
        let cpuSeconds = usageAfter.cpuSeconds - usageBefore.cpuSeconds
        let wallSeconds = Double(elapsed.nanoseconds) / 1e9
        try? await group.shutdownGracefully()
        var result = BenchResult(
            configuration: c, stats: merged, started: wallStart, wallSeconds: wallSeconds,
            generatorCPUPercent: 100 * cpuSeconds / wallSeconds, cores: System.coreCount)
        result.timeline = timeline.points.withLock { $0 }
        if let service, let address = c.service {
            result.forward = BenchResult.Forward(
                configuration: c, address: "\(address.host):\(address.port)", stats: merged, counts: service.totals)
        }
        if let url = c.metricsURL, let before = countersBefore {
            result.targetCounters = TargetCounters.difference(before, try await TargetCounters.read(url))
        }
        return result
    }

    private static func loadAudio(_ c: BenchConfiguration, rate: Int) throws -> [Int16] {
        if c.probe == .burst {
            // Silence around the bursts, so nothing else correlates with them.
            return [Int16](repeating: 0, count: rate / 50)
        }
        switch c.audio {
        case .tone:
            // One second of 1 kHz at -20 dBFS: an integer number of cycles, so it loops seamlessly.
            return (0..<rate).map { Int16((3277 * sin(2 * Double.pi * 1000 * Double($0) / Double(rate))).rounded()) }
        case .file(let path):
            let decoded = try AudioDecoder(outputRate: rate).decode(fileAtPath: path)
            return decoded.samples
        }
    }

    private static func connect(
        index: Int, configuration c: BenchConfiguration, audio: [Int16], host: String, port: Int, path: String,
        tls: NIOSSLContext?, loop: any EventLoop, stats: NIOLoopBound<LoopStats>, ledgers: (sent: ProbeLedger, heard: ProbeLedger),
        done: EventLoopPromise<Void>
    ) {
        stats.value.callsStarted += 1
        let connectStarted = NIODeadline.now()
        let call = SimulatedCall(
            setup: .init(
                index: index, configuration: c, sampleRate: c.sampleRate(ofCall: index), audio: audio, stats: stats.value,
                sentLedger: ledgers.sent, heardLedger: ledgers.heard, connectStarted: connectStarted, done: done))
        let callOnLoop = NIOLoopBound(call, eventLoop: loop)
        let upgraded = loop.makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                WebSocketClient.configure(channel, tls: tls, upgraded: upgraded) { try $0.addHandler(callOnLoop.value) }
            }
        bootstrap.connect(host: host, port: port).whenComplete { result in
            switch result {
            case .failure(let error):
                upgraded.fail(error)
            case .success(let channel):
                _ = WebSocketClient.requestUpgrade(on: channel, host: host, port: port, path: path)
            }
        }
        upgraded.futureResult.whenComplete { result in
            switch result {
            case .success:
                callOnLoop.value.begin()
            case .failure(let error):
                // The websocket never opened; after it opens the call accounts for itself.
                stats.value.callsFailed += 1
                if stats.value.failures.count < 20 { stats.value.failures.append("call \(index): \(error)") }
                done.succeed()
            }
        }
    }
}

/// A snapshot of a loop's stats that can leave the loop.
private struct LoopStatsSnapshot: Sendable {
    let roundTrip, jitter, connect, sendLateness, latencyAboveFloor, dtmfRoundTrip, toService, fromService: Histogram<UInt64>
    let counts: [Int]
    let failures: [String]

    init(_ s: LoopStats) {
        roundTrip = s.roundTrip
        jitter = s.jitter
        connect = s.connect
        sendLateness = s.sendLateness
        latencyAboveFloor = s.latencyAboveFloor
        dtmfRoundTrip = s.dtmfRoundTrip
        toService = s.toService
        fromService = s.fromService
        counts = [
            s.callsStarted, s.callsConnected, s.callsFailed, s.callsFinished, s.callsClosedByServer, s.framesSent,
            s.framesReceived, s.framesLost, s.framesLate, s.framesDuplicated, s.framesWrongSize, s.framesUntagged,
            s.framesMisrouted, s.probesSent, s.probesFound, s.probesMissed, s.dtmfSent, s.dtmfMatched, s.dtmfMissed,
            s.dtmfUnexpected, s.serviceProbesFound, s.serviceProbesMissed, s.callsNeverForwarded,
        ]
        failures = s.failures
    }

    func merge(into m: LoopStats) -> LoopStats {
        m.roundTrip.add(roundTrip)
        m.jitter.add(jitter)
        m.connect.add(connect)
        m.sendLateness.add(sendLateness)
        m.latencyAboveFloor.add(latencyAboveFloor)
        m.dtmfRoundTrip.add(dtmfRoundTrip)
        m.toService.add(toService)
        m.fromService.add(fromService)
        m.callsStarted += counts[0]
        m.callsConnected += counts[1]
        m.callsFailed += counts[2]
        m.callsFinished += counts[3]
        m.callsClosedByServer += counts[4]
        m.framesSent += counts[5]
        m.framesReceived += counts[6]
        m.framesLost += counts[7]
        m.framesLate += counts[8]
        m.framesDuplicated += counts[9]
        m.framesWrongSize += counts[10]
        m.framesUntagged += counts[11]
        m.framesMisrouted += counts[12]
        m.probesSent += counts[13]
        m.probesFound += counts[14]
        m.probesMissed += counts[15]
        m.dtmfSent += counts[16]
        m.dtmfMatched += counts[17]
        m.dtmfMissed += counts[18]
        m.dtmfUnexpected += counts[19]
        m.serviceProbesFound += counts[20]
        m.serviceProbesMissed += counts[21]
        m.callsNeverForwarded += counts[22]
        m.failures += failures
        return m
    }
}

/// Why a run could not start.
public enum BenchError: Error, CustomStringConvertible {
    case serviceCannotListen(String, String)

    public var description: String {
        switch self {
        case .serviceCannotListen(let address, let error): "the bench's service cannot listen on \(address): \(error)"
        }
    }
}

/// Progress lines, kept for the plot.
private final class Timeline: Sendable {
    let points = Mutex<[BenchProgress]>([])
}

/// CPU time this process has used.
struct ResourceUsage {
    let cpuSeconds: Double

    static func now() -> ResourceUsage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return ResourceUsage(cpuSeconds: user + system)
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
