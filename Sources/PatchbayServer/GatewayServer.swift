public import Foundation
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
import PatchbayAuth
import PatchbayCodecs
public import PatchbayConfiguration
public import PatchbayDSP
public import PatchbayEngine
public import PatchbayRecords
import PatchbaySpeech
import PatchbayVoiceAPI
import Synchronization

/// `patchbay serve`: the composition root. It builds the rooms from the configuration and runs them in
/// order:
/// - media (`Media/`): where a frame goes — the listener and its upgrade, each leg's channel handler with
///   its caller or service side, the services dialled, route streams, digits passed on;
/// - control (`Control/`): where a REST request goes — the router, a resource per path, and the one
///   steering interface they reach the legs through;
/// - events (`Events/`): where a webhook comes from — the call records (ledger), the bodies made from the
///   engine's events, their delivery;
/// - configuration (`Configuration/`), auth (`Auth/`) and what they share (`Support/`).
/// One event loop group serves the whole process: the listeners, the services dialled, stream fetches
/// and webhooks.
public final class GatewayServer: Sendable {
    public let configuration: ServerConfiguration
    public let engine: Engine
    let metrics: ServerMetrics
    /// Where every metric of this gateway is registered, rendered at `/metrics`.
    let prometheus = PrometheusExport(descriptions: EngineMetrics.descriptions + ServerMetrics.descriptions)
    let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let outbounds: [ObjectIdentifier: LoopOutbound]
    private let sslContext: NIOSSLContext?
    private let draining = DrainFlag()
    /// Route streams in flight, NCCOs running, the digit forwarder, the API's requests: cancelled on shutdown.
    private let background = BackgroundTasks()
    private let streams: StreamPlayback
    private let links: ServiceLinks
    private let flows: CallFlows
    /// Each route's call flow (`answer_url` or `ncco`), by path.
    private let flowRoutes: [String: CallFlowRoute]
    private let steering: GatewaySteering
    /// A record of every leg (nil when `storage.database` is not set).
    private let records: CallLedger?
    /// This gateway's place among those sharing `storage.postgres` (nil: it is alone).
    private let cluster: ClusterMembership?
    /// The shutdown under way, if any.
    private let stopping = Mutex<Task<Void, Never>?>(nil)
    /// The applications' event webhooks (nil when no application has an `event_url`).
    private let webhooks: EventWebhooks?
    /// Turns engine events into webhooks; ends with the engine's event stream.
    private let webhookForwarder = Mutex<Task<Void, Never>?>(nil)
    /// Recordings (nil when `storage.database` is not set).
    private let recordings: Recordings?
    private let listener = Mutex<MediaListener?>(nil)

    /// Fetches http(s) audio for stream players.
    public var fetcher: StreamFetcher { streams.fetcher }
    /// Where the records are kept.
    public var callStore: (any CallStore)? { records?.store }
    /// Where the API listens when it has a listener of its own (`api.listen`).
    public var apiAddress: SocketAddress? { listener.withLock { $0?.apiAddress } }
    /// True once `drain` has begun.
    public var isDraining: Bool { draining.isSet }

    public typealias StreamError = PatchbayServer.StreamError

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
        group = MultiThreadedEventLoopGroup(numberOfThreads: cores)
        var outbounds: [ObjectIdentifier: LoopOutbound] = [:]
        for loop in group.makeIterator() {
            outbounds[ObjectIdentifier(loop)] = LoopOutbound(eventLoop: loop)
        }
        self.outbounds = outbounds
        var store: (any CallStore & RecordingStore)?
        do {
            sslContext = try configuration.tls.map(Self.serverTLS)
            webhooks = EventWebhooks(api: configuration.api, group: group, metrics: metrics, logger: logger)
            if let pg = configuration.storage.postgres {
                let security: PostgresCallStore.Security =
                    switch pg.tls {
                    case .disable: .none
                    case .prefer: .preferTLS
                    case .require: .requireTLS
                    }
                store = PostgresCallStore(
                    host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password, security: security,
                    nodeID: configuration.node.resolvedID, logger: logger)
            } else if let path = configuration.storage.database {
                do {
                    store = try SQLiteCallStore(path: path, logger: logger)
                } catch {
                    throw ConfigurationError("cannot open storage.database \(path): \(error)")
                }
            }
            let hooks = webhooks
            records = store.map { CallLedger(store: $0, api: configuration.api, webhooks: hooks) }
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        streams = StreamPlayback(fetcher: StreamFetcher(group: group), engine: engine, background: background, logger: logger)
        let loops = outbounds
        let dialing = ServiceDialing(
            engine: engine, limits: configuration.limits, metrics: metrics, jwtSecret: configuration.auth.jwtSecret,
            records: records, draining: draining, logger: logger, outbound: { loop in loops[ObjectIdentifier(loop)]! })
        links = ServiceLinks(dialing: dialing, group: group)
        let media = CallMedia(engine: engine, streams: streams, background: background, logger: logger)
        let rules = Self.nccoRules(configuration)
        var flowRoutes: [String: CallFlowRoute] = [:]
        for route in configuration.routes where route.hasCallFlow {
            flowRoutes[route.path] = try Self.callFlowRoute(route, configuration: configuration, rules: rules)
        }
        self.flowRoutes = flowRoutes
        var applications: [String: (eventURL: String?, signer: ApplicationClient.Signer?)] = [:]
        for app in configuration.api.applications {
            applications[app.applicationID] = (app.eventURL, app.signatureSecret.map { .init(applicationID: app.applicationID, secret: $0) })
        }
        let client = ApplicationClient(group: group, logger: logger)
        if let store, let folder = configuration.storage.recordingsFolder {
            recordings = Recordings(
                settings: .init(folder: folder, retentionSeconds: configuration.storage.recordingsRetentionDays.map { $0 * 86400 }), engine: engine,
                store: store, ledger: records, webhooks: webhooks, client: client, applications: applications, background: background,
                metrics: metrics, logger: logger)
        } else {
            recordings = nil
        }
        if let shared = store as? PostgresCallStore {
            cluster = ClusterMembership(
                store: shared, engine: engine, webhooks: webhooks, draining: draining, heartbeatSeconds: configuration.node.heartbeatSeconds,
                deadAfterSeconds: configuration.node.deadAfterSeconds, logger: logger)
        } else {
            cluster = nil
        }
        flows = CallFlows(
            context: .init(
                engine: engine, ledger: records, links: links, media: media, client: client, rules: rules, applications: applications,
                answerTimeout: .seconds(5), background: background, recordings: recordings, logger: logger))
        steering = GatewaySteering(
            engine: engine, ledger: records, links: links, media: media, flows: flows, draining: draining, background: background)
    }

    /// What every NCCO is checked against here, wherever it comes from.
    static func nccoRules(_ configuration: ServerConfiguration) -> NCCORules {
        NCCORules(
            allowedWebSocketHosts: HostPatterns(configuration.api.allowedWebSocketHosts),
            allowedFetchHosts: configuration.api.allowedFetchHosts(routes: configuration.routes), jwtSecret: configuration.auth.jwtSecret,
            maximumTalkCharacters: SpeechSynthesizer.maximumTextCharacters, voice: CallMedia.voice)
    }

    /// A route's call flow: its `answer_url`, or its `ncco` read now (a bad one stops the start, naming the field).
    private static func callFlowRoute(
        _ route: ServerConfiguration.Route, configuration: ServerConfiguration, rules: NCCORules
    ) throws -> CallFlowRoute {
        let application = configuration.api.application(of: route)
        if let url = route.answerURL {
            let source = ApplicationClient.AnswerSource(
                url: url, method: route.answerMethod?.uppercased() == "POST" ? .post : .get, fallbackURL: route.fallbackAnswerURL,
                timeout: .milliseconds(Int64((route.answerTimeoutSeconds ?? 5) * 1000)))
            return CallFlowRoute(source: .answer(source), applicationID: application, to: route.path)
        }
        do {
            let ncco = try CallRequest.ncco(.array(route.ncco ?? []), rules: rules)
            return CallFlowRoute(source: .ncco(ncco), applicationID: application, to: route.path)
        } catch {
            throw ConfigurationError("route \(route.path): \(error)")
        }
    }

    private static func serverTLS(_ tls: ServerConfiguration.TLS) throws -> NIOSSLContext {
        for (what, file) in [("certificate", tls.certificate), ("private key", tls.privateKey)]
        where !FileManager.default.isReadableFile(atPath: file) {
            throw ConfigurationError(
                "cannot load TLS certificate \(tls.certificate) / key \(tls.privateKey): the \(what) file does not exist or cannot be read")
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
            return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
        } catch {
            throw ConfigurationError("cannot load TLS certificate \(tls.certificate) / key \(tls.privateKey): \(error)")
        }
    }

    // MARK: Lifecycle

    /// Starts, in order: the records (legs a previous process left live are closed), the control API, the
    /// webhooks' workers, the media listener (and the API's own), the engine.
    /// - Returns: the address bound (the port is real even when the configuration asked for 0).
    /// - Throws: what stopped it (a port in use, unreadable records); what it had opened is shut down.
    @discardableResult
    public func start() async throws -> SocketAddress {
        do {
            return try await open()
        } catch {
            await shutdown()
            throw error
        }
    }

    private func open() async throws -> SocketAddress {
        var api: ControlAPI?
        if let records {
            do {
                try await records.store.open()
            } catch {
                throw ConfigurationError("cannot open storage.postgres: \(error)")
            }
            // Legs a previous process left live ended with it: closed before any new leg is recorded.
            let orphans = try await records.store.closeOrphans(at: Date(), reason: "gateway restarted")
            if orphans > 0 { logger.notice("closed the records of legs left live by the previous run", metadata: ["legs": "\(orphans)"]) }
            // One of the cluster from now on: seen alive by the others, and watching them.
            try await cluster?.start()
            // Recordings the previous run left open are finished (or failed) before any new one starts.
            do {
                try await recordings?.start()
            } catch {
                throw ConfigurationError("cannot use storage.recordings \(recordings?.settings.folder ?? ""): \(error)")
            }
            if !configuration.api.applications.isEmpty {
                let rules = Self.nccoRules(configuration)
                api = ControlAPI(
                    auth: try await ApplicationAuth.load(
                        configuration.api.applications.map { .init(applicationID: $0.applicationID, publicKey: $0.publicKey) }), store: records.store,
                    steering: steering, files: recordings,
                    rules: rules, requestsPerSecond: configuration.api.requestsPerSecond, logger: logger)
            }
        }
        let http = HTTPServices(
            gate: UpgradeGate(configuration: configuration), metrics: metrics, legsActive: engine.metrics.legsActive,
            prometheus: prometheus, api: api, draining: draining, requests: background, logger: logger)
        let loops = outbounds
        let media = MediaListener(
            configuration: configuration, group: group, sslContext: sslContext, http: http, engine: engine,
            outbound: { loop in loops[ObjectIdentifier(loop)]! }, routes: configuration.routes.map(callerRoute))
        listener.withLock { $0 = media }
        // Bound first: a port in use fails here, before any clock or task is started that would then have
        // to be stopped again.
        let address = try await media.bindMedia()
        if let (host, port) = configuration.api.listenAddress {
            do {
                try await media.bindAPI(host: host, port: port)
            } catch {
                await media.closeAll()
                throw error
            }
        }
        records?.setBase("\(sslContext == nil ? "ws" : "wss")://\(configuration.host):\(address.port ?? configuration.port)")
        let apiPort = listener.withLock { $0?.apiAddress?.port } ?? address.port ?? configuration.port
        let apiHost = configuration.api.listenAddress?.host ?? configuration.host
        recordings?.setPublicBase(configuration.api.publicURL ?? "\(sslContext == nil ? "http" : "https")://\(apiHost):\(apiPort)")
        if let webhooks {
            let events = engine.events.subscribe()
            webhooks.start()
            let engine = engine
            webhookForwarder.withLock {
                $0 = Task {
                    await webhooks.forward(events, resubscribe: { engine.events.subscribe() }, isLive: { engine.leg($0) != nil })
                }
            }
        }
        flows.start()
        let digits = DigitForwarder(engine: engine, logger: logger)
        background.run { await digits.run() }
        engine.start()
        streams.start()
        logger.info(
            "listening",
            metadata: [
                "address": "\(address)", "tls": "\(sslContext != nil)",
                "routes": "\(configuration.routes.map { "\($0.path)=\($0.mode.rawValue)" }.joined(separator: ","))",
            ])
        return address
    }

    /// What the gateway does for a route's legs: record them, start the route's stream and services, and
    /// hang up the services and close the record when the leg ends.
    private func callerRoute(_ route: ServerConfiguration.Route) -> CallerLeg.Route {
        CallerLeg.Route(
            configuration: route,
            attaching: { [records] leg in records?.inboundAnswered(leg, route: route) },
            started: { [streams, links, flows, flowRoutes] leg, loop in
                if let flow = flowRoutes[route.path] {
                    flows.arrived(leg, route: flow)
                    return
                }
                streams.startRouteStream(route, on: leg)
                if let endpoints = route.connect { links.connect(endpoints, for: leg, on: loop) }
            },
            ended: { [links, records] leg, reason in
                links.stop(for: leg.id)
                records?.ended(leg.id, reason: reason.description)
            })
    }

    /// Plays a wav or mp3 into a leg from an http(s) URL or a file path (`file://` or a plain path):
    /// fetched with the fetcher's limits, decoded and resampled to the leg's rate off any tick.
    /// - Parameter replacing: players of this kind on the leg are stopped once the new one is ready.
    /// - Returns: the player's id (its `playerFinished` event carries it).
    @discardableResult
    public func playStream(
        _ source: String, loop: Int = 1, level: Level = .unity, replacing: Player.Kind? = nil, on legID: UUID
    ) async throws(StreamError) -> UUID {
        try await streams.play(source, loop: loop, level: level, replacing: replacing, on: legID)
    }

    /// Stops accepting, lets legs end on their own until `timeout`, then closes the rest with 1001
    /// ("going away"), and stops the engine and the event loops.
    public func drain(timeout: Duration) async {
        guard draining.set() else { return }
        let legs = engine.metrics.legsActive.value
        logger.info("draining", metadata: ["legs": "\(legs)", "timeout": "\(timeout)"])
        // The API stays up while the legs drain (an application may hang them up); it closes with the rest.
        await listener.withLock({ $0 })?.closeMedia()
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

    /// Stops, in order: the listeners, the engine (its events end, so the forwarders do), the NCCOs and
    /// background tasks, the webhooks (queued events get up to 10 s), the fetches, the event loops, and the
    /// call records (the last batch written, the database closed). Any connection still open is dropped.
    /// A second call waits for the first to finish.
    public func shutdown() async {
        let task = stopping.withLock { running -> Task<Void, Never> in
            if let running { return running }
            let task = Task { await self.stopAll() }
            running = task
            return task
        }
        await task.value
    }

    private func stopAll() async {
        await listener.withLock({ $0 })?.closeAll()
        // Every recording's file is completed and listed while the engine and the records are still up.
        await recordings?.shutdown()
        engine.shutdown()
        flows.stop()
        await background.cancelAll()
        if let webhooks {
            // Every event the engine published is queued, then delivered within the flush time.
            await webhookForwarder.withLock({ $0 })?.value
            await webhooks.shutdown(within: .seconds(10))
        }
        await streams.shutdown()
        await flows.context.client.shutdown()
        try? await group.shutdownGracefully()
        do {
            await cluster?.stop()
            try await records?.store.close()
        } catch {
            logger.error("could not write the last call records", metadata: ["error": "\(error)"])
        }
        logger.info("stopped")
    }
}
