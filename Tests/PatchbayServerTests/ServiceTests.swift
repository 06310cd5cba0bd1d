import Foundation
import NIOCore
import PatchbayEngine
import PatchbayServer
import Synchronization
import Testing

/// A speech/AI service built for the Voice API, in Python's `websockets` (Tests/python/voice_api_service.py),
/// running while a test needs it; what it saw is read from its output, one JSON object per line.
final class PythonService: Sendable {
    let process: Process
    let output: URL
    let port: Int

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../python/voice_api_service.py").standardizedFileURL

    static func start(_ arguments: [String]) async throws -> PythonService {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-service-\(UUID().uuidString).jsonl")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try handle.close()
        var port: Int?
        _ = await eventually {
            port = Self.lines(output).first { $0["ev"] as? String == "listening" }?["port"] as? Int
            return port != nil || !process.isRunning
        }
        guard let port else {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            process.terminate()
            throw ServiceDidNotStart(output: text)
        }
        return PythonService(process: process, output: output, port: port)
    }

    private init(process: Process, output: URL, port: Int) {
        self.process = process
        self.output = output
        self.port = port
    }

    struct ServiceDidNotStart: Error, CustomStringConvertible {
        let output: String
        var description: String { "voice_api_service.py did not start:\n\(output)" }
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
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: output)
    }
}

/// Collects the engine's events while a test runs.
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
            for await event in stream { store.events.withLock { $0.append(event) } }
        }
    }

    var all: [EngineEvent] { store.events.withLock { $0 } }

    var serviceEvents: [EngineEvent.ServiceEvent] {
        all.compactMap { if case .service(let e) = $0.kind { e } else { nil } }
    }

    func stop() { task.cancel() }
}

/// Routes with `connect`: Patchbay dials a service in the Voice API's role for every caller, against a
/// real Python `websockets` service, and plays what the service sends back into the call.
@Suite struct ServiceTests {
    static func endpoint(_ service: PythonService, rate: Int = 16000, _ adjust: (inout WebSocketEndpoint) -> Void = { _ in })
        -> WebSocketEndpoint
    {
        var e = WebSocketEndpoint(uri: "ws://127.0.0.1:\(service.port)/voice?tenant=acme", contentType: "audio/l16;rate=\(rate)")
        adjust(&e)
        return e
    }

    /// A gateway whose route `/ai` connects every caller to `endpoints`.
    static func gateway(_ endpoints: [WebSocketEndpoint], jwtSecret: String? = nil) async throws -> RunningGateway {
        try await RunningGateway.start { c in
            c.routes.append(.init(path: "/ai", mode: .conversation, connect: endpoints))
            c.auth.jwtSecret = jwtSecret
        }
    }

    static func toneFrames(_ peer: TestPeer, rate: Int, frequency: Double = 440) -> Int {
        peer.received.binary.count { frame in
            let samples = stride(from: 0, to: frame.count - 1, by: 2).map { Int16(bitPattern: UInt16(frame[$0]) | UInt16(frame[$0 + 1]) << 8) }
            return toneAmplitude(samples[...], frequency: frequency, rate: rate) > 1000
        }
    }

    @Test(
        "the service is dialled as the Voice API would: no content-length, Authorization, websocket:connected with the headers; audio and digits both ways"
    )
    func voiceAPIRole() async throws {
        let service = try await PythonService.start(["--mode", "echo"])
        defer { service.stop() }
        let endpoint = Self.endpoint(service, rate: 8000) { e in
            e.headers = ["tenant": .string("acme"), "caller": .string("{caller.from}"), "priority": .number(2)]
            e.authorization = .init(type: .custom, value: "Bearer secret-token")
        }
        let gateway = try await Self.gateway([endpoint])
        let events = EventRecorder(gateway.server.engine)
        defer { events.stop() }
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000, extra: #","from":"447700900001""#)
        #expect(await eventually { service.texts.contains { $0["event"] as? String == "websocket:connected" } }, "\(service.log)")
        // One second of a 1 kHz tone from the caller: the service hears it at 8 kHz and echoes it back.
        try await stream(caller, frames: 50, frameSamples: 320) { k in sine(1000, amplitude: 8000, rate: 16000, count: 320, offset: 320 * k) }
        try await caller.send(text: #"{"event":"websocket:dtmf","digit":"7","duration":200}"#)
        #expect(
            await eventually { Self.toneFrames(caller, rate: 16000, frequency: 1000) >= 40 },
            "caller heard \(Self.toneFrames(caller, rate: 16000, frequency: 1000)) tone frames back")
        #expect(await eventually { service.texts.contains { $0["event"] as? String == "websocket:dtmf" } }, "\(service.log)")
        await caller.close()
        #expect(await eventually { !service.reports("close").isEmpty }, "\(service.log)")
        await gateway.stop()

        let upgrade = service.reports("upgrade").first
        #expect(upgrade?["content_length"] is NSNull, "the upgrade must not declare a body: \(service.log)")
        #expect(upgrade?["path"] as? String == "/voice?tenant=acme")
        #expect(service.reports("open").first?["authorization"] as? String == "Bearer secret-token")
        let connected = service.texts.first { $0["event"] as? String == "websocket:connected" }
        #expect(connected?["content-type"] as? String == "audio/l16;rate=8000")
        #expect(connected?["tenant"] as? String == "acme" && connected?["caller"] as? String == "447700900001")
        #expect((connected?["priority"] as? NSNumber)?.intValue == 2)
        let dtmf = service.texts.first { $0["event"] as? String == "websocket:dtmf" }
        #expect(dtmf?["digit"] as? String == "7" && (dtmf?["duration"] as? NSNumber)?.intValue == 200)
        let close = service.reports("close").first
        #expect((close?["first_sizes"] as? [Int])?.allSatisfy { $0 == 320 } == true, "20 ms frames at 8 kHz: \(service.log)")
        #expect((close?["audio_messages"] as? Int ?? 0) >= 50)
        #expect(close?["code"] as? Int == 1000, "the caller hung up: the service is closed normally")
        let kinds = events.serviceEvents
        #expect(kinds.contains { if case .attempt(_, 1) = $0 { true } else { false } })
        #expect(kinds.contains { if case .connected(_, 1, _) = $0 { true } else { false } })
    }

    @Test("a burst faster than real time is played one frame per 20 ms, and notify is answered when playout reaches it")
    func burstAndNotify() async throws {
        let service = try await PythonService.start(["--mode", "burst", "--seconds", "2"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { !service.reports("sent").isEmpty }, "\(service.log)")
        let sentAt = ContinuousClock.now
        // Half-way through, no more than half the audio (and the pacer's one frame ahead) has reached the caller.
        try await Task.sleep(until: sentAt + .milliseconds(1000))
        let halfway = Self.toneFrames(caller, rate: 16000)
        #expect(halfway <= 54, "\(halfway) frames of tone after 1 s: played faster than real time")
        #expect(await eventually { !service.texts.filter { $0["event"] as? String == "websocket:notify" }.isEmpty }, "\(service.log)")
        let sent = service.reports("sent").first?["t"] as? Double ?? 0
        let notified =
            service.reports("text").first { ($0["msg"] as? [String: Any])?["event"] as? String == "websocket:notify" }?["t"] as? Double ?? 0
        #expect(notified - sent >= 1.9, "notify answered \(notified - sent) s after 2 s of audio was queued")
        #expect(notified - sent < 4, "notify answered \(notified - sent) s after 2 s of audio was queued")
        let payload = service.texts.first { $0["event"] as? String == "websocket:notify" }?["payload"] as? [String: Any]
        #expect(payload?["mark"] as? String == "end")
        #expect(await eventually { Self.toneFrames(caller, rate: 16000) >= 99 }, "caller heard \(Self.toneFrames(caller, rate: 16000)) of 100 frames")
        await caller.close()
        await gateway.stop()
    }

    @Test("clear drops the queued audio at once: the pending notify and websocket:cleared come back, the caller stops hearing it")
    func clear() async throws {
        let service = try await PythonService.start(["--mode", "clear"])
        defer { service.stop() }
        let gateway = try await Self.gateway([Self.endpoint(service)])
        let caller = try await gateway.connect("/ai")
        try await caller.sendConnected(rate: 16000)
        #expect(await eventually { service.texts.contains { $0["event"] as? String == "websocket:cleared" } }, "\(service.log)")
        let clearedAt = (service.reports("sent").first { $0["what"] as? String == "clear" })?["t"] as? Double ?? 0
        let notify = service.reports("text").first { ($0["msg"] as? [String: Any])?["event"] as? String == "websocket:notify" }
        let cleared = service.reports("text").first { ($0["msg"] as? [String: Any])?["event"] as? String == "websocket:cleared" }
        #expect(notify != nil, "the notify queued behind the cleared audio is answered: \(service.log)")
        #expect((cleared?["t"] as? Double ?? 99) - clearedAt < 1, "cleared within a second, not after the 5 s of audio")
        // The caller heard about 300 ms of the 5 s, and then nothing more.
        try await Task.sleep(for: .milliseconds(500))
        let heard = Self.toneFrames(caller, rate: 16000)
        #expect(heard >= 5 && heard <= 45, "\(heard) frames of tone")
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.toneFrames(caller, rate: 16000) == heard, "tone still playing after the clear")
        await caller.close()
        await gateway.stop()
    }
}
