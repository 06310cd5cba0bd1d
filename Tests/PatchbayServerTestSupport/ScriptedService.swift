import Foundation
import PatchbayEngine
import PatchbayTestSupport
import Synchronization
import Testing

/// A speech/AI service built for the Voice API with other people's websocket stacks — Python's
/// `websockets` (Tests/python/voice_api_service.py) or Node.js `ws` (Tests/node/voice_api_service.js) —
/// running while a test needs it; what it saw is read from its output, one JSON object per line.
final class ScriptedService: Sendable {
    let child: ChildProcess
    let port: Int
    var process: Process { child.process }
    private var output: URL { child.stdoutURL }

    static let tests = Fixtures.repository.appendingPathComponent("Tests")

    static func python(_ arguments: [String]) async throws -> ScriptedService {
        try await start(["python3", tests.appendingPathComponent("python/voice_api_service.py").path] + arguments)
    }

    /// Emulators of services with protocols of their own (Tests/python/raw_services.py).
    static func rawService(_ arguments: [String]) async throws -> ScriptedService {
        try await start(["python3", tests.appendingPathComponent("python/raw_services.py").path] + arguments)
    }

    /// The OpenAI Realtime emulator (Tests/python/openai_realtime.py).
    static func openAIRealtime(_ arguments: [String] = []) async throws -> ScriptedService {
        try await start(["python3", tests.appendingPathComponent("python/openai_realtime.py").path] + arguments)
    }

    /// An application's event_url that checks every event's signature with the Vonage SDK and PyJWT
    /// (Tests/python/webhook_receiver.py).
    static func webhookReceiver(_ arguments: [String]) async throws -> ScriptedService {
        try await start(["python3", tests.appendingPathComponent("python/webhook_receiver.py").path] + arguments)
    }

    /// A Voice API application (answer_url and event URLs) whose NCCOs the Vonage SDK's models build,
    /// answering as `script` says (Tests/python/ncco_app.py).
    static func nccoApp(_ script: String, secret: String? = nil) async throws -> ScriptedService {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ncco-app-\(UUID().uuidString).json")
        try Data(script.utf8).write(to: file)
        return try await start(
            ["python3", tests.appendingPathComponent("python/ncco_app.py").path, "--script", file.path] + (secret.map { ["--secret", $0] } ?? []))
    }

    /// The requests an application (`nccoApp`) got on `path`, in order.
    func requests(_ path: String) -> [[String: Any]] { reports("request").filter { $0["path"] as? String == path } }

    /// Node.js with Debian's `ws` (package node-ws, under /usr/share/nodejs).
    static func node(_ arguments: [String] = []) async throws -> ScriptedService {
        try await start(["node", tests.appendingPathComponent("node/voice_api_service.js").path] + arguments)
    }

    private static func start(_ command: [String]) async throws -> ScriptedService {
        let child = try ChildProcess.command(command)
        let output = child.stdoutURL
        var port: Int?
        _ = await eventually {
            port = Self.lines(output).first { $0["ev"] as? String == "listening" }?["port"] as? Int
            return port != nil || !child.isRunning
        }
        guard let port else {
            let text = child.stdout
            child.terminate()
            child.remove()
            throw ServiceDidNotStart(command: command, output: text)
        }
        return ScriptedService(child: child, port: port)
    }

    private init(child: ChildProcess, port: Int) {
        self.child = child
        self.port = port
    }

    struct ServiceDidNotStart: Error, CustomStringConvertible {
        let command: [String]
        let output: String
        var description: String { "\(command.joined(separator: " ")) did not start:\n\(output)" }
    }

    static func lines(_ url: URL) -> [[String: Any]] {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Everything it has reported so far.
    var reports: [[String: Any]] { Self.lines(output) }

    /// Its reports of kind `ev`.
    func reports(_ ev: String) -> [[String: Any]] { reports.filter { $0["ev"] as? String == ev } }

    /// The text messages it received (parsed), in order.
    var texts: [[String: Any]] { reports("text").compactMap { $0["msg"] as? [String: Any] } }

    var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    func stop() {
        child.terminate()
        child.remove()
    }
}

final class EventRecorder: Sendable {
    private final class Store: Sendable {
        let events = Mutex<[EngineEvent]>([])
    }
    private let store = Store()
    private let task: Task<Void, Never>

    init(_ engine: Engine) {
        let stream = engine.events.subscribe()
        let store = store
        task = Task {
            do {
                for try await event in stream { store.events.withLock { $0.append(event) } }
            } catch {
                Issue.record("the recorder fell behind the engine's events: \(error)")
            }
        }
    }

    var all: [EngineEvent] { store.events.withLock { $0 } }

    var serviceEvents: [EngineEvent.ServiceEvent] {
        all.compactMap { if case .service(let e) = $0.kind { e } else { nil } }
    }

    func stop() { task.cancel() }
}
