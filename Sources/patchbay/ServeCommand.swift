import ArgumentParser
import Dispatch
import Foundation
import Logging
import PatchbayConfiguration
import PatchbayServer
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// `patchbay serve`: run the gateway.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway: the Voice API websocket endpoint and its media engine.",
        discussion: """
            Without --config it listens on 127.0.0.1:8080 with two routes: /echo (a leg hears itself) and
            /socket (a leg joins the conversation named by its "conversation" header, else its own).
            The configuration file is JSON (see README "Configuration"); environment variables override it:
            PATCHBAY_LISTEN=host:port, PATCHBAY_TLS_CERTIFICATE, PATCHBAY_TLS_PRIVATE_KEY, PATCHBAY_AUTH_TOKEN,
            PATCHBAY_LOG_LEVEL, PATCHBAY_MAX_LEGS, PATCHBAY_SHARDS, PATCHBAY_DETECT_DTMF.
            SIGTERM or SIGINT drains: no new legs, current legs may go on for limits.drain_seconds, then close.
            """
    )

    @Option(help: "A JSON configuration file.")
    var config: String?

    @Option(help: "Listen on host:port (overrides the file and PATCHBAY_LISTEN).")
    var listen: String?

    @Flag(help: "Print the effective configuration as JSON and exit.")
    var printConfig = false

    func run() async throws {
        var environment = ProcessInfo.processInfo.environment
        if let listen { environment["PATCHBAY_LISTEN"] = listen }
        var loaded = try (config.map { try ServerConfiguration.load(path: $0) } ?? ServerConfiguration())
            .applyingEnvironment(environment)
        let here = FileManager.default.currentDirectoryPath
        if loaded.storage.postgres != nil {
            // The records are shared; the recordings are this gateway's own files, kept in its state.
            if loaded.storage.recordings == nil {
                loaded.storage.recordings =
                    URL(fileURLWithPath: ServerConfiguration.Storage.defaultDatabase(environment: environment, workingDirectory: here))
                    .deletingLastPathComponent().path + "/recordings"
            }
        } else if loaded.storage.database == nil {
            // Every leg is a record: kept beside the state systemd gives the service, or here.
            loaded.storage.database = ServerConfiguration.Storage.defaultDatabase(environment: environment, workingDirectory: here)
        }
        let configuration = try loaded.validated()
        if printConfig {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(configuration), as: UTF8.self))
            return
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "patchbay")
        let server = try GatewayServer(configuration: configuration, logger: logger)
        // swift-service-lifecycle runs the gateway and turns SIGTERM or SIGINT into its graceful shutdown
        // (the drain); the watcher logs the signal and makes a second one stop at once.
        let watcher = SignalWatcher(logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: GatewayService(server: server))], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        withExtendedLifetime(watcher) {}
    }
}

/// Logs the first SIGTERM or SIGINT (the service group drains on it); a second one — an operator who
/// will not wait — stops at once: legs are dropped without their 1001, and the exit status says the
/// drain did not finish.
private final class SignalWatcher: @unchecked Sendable {
    // @unchecked Sendable: `signals` is touched only on the "patchbay.signals" queue; the sources are
    // set up in init, before they are resumed.
    private var signals = 0
    private var sources: [any DispatchSourceSignal] = []
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
        let queue = DispatchQueue(label: "patchbay.signals")
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [unowned self] in caught(sig) }
            source.resume()
            sources.append(source)
        }
    }

    private func caught(_ sig: Int32) {
        signals += 1
        let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
        guard signals > 1 else {
            logger.info("received \(name)")
            return
        }
        FileHandle.standardError.write(Data("patchbay: second \(name) during the drain: stopping now\n".utf8))
        exit(1)
    }
}
