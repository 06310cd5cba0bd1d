import Foundation
import NIOCore
import NIOPosix
import NIOWebSocket
import PatchbayConfiguration
import PatchbayDSP
import PatchbayServer
import PatchbayTestSupport
import Synchronization
import Testing

@testable import PatchbayServerTestSupport

/// The call flow end to end: a real application (Python, its NCCOs built by the Vonage SDK's own models)
/// answering Patchbay's `answer_url` and event requests, real websocket callers streaming real time, digits
/// as in-band tones and as `websocket:dtmf`, judged by what each caller heard.
@Suite(.serialized) struct CallFlowTests {
    /// A caller that streams 20 ms frames in real time, as the Voice API does: silence, or a tone, with
    /// digits pressed in-band on request.
    final class Caller: Sendable {
        let peer: TestPeer
        let rate: Int
        private let pending = Mutex<[Int16]>([])
        private let toneHz = Mutex<Double>(0)
        private let task = Mutex<Task<Void, Never>?>(nil)
        private let sent = Mutex(0)
        private let late = Mutex(Duration.zero)

        /// Frames sent so far: what is asked now (a tone, a press) starts at about this frame.
        var framesSent: Int { sent.withLock { $0 } }

        /// The most a frame was sent after its time since `resetLateness` (a loaded machine stalls the
        /// sender; the gateway then hears the audio that much later, as it would from a late network).
        var lateness: Duration { late.withLock { $0 } }
        func resetLateness() { late.withLock { $0 = .zero } }

        init(_ peer: TestPeer, rate: Int) {
            self.peer = peer
            self.rate = rate
        }

        static func connect(_ gateway: RunningGateway, path: String, rate: Int = 16000, extra: String = "") async throws -> Caller {
            try await connect(port: gateway.port, group: gateway.clients, path: path, rate: rate, extra: extra)
        }

        static func connect(port: Int, group: any EventLoopGroup, path: String, rate: Int = 16000, extra: String = "") async throws -> Caller {
            let peer = try await TestPeer.connect(port: port, path: path, group: group)
            try await peer.sendConnected(rate: rate, extra: extra)
            let caller = Caller(peer, rate: rate)
            caller.start()
            return caller
        }

        private func start() {
            let n = rate / 50
            let started = Task { [self] in
                let clock = ContinuousClock()
                let origin = clock.now
                var k = 0
                var phase = 0.0
                while !Task.isCancelled, !peer.isClosed {
                    var frame = pending.withLock { queue -> [Int16] in
                        let take = min(n, queue.count)
                        defer { queue.removeFirst(take) }
                        return Array(queue.prefix(take))
                    }
                    let hz = toneHz.withLock { $0 }
                    while frame.count < n {
                        if hz > 0 {
                            frame.append(Int16(8000 * sin(phase)))
                            phase += 2 * Double.pi * hz / Double(rate)
                        } else {
                            frame.append(0)
                        }
                    }
                    let due = origin + .milliseconds(20 * k)
                    try? await peer.send(samples: frame)
                    sent.withLock { $0 += 1 }
                    let behind = clock.now - due
                    late.withLock { $0 = max($0, behind) }
                    k += 1
                    try? await clock.sleep(until: origin + .milliseconds(20 * k))
                }
            }
            task.withLock { $0 = started }
        }

        /// Presses `digits` in-band (the gateway's detector hears them).
        func press(_ digits: String) throws {
            let tones = try DTMFGenerator.samples(digits: digits, configuration: .init(sampleRate: rate))
            pending.withLock { $0 += tones }
        }

        /// Reports a digit as the Voice API does (`websocket:dtmf`).
        func report(_ digit: Character) async throws {
            try await peer.send(text: #"{"event":"websocket:dtmf","digit":"\#(digit)","duration":200}"#)
        }

        func tone(_ hz: Double) { toneHz.withLock { $0 = hz } }

        /// Frames heard with audio in them, and silent frames since the last of them.
        var heard: (count: Int, since: Int) { peer.received.audibleFrames }

        func stop() async {
            task.withLock { $0?.cancel() }
            await peer.close()
        }
    }

    /// A gateway with routes whose NCCOs come from `app` (`/<name>` → `app/<name>`), NCCO hosts on loopback allowed.
    static func gateway(
        _ app: ScriptedService, routes: [String], _ adjust: @escaping (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> RunningGateway {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-callflow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var gateway = try await RunningGateway.start { c in
            c.storage.database = scratch.appendingPathComponent("records.sqlite").path
            c.routes = routes.map { name in
                var route = ServerConfiguration.Route(path: "/" + name, mode: .conversation)
                route.answerURL = "http://127.0.0.1:\(app.port)/\(name)"
                return route
            }
            c.api.allowedHTTPHosts = ["127.0.0.1"]
            adjust(&c)
        }
        gateway.scratch = scratch
        return gateway
    }

    /// Waits until `caller` has heard a prompt and it has ended (`quiet` silent frames after it, or the
    /// leg closed after it: a prompt that ends the NCCO). (espeak-ng's pauses between words and sentences
    /// are shorter than the default 40 frames.)
    static func heardPrompt(_ caller: Caller, atLeast frames: Int = 20, quiet: Int = 40, timeout: Duration = .seconds(20)) async -> Bool {
        await eventually(timeout: timeout) { caller.heard.count >= frames && (caller.heard.since >= quiet || caller.peer.isClosed) }
    }

    @Test("an IVR: the greeting heard, a digit pressed in-band, the menu's answer replaces the rest, then the call ends")
    func ivr() async throws {
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/ivr": [{"ncco": [{"talk": {"text": "Welcome to Patchbay. Press one for sales."}},
                                 {"input": {"type": ["dtmf"], "dtmf": {"maxDigits": 1, "timeOut": 5}, "eventUrl": ["{base}/menu"]}},
                                 {"talk": {"text": "Never said."}}]}],
             "/menu": [{"ncco": [{"talk": {"text": "Sales."}}]}]}
            """#)
        let gateway = try await Self.gateway(app, routes: ["ivr"])
        let caller = try await Caller.connect(gateway, path: "/ivr", extra: #","caller":"447700900001""#)
        #expect(await Self.heardPrompt(caller), "the greeting")
        let greeting = caller.heard.count
        try caller.press("1")
        #expect(await eventually { app.requests("/menu").count == 1 })
        let menu = try #require(app.requests("/menu").first)
        let dtmf = menu["body"] as? [String: Any]
        #expect((dtmf?["dtmf"] as? [String: Any])?["digits"] as? String == "1")
        #expect((dtmf?["dtmf"] as? [String: Any])?["timed_out"] as? Bool == false)
        let leg = try #require(gateway.server.engine.legs.first).id.uuidString.lowercased()
        #expect(dtmf?["uuid"] as? String == leg)
        // "Sales." then the NCCO has run out: the leg is closed normally.
        #expect(await eventually { caller.peer.isClosed })
        #expect(caller.peer.received.closeCode == .normalClosure)
        let sales = caller.heard.count - greeting
        #expect(sales > 10 && sales < 100, "heard \(sales) frames of the menu's answer, not the rest of the first NCCO")
        // The answer request: what the Voice API sends, as a query.
        let answer = try #require(app.requests("/ivr").first)
        #expect(answer["method"] as? String == "GET")
        let query = answer["query"] as? [String: String] ?? [:]
        #expect(query["uuid"] == leg && query["caller"] == "447700900001" && query["from"] != nil && query["to"] != nil)
        #expect(query["conversation_uuid"] != nil)
        await caller.stop()
        await gateway.stop()
        app.stop()
    }

    @Test("input: submitOnHash (the # not in the digits), then a timeOut with no digit, an empty answer ends the NCCO")
    func inputRules() async throws {
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/pin": [{"ncco": [{"input": {"type": ["dtmf"], "dtmf": {"maxDigits": 6, "submitOnHash": true, "timeOut": 5}, "eventUrl": ["{base}/got"]}},
                                 {"input": {"type": ["dtmf"], "dtmf": {"timeOut": 1}, "eventUrl": ["{base}/again"]}}]}],
             "/got": [{"empty": true}], "/again": [{"empty": true}]}
            """#)
        let gateway = try await Self.gateway(app, routes: ["pin"])
        let caller = try await Caller.connect(gateway, path: "/pin")
        #expect(await eventually { gateway.server.engine.legs.count == 1 && app.requests("/pin").count == 1 })
        try await Task.sleep(for: .milliseconds(300))
        for digit in "12#" { try await caller.report(digit) }
        #expect(await eventually { app.requests("/got").count == 1 })
        let got = (app.requests("/got").first?["body"] as? [String: Any])?["dtmf"] as? [String: Any]
        #expect(got?["digits"] as? String == "12" && got?["timed_out"] as? Bool == false)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await eventually { app.requests("/again").count == 1 })
        let waited = clock.now - start
        let again = (app.requests("/again").first?["body"] as? [String: Any])?["dtmf"] as? [String: Any]
        #expect(again?["digits"] as? String == "" && again?["timed_out"] as? Bool == true)
        #expect(waited > .milliseconds(800) && waited < .seconds(3), "timeOut 1 s: \(waited)")
        #expect(await eventually { caller.peer.isClosed })
        await caller.stop()
        await gateway.stop()
        app.stop()
    }

    @Test("bargeIn: the caller's digit stops the prompt at once; one press heard by both sources counts once")
    func bargeIn() async throws {
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/menu": [{"ncco": [{"talk": {"text": "This is a long prompt that goes on and on, so that the caller has plenty of time to interrupt it with a key press, which is what callers do.", "bargeIn": true}},
                                  {"input": {"type": ["dtmf"], "dtmf": {"maxDigits": 3, "timeOut": 2}, "eventUrl": ["{base}/digits"]}}]}],
             "/digits": [{"empty": true}]}
            """#)
        let gateway = try await Self.gateway(app, routes: ["menu"])
        let caller = try await Caller.connect(gateway, path: "/menu")
        #expect(await eventually { caller.heard.count >= 50 }, "a second of the prompt")
        #expect(caller.heard.since < 25, "the prompt is still playing")
        // One press: the tone in the audio and the Voice API's own report of it.
        try caller.press("5")
        try await caller.report("5")
        let pressed = caller.peer.received.timedBinary.count
        #expect(await eventually { app.requests("/digits").count == 1 })
        let dtmf = (app.requests("/digits").first?["body"] as? [String: Any])?["dtmf"] as? [String: Any]
        #expect(dtmf?["digits"] as? String == "5", "counted once: \(String(describing: dtmf))")
        #expect(dtmf?["timed_out"] as? Bool == true)
        // What the caller heard after the press: the prompt stopped within a few frames (the tone takes
        // ~100 ms to be detected; the websocket:dtmf report is at once).
        let frames = caller.peer.received.binary
        let lastAudible =
            frames.lastIndex { frame in
                stride(from: 0, to: frame.count - 1, by: 2).contains {
                    abs(Int(Int16(bitPattern: UInt16(frame[$0]) | UInt16(frame[$0 + 1]) << 8))) > 64
                }
            } ?? 0
        #expect(lastAudible - pressed < 10, "prompt heard for \(lastAudible - pressed) frames after the press")
        await caller.stop()
        await gateway.stop()
        app.stop()
    }

    @Test("notify: an empty answer lets the NCCO go on (after its wait), an NCCO answer replaces the rest")
    func notifyAndWait() async throws {
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/flow": [{"ncco": [{"notify": {"payload": {"step": "one"}, "eventUrl": ["{base}/n1"]}},
                                  {"wait": {"timeout": 0.6}},
                                  {"notify": {"payload": {"step": "two"}, "eventUrl": ["{base}/n2"], "eventMethod": "GET"}},
                                  {"talk": {"text": "This is never said, the answer replaced it."}}]}],
             "/n1": [{"empty": true}], "/n2": [{"ncco": [{"wait": {"timeout": 0.2}}]}]}
            """#)
        let gateway = try await Self.gateway(app, routes: ["flow"])
        let caller = try await Caller.connect(gateway, path: "/flow")
        #expect(await eventually { app.requests("/n2").count == 1 })
        let n1 = try #require(app.requests("/n1").first)
        #expect((n1["body"] as? [String: Any])?["payload"] as? [String: String] == ["step": "one"])
        let n2 = try #require(app.requests("/n2").first)
        #expect(n2["method"] as? String == "GET")
        #expect((n2["query"] as? [String: String])?["payload"] == #"{"step":"two"}"#)
        #expect(await eventually { caller.peer.isClosed })
        #expect(caller.heard.count == 0, "the replaced talk was never played")
        await caller.stop()
        await gateway.stop()
        app.stop()
    }

    @Test("the failure rule: 503 twice, then the fallback with reason and original_request; both failing closes the leg")
    func fallback() async throws {
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/busy": [{"status": 503}], "/busy-fallback": [{"ncco": [{"talk": {"text": "From the fallback."}}]}],
             "/broken": [{"status": 500}], "/broken-fallback": [{"delay": 3}]}
            """#)
        let gateway = try await Self.gateway(app, routes: []) { c in
            var busy = ServerConfiguration.Route(path: "/busy", mode: .conversation)
            busy.answerURL = "http://127.0.0.1:\(app.port)/busy"
            busy.fallbackAnswerURL = "http://127.0.0.1:\(app.port)/busy-fallback"
            busy.answerMethod = "POST"
            var broken = ServerConfiguration.Route(path: "/broken", mode: .conversation)
            broken.answerURL = "http://127.0.0.1:\(app.port)/broken"
            broken.fallbackAnswerURL = "http://127.0.0.1:\(app.port)/broken-fallback"
            broken.answerTimeoutSeconds = 0.5
            c.routes = [busy, broken]
        }
        let first = try await Caller.connect(gateway, path: "/busy")
        #expect(await Self.heardPrompt(first, atLeast: 10), "the fallback's NCCO ran")
        #expect(app.requests("/busy").count == 2, "503 is tried twice")
        let fallback = try #require(app.requests("/busy-fallback").first)
        #expect(fallback["method"] as? String == "POST")
        let body = fallback["body"] as? [String: Any] ?? [:]
        #expect((body["reason"] as? String)?.contains("503") == true)
        let original = body["original_request"] as? [String: Any]
        #expect((original?["url"] as? String)?.hasSuffix("/busy") == true && original?["type"] as? String == "POST")

        let second = try await Caller.connect(gateway, path: "/broken")
        #expect(await eventually { second.peer.isClosed })
        #expect(app.requests("/broken").count == 1, "500 is not retried")
        #expect(app.requests("/broken-fallback").count == 2, "a timeout is")
        #expect(second.peer.received.closeReason?.contains("no NCCO") == true, "\(String(describing: second.peer.received.closeReason))")
        await first.stop()
        await second.stop()
        await gateway.stop()
        app.stop()
    }

    @Test("hostile answer servers: a huge answer, an invalid NCCO (the bad field named), a redirect loop, a slow server")
    func hostileAnswers() async throws {
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/huge": [{"huge": 70000}], "/invalid": [{"raw": "[{\"action\":\"talk\",\"text\":\"ok\"},{\"action\":\"talk\"}]"}],
             "/loop": [{"redirect": "/loop"}], "/slow": [{"delay": 5}]}
            """#)
        let gateway = try await Self.gateway(app, routes: ["huge", "invalid", "loop", "slow"]) { c in
            for i in c.routes.indices { c.routes[i].answerTimeoutSeconds = 0.5 }
        }
        var callers: [String: Caller] = [:]
        for name in ["huge", "invalid", "loop", "slow"] { callers[name] = try await Caller.connect(gateway, path: "/" + name) }
        for caller in callers.values { #expect(await eventually { caller.peer.isClosed }) }
        let reasons = callers.mapValues { $0.peer.received.closeReason ?? "" }
        #expect(reasons["huge"]?.contains("64 KiB") == true, "\(reasons)")
        #expect(reasons["invalid"]?.contains("ncco[1].text") == true, "\(reasons)")
        #expect(reasons["loop"]?.contains("redirect") == true, "\(reasons)")
        #expect(reasons["slow"]?.contains("no answer within") == true, "\(reasons)")
        #expect(app.requests("/slow").count == 2 && app.requests("/huge").count == 1)
        for caller in callers.values { #expect(caller.heard.count == 0) }
        // The gateway carries on: another leg on the same gateway still gets its NCCO's failure answered.
        #expect(gateway.server.engine.legs.isEmpty)
        for caller in callers.values { await caller.stop() }
        await gateway.stop()
        app.stop()
    }

    @Test("conversation: music on hold until a second leg joins; canHear; endOnExit ends the others' conversation")
    func conversation() async throws {
        let wav = try Data(contentsOf: Fixtures.testdata.appendingPathComponent("sine1k-s16-mono-16k.wav"))
        let http = try await TestHTTPServer(
            routes: ["/moh.wav": .body(Array(wav), contentType: "audio/wav")], group: MultiThreadedEventLoopGroup.singleton)
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/room": [{"ncco": [{"conversation": {"name": "room", "musicOnHoldUrl": ["\#(http.url("/moh.wav"))"]}}]},
                        {"ncco": [{"conversation": {"name": "room", "endOnExit": true, "canHear": []}}]}]}
            """#)
        let gateway = try await Self.gateway(app, routes: ["room"])
        let a = try await Caller.connect(gateway, path: "/room")
        #expect(await eventually { a.heard.count >= 50 }, "a second of music on hold")
        let music = a.peer.receivedSamples.suffix(16000)
        #expect(Tone.amplitude(of: music, at: 1000, rate: 16000) > 1000, "the 1 kHz hold music")
        let b = try await Caller.connect(gateway, path: "/room")
        b.tone(440)
        try await Task.sleep(for: .seconds(1.5))
        let heardByA = a.peer.receivedSamples.suffix(8000)
        #expect(Tone.amplitude(of: heardByA, at: 1000, rate: 16000) < 200, "the music stopped when B joined")
        #expect(Tone.amplitude(of: heardByA, at: 440, rate: 16000) > 1000, "A hears B")
        a.tone(700)
        try await Task.sleep(for: .seconds(1))
        let heardByB = b.peer.receivedSamples.suffix(8000)
        #expect(Tone.amplitude(of: heardByB, at: 700, rate: 16000) < 100, "canHear: [] — B hears nobody")
        // B leaves: its endOnExit ends the conversation; A's NCCO has nothing after it, so A is closed.
        await b.stop()
        #expect(await eventually { a.peer.isClosed })
        #expect(a.peer.received.closeCode == .normalClosure)
        await a.stop()
        await gateway.stop()
        await http.stop()
        app.stop()
    }

    @Test("connect with eventType synchronous: the NCCO waits until the service's leg ends, reports it, and goes on")
    func connectSynchronous() async throws {
        let service = try await ScriptedService.python(["--mode", "drop", "--after-ms", "1500", "--close-code", "1000"])
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/agent": [{"ncco": [{"connect": {"eventType": "synchronous", "eventUrl": ["{base}/ended"],
                                               "endpoint": [{"uri": "ws://127.0.0.1:\#(service.port)/agent", "contentType": "audio/l16;rate=16000"}]}},
                                   {"talk": {"text": "The agent has left."}}]}],
             "/ended": [{"empty": true}]}
            """#)
        let gateway = try await Self.gateway(app, routes: ["agent"]) { c in c.api.allowedWebSocketHosts = ["127.0.0.1"] }
        let caller = try await Caller.connect(gateway, path: "/agent")
        #expect(await eventually { service.reports("close").count == 1 })
        #expect(caller.heard.count < 10, "nothing said while the agent is on")
        #expect(await eventually { app.requests("/ended").count == 1 })
        let ended = app.requests("/ended").first?["body"] as? [String: Any] ?? [:]
        #expect(ended["status"] as? String == "completed")
        #expect(await Self.heardPrompt(caller, atLeast: 10), "then the talk after the connect")
        #expect(await eventually { caller.peer.isClosed })
        await caller.stop()
        await gateway.stop()
        app.stop()
        service.stop()
    }
}
