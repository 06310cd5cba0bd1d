import Foundation
import Logging
import NIOPosix
import PatchbayCodecs
public import PatchbayConfiguration
import PatchbayDSP
public import PatchbayEngine

/// Why a stream could not be played.
public enum StreamError: Error, Equatable, CustomStringConvertible {
    case fetch(StreamFetchError)
    case engine(EngineError)

    public var description: String {
        switch self {
        case .fetch(let e): e.description
        case .engine(let e): e.description
        }
    }
}

/// Audio files into legs: fetched (http/https, with the fetcher's limits) or read (a path, `file://`),
/// decoded and resampled to the leg's rate off every tick and event loop, then played by the engine. A
/// route's `stream` is decoded once per source and rate and shared by every leg that plays it.
final class StreamPlayback: Sendable {
    let fetcher: StreamFetcher
    private let engine: Engine
    private let logger: Logger
    private let background: BackgroundTasks
    /// Route streams, decoded once per source and rate.
    private let routeStreams = DecodedStreamCache()
    /// Decoding audio is CPU work that blocks: it runs here, never on Swift's cooperative threads (two on
    /// two cores) nor on a media shard or event loop.
    private let decodePool = NIOThreadPool(numberOfThreads: 1)

    init(fetcher: StreamFetcher, engine: Engine, background: BackgroundTasks, logger: Logger) {
        self.fetcher = fetcher
        self.engine = engine
        self.background = background
        self.logger = logger
    }

    func start() {
        decodePool.start()
    }

    func shutdown() async {
        await fetcher.shutdown()
        try? await decodePool.shutdownGracefully()
    }

    /// Plays a wav or mp3 into a leg from an http(s) URL or a file path (`file://` or a plain path).
    /// - Parameter replacing: players of this kind on the leg are stopped once the new one is ready.
    /// - Returns: the player's id (its `playerFinished` event carries it).
    func play(_ source: String, loop: Int, level: Level, replacing: Player.Kind?, on legID: UUID) async throws(StreamError) -> UUID {
        do {
            let samples = try await decode(source) {
                guard let leg = engine.leg(legID) else { throw EngineError.unknownLeg(legID) }
                return leg.sampleRate
            }
            if let replacing { try engine.stopPlayers(replacing, on: legID) }
            return try engine.playClip(samples, loop: loop, level: level, on: legID)
        } catch let e as StreamFetchError {
            logger.notice("stream fetch failed", metadata: ["source": "\(source)", "error": "\(e)"])
            throw .fetch(e)
        } catch let e as EngineError {
            logger.notice("stream not played", metadata: ["source": "\(source)", "error": "\(e)"])
            throw .engine(e)
        } catch let e as AudioDecoderError {
            logger.notice("stream not played", metadata: ["source": "\(source)", "error": "\(e)"])
            throw .engine(.audio(e))
        } catch {
            throw .fetch(.transport("\(error)"))
        }
    }

    /// Starts a route's `stream` on a leg that has just connected (a failure is logged and published as
    /// `playFailed`; the leg goes on). Fetched and decoded once per rate, at the first leg, and shared by
    /// every leg after it: a thousand calls on hold do not download the hold music a thousand times.
    func startRouteStream(_ route: ServerConfiguration.Route, on leg: Leg) {
        guard let stream = route.stream else { return }
        let level = (try? Level(stream.level ?? 0)) ?? .unity
        let loop = stream.loop ?? 0
        let id = leg.id
        let rate = leg.sampleRate
        background.run { [self] in
            do {
                let samples = try await routeStreams.samples(key: "\(rate) \(stream.url)") { [self] () async throws -> [Int16] in
                    try await decode(stream.url) { rate }
                }
                try engine.playClip(samples, loop: loop, level: level, on: id)
            } catch {
                logger.notice("route stream not played", metadata: ["route": "\(route.path)", "source": "\(stream.url)", "error": "\(error)"])
                engine.events.publish(
                    EngineEvent(
                        leg: id, conversation: leg.conversationName, kind: .playFailed(kind: .stream, source: stream.url, reason: "\(error)")))
            }
        }
    }

    /// Fetches (http/https) or reads (a path or `file://`) a wav or mp3 and decodes it to the rate `rate`
    /// gives; `rate` is asked after the fetch, just before decoding. Reading and decoding run on the pool.
    private func decode(_ source: String, rate: () throws -> Int) async throws -> [Int16] {
        if source.lowercased().hasPrefix("http://") || source.lowercased().hasPrefix("https://") {
            let bytes = try await fetcher.fetch(source)
            let outputRate = try rate()
            return try await decodePool.runIfActive { try AudioDecoder(outputRate: outputRate).decode(bytes: bytes).samples }
        }
        if let scheme = source.range(of: "://").map({ source[..<$0.lowerBound].lowercased() }), scheme != "file" {
            throw StreamFetchError.invalidURL(source)
        }
        let path = source.hasPrefix("file://") ? String(source.dropFirst(7)) : source
        let outputRate = try rate()
        return try await decodePool.runIfActive { try AudioDecoder(outputRate: outputRate).decode(fileAtPath: path).samples }
    }
}

/// Decoded audio shared by every leg that plays it. A load in flight is shared too; a failed one is
/// forgotten, so the next leg tries again.
actor DecodedStreamCache {
    private var entries: [String: Task<[Int16], any Error>] = [:]

    func samples(key: String, load: @escaping @Sendable () async throws -> [Int16]) async throws -> [Int16] {
        let task: Task<[Int16], any Error>
        if let existing = entries[key] {
            task = existing
        } else {
            task = Task { try await load() }
            entries[key] = task
        }
        do {
            return try await task.value
        } catch {
            if entries[key] == task { entries[key] = nil }
            throw error
        }
    }

    var count: Int { entries.count }
}
