public import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import PatchbayCodecs
public import PatchbayDSP
public import PatchbayEngine
public import PatchbayRecords
import Synchronization

/// `patchbay serve`: the Voice API websocket endpoint in front of the media engine.
public final class GatewayServer: Sendable {
    public let configuration: ServerConfiguration
    public let engine: Engine
    let metrics: ServerMetrics
    /// Where every metric of this gateway is registered, rendered at `/metrics`.
    let prometheus = PrometheusExport(descriptions: EngineMetrics.descriptions + ServerMetrics.descriptions)
    let gate: UpgradeGate
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    private let outbounds: [ObjectIdentifier: LoopOutbound]
    private let sslContext: NIOSSLContext?
    private let serverChannel = Mutex<(any Channel)?>(nil)
    /// The control API's own listener (`api.listen`), if any.
    private let apiChannel = Mutex<(any Channel)?>(nil)
    /// Where the API listens when it has a listener of its own (`api.listen`).
    public var apiAddress: SocketAddress? { apiChannel.withLock { $0?.localAddress } }
    private let draining = Atomic<Bool>(false)
    /// Fetches http(s) audio for stream players.
    public let fetcher: StreamFetcher
    /// Route streams, decoded once per source and rate.
    private let routeStreams = DecodedStreamCache()
    /// Decoding audio is CPU work that blocks: it runs here, never on Swift's cooperative threads (two
    /// on two cores) nor on a media shard or event loop.
    private let decodePool = NIOThreadPool(numberOfThreads: 1)
    /// Route streams in flight, NCCOs running, the event forwarder: cancelled on shutdown.
    let background = BackgroundTasks()
    /// The NCCO running on each leg (a transfer), replaced by the next.
    let nccoTasks = Mutex<[UUID: Task<Void, Never>]>([:])
    /// What the links to speech and AI services share.
    let dialing: ServiceDialing
    /// The services dialled for each caller (routes with `connect`), stopped when the caller ends.
    let links = Mutex<[UUID: [ServiceLink]]>([:])
    /// A record of every leg (nil when `storage.database` is not set).
    let records: CallLedger?
    /// The applications' event webhooks (nil when no application has an `event_url`).
    let webhooks: EventWebhooks?
    /// Turns engine events into webhooks; ends with the engine's event stream.
    private let webhookForwarder = Mutex<Task<Void, Never>?>(nil)
    /// Where the records are kept.
    public var callStore: (any CallStore)? { records?.store }
    /// The control API (`/v1/...`), once started (nil without applications).
    let controlAPI = Mutex<ControlAPI?>(nil)

    /// Creates the server (and its engine) from a validated configuration; `start` binds it.
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "patchbay")) throws {
        self.configuration = configuration
        self.logger = logger
        let cores = System.coreCount
        engine = Engine(
            configuration: .init(
                shards: configuration.shards == 0 ? cores : configuration.shards, detectDTMF: configuration.detectDTMF,
                metricsFactory: prometheus),
            logger: logger)
        metrics = ServerMetrics(factory: prometheus)
        gate = UpgradeGate(configuration: configuration)
        fetcher = StreamFetcher()
        group = MultiThreadedEventLoopGroup(numberOfThreads: cores)
        var outbounds: [ObjectIdentifier: LoopOutbound] = [:]
        for loop in group.makeIterator() {
            outbounds[ObjectIdentifier(loop)] = LoopOutbound(eventLoop: loop)
        }
        self.outbounds = outbounds
        webhooks = EventWebhooks(api: configuration.api, metrics: metrics, logger: logger)
        if let path = configuration.storage.database {
            do {
                records = CallLedger(store: try SQLiteCallStore(path: path, logger: logger), api: configuration.api, webhooks: webhooks)
            } catch {
                try? group.syncShutdownGracefully()
                throw ConfigurationError("cannot open storage.database \(path): \(error)")
            }
        } else {
            records = nil
        }
        let loops = outbounds
        dialing = ServiceDialing(
            engine: engine, limits: configuration.limits, metrics: metrics, jwtSecret: configuration.auth.jwtSecret,
            records: records, logger: logger, outbound: { loop in loops[ObjectIdentifier(loop)]! })
        if let tls = configuration.tls {
            for (what, file) in [("certificate", tls.certificate), ("private key", tls.privateKey)]
            where !FileManager.default.isReadableFile(atPath: file) {
                try? group.syncShutdownGracefully()
                throw ConfigurationError(
                    "cannot load TLS certificate \(tls.certificate) / key \(tls.privateKey): the \(what) file does not exist or cannot be read")
            }
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
                sslContext = try NIOSSLContext(
                    configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
            } catch {
                try? group.syncShutdownGracefully()
                throw ConfigurationError("cannot load TLS certificate \(tls.certificate) / key \(tls.privateKey): \(error)")
            }
        } else {
            sslContext = nil
        }
    }

    /// True once `drain` has begun.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Starts the engine and listens.
    /// - Returns: the address bound (the port is real even when the configuration asked for 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        if let records {
            // Legs a previous process left live ended with it: closed before any new leg is recorded.
            let orphans = try await records.store.closeOrphans(at: Date(), reason: "gateway restarted")
            if orphans > 0 { logger.notice("closed the records of legs left live by the previous run", metadata: ["legs": "\(orphans)"]) }
            if !configuration.api.applications.isEmpty {
                let auth = try await ApplicationAuth.load(configuration.api.applications)
                controlAPI.withLock { $0 = ControlAPI(auth: auth, store: records.store, gateway: self) }
            }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.configure(channel) }
            }
        // Bound first: a port in use fails here, before any clock or task is started that would then
        // have to be stopped again.
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        if let (host, port) = configuration.api.listenAddress {
            let api = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let sslContext { try pipeline.addHandler(NIOSSLServerHandler(context: sslContext)) }
                        try pipeline.configureHTTPServerPipeline()
                        try pipeline.addHandler(HTTPHandler(server: self, role: .api))
                    }
                }
            do {
                let bound = try await api.bind(host: host, port: port).get()
                apiChannel.withLock { $0 = bound }
                logger.info("control API listening", metadata: ["address": "\(bound.localAddress.map { "\($0)" } ?? "?")"])
            } catch {
                try? await channel.close()
                throw error
            }
        }
        records?.setBase("\(sslContext == nil ? "ws" : "wss")://\(configuration.host):\(channel.localAddress?.port ?? configuration.port)")
        if let webhooks {
            let events = engine.events.subscribe()
            webhooks.start()
            webhookForwarder.withLock { $0 = Task { await webhooks.forward(events) } }
        }
        engine.start()
        decodePool.start()
        forwardDetectedDigits()
        serverChannel.withLock { $0 = channel }
        let address = channel.localAddress!
        logger.info(
            "listening",
            metadata: [
                "address": "\(address)", "tls": "\(sslContext != nil)",
                "routes": "\(configuration.routes.map { "\($0.path)=\($0.mode.rawValue)" }.joined(separator: ","))",
            ])
        return address
    }

    private func configure(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        if let sslContext {
            try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
        }
        let http = HTTPHandler(server: self, role: configuration.api.listen == nil ? .mediaAndAPI : .media)
        let httpOnLoop = NIOLoopBound(http, eventLoop: channel.eventLoop)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: configuration.limits.maxMessageBytes,
            shouldUpgrade: { [self] channel, head in
                guard !isDraining else { return channel.eventLoop.makeSucceededFuture(nil) }
                switch gate.verdict(for: head, openConnections: metrics.connectionsOpen.value) {
                case .accept: return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                case .unauthorized:
                    metrics.upgradesUnauthorized.increment()
                    logger.notice("refused an upgrade without valid auth", metadata: ["path": "\(head.uri)"])
                case .overCapacity:
                    metrics.upgradesOverCapacity.increment()
                    logger.warning("refused an upgrade at capacity", metadata: ["max_legs": "\(gate.maxLegs)"])
                case .unknownPath:
                    break
                }
                return channel.eventLoop.makeSucceededFuture(nil)
            },
            upgradePipelineHandler: { [self] channel, head in
                channel.eventLoop.makeCompletedFuture {
                    guard case .accept(let route) = gate.verdict(for: head, openConnections: 0) else {
                        throw ConfigurationError("route vanished during upgrade")
                    }
                    let outbound = outbounds[ObjectIdentifier(channel.eventLoop)]!
                    let limits = configuration.limits
                    try channel.pipeline.syncOperations.addHandlers(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64,
                            maxAccumulatedFrameSize: limits.maxMessageBytes),
                        LegHandler(
                            setup: .init(
                                engine: engine, limits: limits, metrics: metrics, outbound: outbound, logger: logger,
                                peer: .caller(
                                    route: route,
                                    attaching: { [self] leg in records?.inboundAnswered(leg, route: route) },
                                    started: { [self] leg, loop in
                                        startRouteStream(route, on: leg)
                                        connectServices(route, for: leg, on: loop)
                                    },
                                    ended: { [self] leg, reason in
                                        stopServices(for: leg)
                                        records?.ended(leg.id, reason: reason.description)
                                    }))))
                }
            })
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.syncOperations.removeHandler(httpOnLoop.value, promise: nil)
                }
            ))
        try pipeline.addHandler(http)
    }

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

    /// Plays a wav or mp3 into a leg from an http(s) URL or a file path (`file://` or a plain path):
    /// fetched with the fetcher's limits, decoded and resampled to the leg's rate here, off any tick.
    /// - Returns: the player's id (its `playerFinished` event carries it).
    /// - Parameter replacing: players of this kind on the leg are stopped once the new one is ready.
    @discardableResult
    public func playStream(
        _ source: String, loop: Int = 1, level: Level = .unity, replacing: Player.Kind? = nil, on legID: UUID
    ) async throws(StreamError) -> UUID {
        do {
            let samples = try await decodeStream(source) {
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

    /// Dials the route's services (`connect`) for a caller that has just connected, on its event loop.
    private func connectServices(_ route: ServerConfiguration.Route, for caller: Leg, on loop: any EventLoop) {
        guard let endpoints = route.connect, !endpoints.isEmpty else { return }
        let started = endpoints.map { ServiceLink(endpoint: $0, caller: caller, eventLoop: loop, dialing: dialing) }
        links.withLock { $0[caller.id] = started }
        for link in started { link.start() }
    }

    /// Dials `endpoints` into `leg`'s conversation (the control API's `connect`): hung up with the leg.
    func connect(_ endpoints: [WebSocketEndpoint], for leg: Leg) {
        let loop = group.next()
        let started = endpoints.map { ServiceLink(endpoint: $0, caller: leg, eventLoop: loop, dialing: dialing) }
        links.withLock { $0[leg.id, default: []] += started }
        for link in started { link.start() }
    }

    /// The caller has ended: its services are hung up and no longer dialled.
    private func stopServices(for caller: Leg) {
        guard let ended = links.withLock({ $0.removeValue(forKey: caller.id) }) else { return }
        for link in ended { link.stop(reason: "caller hung up") }
    }

    /// Starts a route's `stream` on a leg that has just connected (a failure is logged; the leg goes on).
    /// The stream is fetched and decoded once per rate, at the first leg, and its samples are shared
    /// by every leg after it: a thousand calls on hold do not download the hold music a thousand times.
    private func startRouteStream(_ route: ServerConfiguration.Route, on leg: Leg) {
        guard let stream = route.stream else { return }
        let level = (try? Level(stream.level ?? 0)) ?? .unity
        let loop = stream.loop ?? 0
        let id = leg.id
        let rate = leg.sampleRate
        background.run { [self] in
            do {
                let samples = try await routeStreams.samples(key: "\(rate) \(stream.url)") { [self] () async throws -> [Int16] in
                    try await decodeStream(stream.url) { rate }
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

    /// Fetches (http/https, with the fetcher's limits) or reads (a path or `file://`) a wav or mp3 and
    /// decodes it to the rate `rate` gives; `rate` is asked after the fetch, just before decoding.
    /// Reading and decoding run on the decode pool.
    private func decodeStream(_ source: String, rate: () throws -> Int) async throws -> [Int16] {
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

    /// Sends every digit detected in a leg's audio to the other legs of its conversation whose route
    /// asks for them (`dtmf_events`), and every digit, detected or reported by the caller, to the
    /// services in its conversation, as `websocket:dtmf` text events (the Voice API's own).
    private func forwardDetectedDigits() {
        guard configuration.routes.contains(where: { $0.dtmfEvents == true || $0.connect != nil }) else { return }
        let events = engine.events.subscribe()
        let engine = engine
        let metrics = metrics
        background.run {
            for await event in events {
                guard case .dtmf(let digit, let duration, _, let detected) = event.kind else { continue }
                let text = #"{"event":"websocket:dtmf","digit":"\#(digit)","duration":\#(duration)}"#
                for leg in engine.legs(inConversation: event.conversation) where leg.id != event.leg {
                    guard let transport = leg.transport as? ChannelLegTransport, transport.forwardsDTMF,
                        detected || transport.isService
                    else { continue }
                    transport.send(text: text)
                    metrics.dtmfEventsSent.increment()
                }
            }
        }
    }

    /// Stops accepting, lets legs end on their own until `timeout`, then closes the rest with 1001
    /// ("going away"), and stops the engine and the event loops.
    public func drain(timeout: Duration) async {
        guard !draining.exchange(true, ordering: .relaxed) else { return }
        dialing.draining.store(true, ordering: .relaxed)
        let legs = engine.metrics.legsActive.value
        logger.info("draining", metadata: ["legs": "\(legs)", "timeout": "\(timeout)"])
        if let channel = serverChannel.withLock({ $0 }) {
            try? await channel.close()
        }
        // The API stays up while the legs drain (an application may hang them up); it closes with the rest.
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while metrics.connectionsOpen.value > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let remaining = metrics.connectionsOpen.value
        if remaining > 0 {
            // Every websocket, including any still waiting to send websocket:connected, hears 1001.
            logger.notice("closing legs still up at the drain deadline", metadata: ["connections": "\(remaining)"])
            for outbound in outbounds.values { outbound.closeAll() }
            let closeDeadline = clock.now + .seconds(2)
            while metrics.connectionsOpen.value > 0, clock.now < closeDeadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        await shutdown()
    }

    /// Stops the engine and the event loops at once (any connection still open is dropped).
    public func shutdown() async {
        for channel in [serverChannel.withLock({ $0 }), apiChannel.withLock({ $0 })].compactMap({ $0 }) {
            try? await channel.close()
        }
        engine.shutdown()  // ends the event streams, so the forwarders' tasks end too
        for task in nccoTasks.withLock({ Array($0.values) }) { task.cancel() }
        await background.cancelAll()
        if let webhooks {
            // Every event the engine published is queued, then delivered within the flush time.
            await webhookForwarder.withLock({ $0 })?.value
            await webhooks.shutdown(within: .seconds(10))
        }
        await fetcher.shutdown()
        try? await decodePool.shutdownGracefully()
        try? await group.shutdownGracefully()
        do {
            try await records?.store.close()
        } catch {
            logger.error("could not write the last call records", metadata: ["error": "\(error)"])
        }
        logger.info("stopped")
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
