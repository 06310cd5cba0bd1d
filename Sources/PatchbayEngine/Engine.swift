public import CoreMetrics
import Dispatch
public import Foundation
public import Logging
public import PatchbayCodecs
public import PatchbayDSP
public import PatchbayVoiceAPI
import Synchronization

/// Why a control operation on a leg failed.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    /// The leg is not (or no longer) attached.
    case unknownLeg(UUID)
    /// An echo leg plays nothing: its audio goes straight back.
    case echoLeg(UUID)
    case invalidDigits(DTMFGeneratorError)
    case audio(AudioDecoderError)
    case invalidPayload(String)

    public var description: String {
        switch self {
        case .unknownLeg(let id): "unknown leg \(id)"
        case .echoLeg(let id): "leg \(id) is an echo leg: it hears only itself"
        case .invalidDigits(let e): e.description
        case .audio(let e): e.description
        case .invalidPayload(let reason): reason
        }
    }
}

/// The media engine: legs in conversations on a fixed set of media shards.
///
/// A conversation lives on one shard (chosen from its name), so its legs are mixed in one place. Control
/// operations (attach, detach, play, stop) are queued onto the shard and take effect before the next
/// tick; audio on a two-leg conversation's direct route is forwarded by the event loop that received it.
public final class Engine: Sendable {
    public struct Configuration: Sendable {
        /// Media shards (serial queues with a 20 ms clock each); about one per core.
        public var shards: Int
        /// Run the DTMF detector on every leg's inbound audio.
        public var detectDTMF: Bool
        /// The time in nanoseconds of a monotonic clock, for pacing audio on the direct route (tests that
        /// drive the engine tick by tick pass a clock of their own).
        public var now: @Sendable () -> Int64
        /// Where the engine's metrics go (swift-metrics; the global `MetricsSystem.factory` by default).
        public var metricsFactory: any MetricsFactory

        public init(
            shards: Int = ProcessInfo.processInfo.activeProcessorCount, detectDTMF: Bool = true,
            now: @escaping @Sendable () -> Int64 = { Int64(DispatchTime.now().uptimeNanoseconds) },
            metricsFactory: any MetricsFactory = MetricsSystem.factory
        ) {
            self.shards = max(1, shards)
            self.detectDTMF = detectDTMF
            self.now = now
            self.metricsFactory = metricsFactory
        }
    }

    public let configuration: Configuration
    public let metrics: EngineMetrics
    public let events: EventHub
    private let shards: [MediaShard]
    private let registry = LegRegistry()
    private let logger: Logger
    /// Held while a leg's shard is looked up and work is queued on it, and for the whole of a move, so
    /// that work for a leg lands on the shard that holds it, in the order asked.
    private let placement = Mutex(())

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "patchbay.engine")) {
        self.configuration = configuration
        self.logger = logger
        let metrics = EngineMetrics(factory: configuration.metricsFactory)
        let events = EventHub(missed: metrics.eventsMissed)
        self.metrics = metrics
        self.events = events
        shards = (0..<configuration.shards).map {
            MediaShard(
                index: $0, metrics: metrics, events: events, detectDTMF: configuration.detectDTMF, now: configuration.now,
                logger: logger)
        }
    }

    /// Starts every shard's clock.
    public func start() {
        for shard in shards { shard.start() }
    }

    /// Runs one 20 ms tick on every shard now and waits for it: for benchmarks and tests that drive
    /// the engine without its clocks (do not call `start` as well).
    public func tickNow() {
        for shard in shards { shard.tickNow() }
    }

    /// Stops the clocks (legs still attached stop receiving frames) and ends the event streams.
    public func shutdown() {
        for shard in shards { shard.stop() }
        events.finish()
    }

    /// The legs attached now.
    public var legs: [Leg] { registry.all }

    public func leg(_ id: UUID) -> Leg? { registry[id] }

    /// The legs of a conversation now (a scan of every leg: for control operations, not per frame).
    public func legs(inConversation name: String) -> [Leg] { registry.all.filter { $0.conversationName == name } }

    /// Attaches a leg: it joins its conversation and hears the others from the next tick. An echo leg
    /// joins no conversation (its I/O echoes it) but is listed and counted like any other.
    public func attach(_ leg: Leg) {
        registry.insert(leg)
        metrics.legsActive.increment()
        if !leg.isEcho {
            placement.withLock { _ in
                leg.shards = shards
                leg.shardIndex.store(shardIndex(forConversation: leg.conversationName), ordering: .releasing)
                leg.shard?.attach(leg)
            }
        }
        events.publish(EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .legStarted))
    }

    /// Ends a leg: it leaves its conversation and "leg ended" is published with `reason`. Exactly once
    /// per leg, whoever calls it first (later calls do nothing). "Leg ended" is the leg's last event: it
    /// is published on the shard's queue once the leg has left, after whatever was asked of the shard
    /// before (a player stopped just before the hang-up reports that first).
    public func detach(_ leg: Leg, reason: LegEndReason) {
        guard leg.markEnded(), registry.remove(leg.id) != nil else { return }
        metrics.legsActive.decrement()
        let ended = EngineEvent(
            leg: leg.id, conversation: leg.conversationName,
            kind: .legEnded(duration: Date().timeIntervalSince(leg.startTime), reason: reason))
        let events = events
        if leg.isEcho {
            events.publish(ended)
        } else {
            placement.withLock { _ in leg.shard?.detach(leg) { events.publish(ended) } }
        }
    }

    /// Moves a live leg to the conversation `name` (created if need be): it leaves its conversation
    /// (which ends with its last leg) and from the next tick hears the new one. Its players go with it.
    /// A `transferred` event is published. Waits for the leg's shard: call it off the media queues.
    public func move(_ legID: UUID, toConversation name: String) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        guard !leg.isEcho else { throw .echoLeg(legID) }
        let target = shardIndex(forConversation: name)
        let from: String? = placement.withLock { _ in
            let from = leg.conversationName
            guard leg.isLive, from != name, let shard = leg.shard else { return nil }
            let players = shard.moveOut(leg)
            leg.rename(name)
            leg.shardIndex.store(target, ordering: .releasing)
            shards[target].attach(leg, players: players)
            return from
        }
        guard let from else {
            if !leg.isLive { throw .unknownLeg(legID) }
            return
        }
        events.publish(EngineEvent(leg: leg.id, conversation: name, kind: .transferred(from: from)))
    }

    /// Plays `player` into the leg, mixed with whatever else it hears.
    public func play(_ player: Player, on legID: UUID) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        guard !leg.isEcho else { throw .echoLeg(legID) }
        onShard(of: leg) {
            leg.media?.players.append(player)
            leg.conversation?.updateRoutes()
        }
    }

    /// Decodes a wav or mp3 (file bytes) to the leg's rate and plays it `loop` times (0 = forever).
    /// Decoding runs on the caller's thread: call it off any media tick.
    /// - Returns: the player's id.
    @discardableResult
    public func playAudio(bytes: [UInt8], loop: Int = 1, level: Level = .unity, on legID: UUID) throws(EngineError) -> UUID {
        try playDecoded(loop: loop, level: level, on: legID) { decoder throws(AudioDecoderError) in try decoder.decode(bytes: bytes) }
    }

    /// Decodes a wav or mp3 file and plays it; see `playAudio(bytes:loop:level:on:)`.
    @discardableResult
    public func playAudio(fileAtPath path: String, loop: Int = 1, level: Level = .unity, on legID: UUID) throws(EngineError) -> UUID {
        try playDecoded(loop: loop, level: level, on: legID) { decoder throws(AudioDecoderError) in
            try decoder.decode(fileAtPath: path)
        }
    }

    private func playDecoded(
        loop: Int, level: Level, on legID: UUID, _ decode: (AudioDecoder) throws(AudioDecoderError) -> DecodedAudio
    ) throws(EngineError) -> UUID {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        let audio: DecodedAudio
        do {
            audio = try decode(try AudioDecoder(outputRate: leg.sampleRate))
        } catch {
            throw .audio(error)
        }
        return try playClip(audio.samples, loop: loop, level: level, on: legID)
    }

    /// Plays samples already at the leg's rate `loop` times (0 = forever).
    /// - Returns: the player's id.
    @discardableResult
    public func playClip(
        _ samples: [Int16], loop: Int = 1, level: Level = .unity, kind: Player.Kind = .stream, on legID: UUID
    ) throws(EngineError) -> UUID {
        let player = Player(source: .clip(PCMLoop(samples: samples, loopCount: max(0, loop))), level: level, kind: kind)
        try play(player, on: legID)
        return player.id
    }

    /// Plays DTMF digits into the leg (0-9 * # A-D, `p` = 500 ms pause) with docs/QUALITY.md's defaults.
    @discardableResult
    public func playDTMF(_ digits: String, level: Level = .unity, on legID: UUID) throws(EngineError) -> UUID {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        let generator: DTMFGenerator
        do {
            generator = try DTMFGenerator(digits: digits, configuration: .init(sampleRate: leg.sampleRate))
        } catch {
            throw .invalidDigits(error)
        }
        let player = Player(source: .tones(generator), level: level)
        try play(player, on: legID)
        return player.id
    }

    /// Stops the leg's players of `kind` (all players when nil).
    public func stopPlayers(_ kind: Player.Kind? = nil, on legID: UUID) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        guard !leg.isEcho else { return }
        let events = events
        onShard(of: leg) {
            guard let media = leg.media else { return }
            let stopped = media.players.filter { kind == nil || $0.kind == kind }
            media.players.removeAll { kind == nil || $0.kind == kind }
            leg.conversation?.updateRoutes()
            for p in stopped {
                events.publish(
                    EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .playerFinished(player: p.id, kind: p.kind, stopped: true)))
            }
        }
    }

    /// Stops one player of the leg (its `playerFinished` is published, `stopped`); nothing when it has
    /// already finished.
    public func stopPlayer(_ playerID: UUID, on legID: UUID) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        guard !leg.isEcho else { return }
        let events = events
        onShard(of: leg) {
            guard let media = leg.media, let i = media.players.firstIndex(where: { $0.id == playerID }) else { return }
            let p = media.players.remove(at: i)
            leg.conversation?.updateRoutes()
            events.publish(
                EngineEvent(leg: leg.id, conversation: leg.conversationName, kind: .playerFinished(player: p.id, kind: p.kind, stopped: true)))
        }
    }

    /// Who hears the leg and whom it hears, beyond mute and earmuff (the NCCO's `canSpeak` and `canHear`):
    /// `canHear` lists the legs it hears (nil: every leg), `canSpeak` the legs that hear it (nil: every
    /// leg). A conversation with such a leg is mixed for each listener from the legs it may hear.
    public func setAudience(canHear: Set<UUID>?, canSpeak: Set<UUID>?, on legID: UUID) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        guard !leg.isEcho else { throw .echoLeg(legID) }
        onShard(of: leg) {
            leg.canHear = canHear
            leg.canSpeak = canSpeak
            leg.conversation?.updateRoutes()
        }
    }

    /// The engine's clock now (ns): a `RecordingSink`'s origin.
    public var now: Int64 { configuration.now() }

    /// Starts copying the leg's audio into `sink` (see `RecordingCapture`); from its next frame.
    public func startRecording(_ sink: RecordingSink, capture: RecordingCapture, on legID: UUID) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        guard !leg.isEcho else { throw .echoLeg(legID) }
        onShard(of: leg) {
            guard leg.isLive else {
                sink.endSource()
                return
            }
            switch capture {
            case .leg(let own, let heard):
                if own {
                    let track = RecordingTrack(leg: leg.id, side: .own, sampleRate: leg.sampleRate, origin: sink.origin)
                    sink.add(track)
                    leg.ownTaps.append(track)
                }
                if heard {
                    let track = RecordingTrack(leg: leg.id, side: .heard, sampleRate: leg.sampleRate, origin: sink.origin)
                    sink.add(track)
                    leg.heardTaps.append(track)
                }
                leg.followers.append(.init(sink: sink, company: false))
            case .conversation:
                leg.conversation?.addSink(sink)
            case .company:
                leg.followers.append(.init(sink: sink, company: true))
                leg.conversation?.addSink(sink)
            }
        }
    }

    /// Stops copying into `sink` (its tracks end at once; the shards let go of them before their next
    /// tick). The leg is any leg the recording took audio from.
    public func stopRecording(_ sink: RecordingSink, on legID: UUID) {
        sink.endTracks()
        for id in Set(sink.tracks.map(\.leg)).union([legID]) {
            guard let leg = registry[id], !leg.isEcho else { continue }
            onShard(of: leg) {
                leg.ownTaps.removeAll { $0.isEnded }
                leg.heardTaps.removeAll { $0.isEnded }
                leg.followers.removeAll { $0.sink === sink }
                leg.conversation?.removeSink(sink)
            }
        }
    }

    /// Asks the peer to drop the audio it has queued (barge-in); its answer is published as `.cleared`.
    public func sendClear(to legID: UUID) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        leg.transport.send(.clear)
    }

    /// Asks the peer to report when playout reaches this point; its answer is published as `.notify`.
    /// - Parameter payload: a JSON object, as text.
    public func sendNotify(payload: String, to legID: UUID) throws(EngineError) {
        guard let leg = registry[legID] else { throw .unknownLeg(legID) }
        guard let data = payload.data(using: .utf8),
            (try? JSONSerialization.jsonObject(with: data)) is [String: Any]
        else {
            throw .invalidPayload("notify payload must be a JSON object")
        }
        leg.transport.send(.notify(payload: payload))
    }

    /// Records a DTMF digit the peer reported (`websocket:dtmf`).
    public func peerReportedDTMF(_ digit: Character, durationMilliseconds: Int, on leg: Leg) {
        metrics.dtmfReported.increment()
        events.publish(
            EngineEvent(
                leg: leg.id, conversation: leg.conversationName,
                kind: .dtmf(digit: digit, durationMilliseconds: durationMilliseconds, startMilliseconds: nil, detected: false)))
    }

    /// Waits until the control operations queued for the leg's shard so far have run.
    public func synchronize(with legID: UUID) {
        guard let leg = registry[legID], !leg.isEcho else { return }
        placement.withLock { _ in leg.shard }?.queue.sync {}
    }

    /// Runs `body` on the leg's shard with the media lock held.
    private func onShard(of leg: Leg, _ body: @escaping @Sendable () -> Void) {
        placement.withLock { _ in leg.shard?.withMedia(body) }
    }

    private func shardIndex(forConversation name: String) -> Int {
        // FNV-1a over the conversation name: stable, so all of a conversation's legs meet on one shard.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(shards.count))
    }
}
