import Foundation
import NIOPosix
import PatchbayConfiguration
import PatchbayServer
import PatchbayTestSupport
import Synchronization
import Testing

@testable import PatchbayServerTestSupport

/// Recordings end to end, judged from outside: real websocket callers streaming in real time, NCCOs made by
/// the Vonage SDK's models, the files fetched over the API with the application's JWT and decoded by an
/// independent decoder (Python `soundfile`), what is on each channel found by its tones and levels, and
/// the Vonage SDK's own `download_recording`.
@Suite(.serialized) struct RecordingTests {
    typealias Caller = CallFlowTests.Caller
    static let script = Fixtures.repository.appendingPathComponent("Tests/python/recording_check.py").path

    /// Two applications' RSA keys: app-1 owns the routes, app-2 is another application.
    struct Keys {
        let directory: URL
        func key(_ app: String) -> String { directory.appendingPathComponent("\(app).key").path }
        func pub(_ app: String) -> String { directory.appendingPathComponent("\(app).pub.pem").path }
        var applications: [ServerConfiguration.API.Application] { ["app-1", "app-2"].map { .init(applicationID: $0, publicKey: pub($0)) } }
        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    static func keys() async throws -> Keys {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let keys = Keys(directory: dir)
        for app in ["app-1", "app-2"] {
            try await SelfSigned.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keys.key(app)], in: dir)
            try await SelfSigned.run(["pkey", "-in", keys.key(app), "-pubout", "-out", keys.pub(app)], in: dir)
        }
        return keys
    }

    /// Runs the checker; its one JSON line.
    static func check(_ arguments: [String], environment: [String: String] = [:]) async -> [String: Any] {
        let run = await ChildProcess.python([script] + arguments, environment: environment, timeout: .seconds(60))
        let line = run.stdout.split(separator: "\n").last { $0.hasPrefix("{") }
        guard run.status == 0, let line, let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            Issue.record("recording_check \(arguments.first ?? "") failed: \(run.output)")
            return [:]
        }
        return object
    }

    /// What the decoder found in a file.
    struct Analysis {
        let rate: Int
        let channels: Int
        let duration: Double
        let levels: [[Double]]
        let tones: [[String: [Double]]]
        /// Per channel, the sample offsets where sound starts after at least 100 ms of quiet.
        let onsets: [[Int]]

        init(_ o: [String: Any]) {
            rate = o["rate"] as? Int ?? 0
            channels = o["channels"] as? Int ?? 0
            duration = o["duration"] as? Double ?? 0
            let per = o["per_channel"] as? [[String: Any]] ?? []
            levels = per.map { ($0["levels"] as? [Double]) ?? [] }
            tones = per.map { ($0["tones"] as? [String: [Double]]) ?? [:] }
            onsets = per.map { ($0["onsets"] as? [Int]) ?? [] }
        }

        /// The first 20 ms window (seconds) of `channel` whose level is above `level`.
        func onset(_ channel: Int, above level: Double = 0.01, from: Double = 0) -> Double? {
            guard channel < levels.count else { return nil }
            let start = Int(from * 50)
            return levels[channel].indices.first { $0 >= start && levels[channel][$0] > level }.map { Double($0) / 50 }
        }

        func tone(_ hz: Int, on channel: Int) -> [Double] { channel < tones.count ? tones[channel]["\(hz)"] ?? [] : [] }

        func loudest(_ channel: Int, from: Double, to: Double) -> Double {
            guard channel < levels.count else { return 0 }
            let range = max(0, Int(from * 50))..<min(levels[channel].count, Int(to * 50))
            return range.isEmpty ? 0 : levels[channel][range].max() ?? 0
        }
    }

    static func analyze(_ path: String, freqs: [Int] = []) async -> Analysis {
        Analysis(await check(["analyze", path] + freqs.flatMap { ["--freq", "\($0)"] }))
    }

    /// A call flow gateway (CallFlowTests') with both applications, the routes app-1's.
    static func gateway(
        _ app: ScriptedService, keys: Keys, routes: [String], _ adjust: @escaping (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> RunningGateway {
        try await CallFlowTests.gateway(app, routes: routes) { c in
            c.api.applications = keys.applications
            for i in c.routes.indices { c.routes[i].applicationID = "app-1" }
            adjust(&c)
        }
    }

    /// The body of the first request to `path` that carries `field`.
    static func event(_ app: ScriptedService, _ path: String, with field: String = "recording_uuid", timeout: Duration = .seconds(15)) async
        -> [String: Any]?
    {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let body = app.requests(path).compactMap({ $0["body"] as? [String: Any] }).first(where: { $0[field] != nil }) { return body }
            try? await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no request to \(path) with \(field): \(app.requests(path))")
        return nil
    }

    /// Downloads `url` as `app` into a temporary file; its path, or nil.
    static func download(_ url: String, keys: Keys, app: String = "app-1", suffix: String) async -> String? {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-rec-\(UUID().uuidString).\(suffix)").path
        let got = await check(["get", url, "--app", app, "--key", keys.key(app), "--out", out])
        guard got["status"] as? Int == 200 else {
            Issue.record("GET \(url): \(got)")
            return nil
        }
        return out
    }

    static func seconds(_ text: Any?) -> Double? {
        (text as? String).flatMap(VoiceAPITimeText.parse).map(\.timeIntervalSince1970)
    }

    // MARK: The record action

    @Test(
        "split: two channels on one clock — the caller's DTMF and tone on the first at their times, the talk it heard on the second, none of either on the other; the timeline's digit where the audio has it"
    )
    func splitWAV() async throws {
        let keys = try await Self.keys()
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/r": [{"ncco": [{"record": {"format": "wav", "split": "conversation", "eventUrl": ["{base}/rec"]}},
                               {"talk": {"text": "Hello. This call is recorded for quality."}},
                               {"wait": {"timeout": 3}}]}],
             "/rec": [{"empty": true}]}
            """#)
        let gateway = try await Self.gateway(app, keys: keys, routes: ["r"])
        let caller = try await Caller.connect(gateway, path: "/r")
        #expect(await eventually { gateway.server.engine.legs.count == 1 && caller.heard.count > 5 })
        try await Task.sleep(for: .seconds(1))
        caller.resetLateness()
        let pressed = caller.framesSent
        try caller.press("5")
        try await Task.sleep(for: .milliseconds(1500))
        let toned = caller.framesSent
        caller.tone(600)
        try await Task.sleep(for: .milliseconds(500))
        caller.tone(0)
        #expect(await eventually(timeout: .seconds(20)) { caller.peer.isClosed }, "the NCCO ran out")
        let event = try #require(await Self.event(app, "/rec"))
        let url = try #require(event["recording_url"] as? String)
        let leg = try #require(gateway.server.engine.legs.first?.id ?? UUID(uuidString: event["uuid"] as? String ?? ""))
        #expect(event["uuid"] as? String == leg.uuidString.lowercased())
        #expect((event["conversation_uuid"] as? String)?.hasPrefix("CON-") == true)
        #expect(event["recording_uuid"] as? String != nil && event["timestamp"] as? String != nil)
        #expect(url.hasPrefix("http://127.0.0.1:\(gateway.port)/v1/files/"), "\(url)")
        let file = try #require(await Self.download(url, keys: keys, suffix: "wav"))
        let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? -1
        #expect(event["size"] as? Int == size, "size \(String(describing: event["size"])) vs \(size) bytes downloaded")
        let a = await Self.analyze(file, freqs: [600])
        #expect(a.rate == 16000 && a.channels == 2)
        // Wall-clock length: what the event's times span (their milliseconds), within two frames.
        if let start = Self.seconds(event["start_time"]), let end = Self.seconds(event["end_time"]) {
            #expect(abs(a.duration - (end - start)) < 0.1, "file \(a.duration) s, event \(end - start) s")
        }
        // Frames the sender sent late move the audio after them by as much (the gateway heard it late).
        let slack = Int((caller.lateness / .milliseconds(20)).rounded(.up))
        let dtmf = try #require(a.onset(0), "the press on channel 1")
        let tone = try #require(a.tone(600, on: 0).first, "the tone on channel 1")
        let expected = Double(toned - pressed) * 0.02
        #expect(
            abs((tone - dtmf) - expected) <= 0.041 + Double(slack) * 0.02,
            "tone \(tone) s after the press at \(dtmf) s: \(tone - dtmf), sent \(expected) apart")
        // Sample-aligned: both began at the start of a frame the caller sent, so in the file they are a
        // whole number of frames apart (to the sample), the number the caller sent between them (the
        // test reads its counter ±1 frame from the moment the audio changed).
        let starts = a.onsets.first ?? []
        if starts.count >= 2 {
            let apart = starts[1] - starts[0]
            let frames = (Double(apart) / 320).rounded()
            #expect(abs(Double(apart) - frames * 320) <= 2, "the tone \(apart) samples after the press: not whole frames")
            #expect(
                abs(frames - Double(toned - pressed)) <= Double(1 + slack),
                "\(frames) frames apart in the file, \(toned - pressed) sent (the sender up to \(slack) frames late)")
        } else {
            Issue.record("two onsets on the caller's channel: \(starts)")
        }
        #expect(a.tone(600, on: 1).isEmpty, "the caller's tone is not on what it heard")
        #expect(a.loudest(0, from: 0, to: dtmf - 0.04) < 0.001, "nothing of the talk on the caller's own channel")
        #expect(a.loudest(1, from: 0, to: 2) > 0.02, "the talk the caller heard is on channel 2")
        // The timeline: its digit at the sample offset where the audio has it.
        let timeline = await Self.check(["get", url + "/timeline", "--app", "app-1", "--key", keys.key("app-1")])
        let events = ((timeline["json"] as? [String: Any])?["events"] as? [[String: Any]]) ?? []
        let digit = try #require(events.first { $0["type"] as? String == "dtmf" }, "\(timeline)")
        let offset = (digit["offset"] as? Double ?? -1) / 16000
        #expect(abs(offset - dtmf) <= 0.06, "timeline's digit at \(offset) s, the audio's at \(dtmf) s")
        #expect(events.contains { $0["type"] as? String == "record_started" } && events.contains { $0["type"] as? String == "leg_ended" })
        try? FileManager.default.removeItem(atPath: file)
        await caller.stop()
        await gateway.stop()
        app.stop()
        keys.remove()
    }

    @Test(
        "end conditions: timeOut 3 ends an Ogg Opus recording at 3.00 s and the NCCO goes on; endOnKey # ends an mp3; a beep at the start; endOnSilence after 3 s quiet"
    )
    func endConditions() async throws {
        let keys = try await Self.keys()
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/t": [{"ncco": [{"record": {"format": "ogg", "timeOut": 3, "beepStart": true, "eventUrl": ["{base}/rec-t"]}},
                               {"talk": {"text": "After the recording."}}]}],
             "/k": [{"ncco": [{"record": {"endOnKey": "#", "eventUrl": ["{base}/rec-k"]}},
                               {"talk": {"text": "Thank you."}}]}],
             "/s": [{"ncco": [{"record": {"format": "wav", "endOnSilence": 3, "eventUrl": ["{base}/rec-s"]}},
                               {"talk": {"text": "That is all. Thank you for your message."}}]}],
             "/rec-t": [{"empty": true}], "/rec-k": [{"empty": true}], "/rec-s": [{"empty": true}]}
            """#)
        let gateway = try await Self.gateway(app, keys: keys, routes: ["t", "k", "s"])
        let clock = ContinuousClock()

        // timeOut, Ogg Opus, with a beep the caller hears first.
        let t = try await Caller.connect(gateway, path: "/t")
        #expect(await eventually { t.heard.count >= 15 }, "the beep")
        let tEvent = try #require(await Self.event(app, "/rec-t"))
        #expect(await Self.heardPrompt(t), "the talk after the recording")
        let tFile = try #require(await Self.download(tEvent["recording_url"] as? String ?? "", keys: keys, suffix: "ogg"))
        let ta = await Self.analyze(tFile, freqs: [1000])
        #expect(ta.channels == 1 && ta.rate == 16000)
        #expect(abs(ta.duration - 3.0) < 0.03, "timeOut 3: \(ta.duration) s")
        #expect((ta.tone(1000, on: 0).first ?? 9) < 0.2, "the beep at the start: \(ta.tone(1000, on: 0))")
        let tTimeline = await Self.check([
            "get", (tEvent["recording_url"] as? String ?? "") + "/timeline", "--app", "app-1", "--key", keys.key("app-1"),
        ])
        let tEvents = ((tTimeline["json"] as? [String: Any])?["events"] as? [[String: Any]]) ?? []
        let stopped = tEvents.first { $0["type"] as? String == "record_stopped" }
        #expect(stopped?["reason"] as? String == "timeOut", "the timeline says why it ended: \(tEvents)")
        #expect(abs((stopped?["time"] as? Double ?? 0) - 3.0) < 0.1, "at 3 s: \(String(describing: stopped))")
        #expect(tEvents.contains { $0["type"] as? String == "beep" })
        await t.stop()

        // endOnKey, mp3 (the default format).
        let k = try await Caller.connect(gateway, path: "/k")
        #expect(await eventually { gateway.server.engine.legs.count == 1 && app.requests("/k").count == 1 })
        try await Task.sleep(for: .milliseconds(1500))
        let pressed = clock.now
        try await k.report("#")
        let kEvent = try #require(await Self.event(app, "/rec-k"))
        #expect(clock.now - pressed < .seconds(2), "the key ends the recording at once")
        #expect(await Self.heardPrompt(k), "the talk after the key")
        let kFile = try #require(await Self.download(kEvent["recording_url"] as? String ?? "", keys: keys, suffix: "mp3"))
        let ka = await Self.analyze(kFile)
        #expect(ka.channels == 1)
        #expect(ka.duration > 1.3 && ka.duration < 2.2, "recorded until the key: \(ka.duration) s")
        await k.stop()

        // endOnSilence: a second of tone, then quiet.
        let s = try await Caller.connect(gateway, path: "/s")
        s.tone(600)
        #expect(await eventually { gateway.server.engine.legs.count == 1 && app.requests("/s").count == 1 })
        try await Task.sleep(for: .seconds(1))
        s.tone(0)
        let quiet = clock.now
        let sEvent = try #require(await Self.event(app, "/rec-s"))
        let waited = clock.now - quiet
        #expect(waited > .milliseconds(2800) && waited < .seconds(4), "3 s of silence end it: \(waited)")
        let sFile = try #require(await Self.download(sEvent["recording_url"] as? String ?? "", keys: keys, suffix: "wav"))
        let sa = await Self.analyze(sFile, freqs: [600])
        #expect(!sa.tone(600, on: 0).isEmpty && sa.duration > 3.5 && sa.duration < 4.6, "the tone, then 3 s of silence: \(sa.duration) s")
        #expect(await Self.heardPrompt(s), "the talk after it")
        await s.stop()
        for f in [tFile, kFile, sFile] { try? FileManager.default.removeItem(atPath: f) }
        await gateway.stop()
        app.stop()
        keys.remove()
    }

    static func heardPrompt(_ caller: Caller) async -> Bool { await CallFlowTests.heardPrompt(caller) }

    @Test("conversation record: the whole conversation mixed, from the first leg to the last; each caller's tone at its time")
    func conversationRecord() async throws {
        let keys = try await Self.keys()
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/room": [{"ncco": [{"conversation": {"name": "recorded-room", "record": true}}]}],
             "/events": [{"empty": true}]}
            """#)
        let gateway = try await Self.gateway(app, keys: keys, routes: ["room"]) { c in
            c.api.applications[0].eventURL = "http://127.0.0.1:\(app.port)/events"
            c.api.applications[0].signatureSecret = String(repeating: "s", count: 32)
        }
        let a = try await Caller.connect(gateway, path: "/room")
        #expect(await eventually { gateway.server.engine.legs(inConversation: "recorded-room").count == 1 })
        let b = try await Caller.connect(gateway, path: "/room")
        #expect(await eventually { gateway.server.engine.legs(inConversation: "recorded-room").count == 2 })
        try await Task.sleep(for: .milliseconds(500))
        a.resetLateness()
        b.resetLateness()
        let aStart = a.framesSent
        a.tone(600)
        try await Task.sleep(for: .milliseconds(400))
        a.tone(0)
        try await Task.sleep(for: .milliseconds(600))
        let bStart = a.framesSent
        b.tone(1000)
        try await Task.sleep(for: .milliseconds(400))
        b.tone(0)
        try await Task.sleep(for: .milliseconds(300))
        await a.stop()
        try await Task.sleep(for: .milliseconds(500))
        await b.stop()
        let event = try #require(await Self.event(app, "/events", with: "recording_url"))
        let file = try #require(await Self.download(event["recording_url"] as? String ?? "", keys: keys, suffix: "mp3"))
        let r = await Self.analyze(file, freqs: [600, 1000])
        #expect(r.channels == 1)
        let t600 = try #require(r.tone(600, on: 0).first, "caller A's tone")
        let t1000 = try #require(r.tone(1000, on: 0).first, "caller B's tone")
        let expected = Double(bStart - aStart) * 0.02
        // MP3 frames and the join of two legs' clocks: within two frames.
        let slack = Double(max(a.lateness, b.lateness) / .milliseconds(20)).rounded(.up) * 0.02
        #expect(abs((t1000 - t600) - expected) <= 0.06 + slack, "B's tone \(t1000 - t600) s after A's, sent \(expected) s apart")
        #expect(r.duration > 2.5, "until the last leg left: \(r.duration) s")
        try? FileManager.default.removeItem(atPath: file)
        await gateway.stop()
        app.stop()
        keys.remove()
    }

    // MARK: Files

    @Test(
        "/v1/files: the owner downloads it (whole, a range, with the Vonage SDK unchanged); another application and unknown ids get 404; the call lists it; DELETE removes it"
    )
    func files() async throws {
        let keys = try await Self.keys()
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/f": [{"ncco": [{"record": {"format": "wav", "eventUrl": ["{base}/rec"]}}, {"wait": {"timeout": 1}}]}],
             "/rec": [{"empty": true}]}
            """#)
        // The URLs name the API as the world reaches it (a load balancer's name); the SDK only fetches
        // Vonage hosts, so here it reaches that name through a proxy: the gateway itself.
        let gateway = try await Self.gateway(app, keys: keys, routes: ["f"]) { c in c.api.publicURL = "http://api.nexmo.com" }
        let caller = try await Caller.connect(gateway, path: "/f")
        caller.tone(600)
        let event = try #require(await Self.event(app, "/rec"))
        let url = try #require(event["recording_url"] as? String)
        #expect(url.hasPrefix("http://api.nexmo.com/v1/files/"), "\(url)")
        let local = url.replacingOccurrences(of: "http://api.nexmo.com", with: "http://127.0.0.1:\(gateway.port)")
        let size = event["size"] as? Int ?? 0
        #expect(size > 30000, "a second of 16 kHz audio: \(size)")

        let whole = await Self.check(["get", local, "--app", "app-1", "--key", keys.key("app-1")])
        #expect(whole["status"] as? Int == 200 && whole["bytes"] as? Int == size)
        #expect((whole["headers"] as? [String: String])?["content-type"] == "audio/wav")
        let part = await Self.check(["get", local, "--app", "app-1", "--key", keys.key("app-1"), "--range", "bytes=100-199"])
        #expect(part["status"] as? Int == 206 && part["bytes"] as? Int == 100)
        #expect((part["headers"] as? [String: String])?["content-range"] == "bytes 100-199/\(size)")
        let beyond = await Self.check(["get", local, "--app", "app-1", "--key", keys.key("app-1"), "--range", "bytes=\(size + 10)-"])
        #expect(beyond["status"] as? Int == 416)
        let other = await Self.check(["get", local, "--app", "app-2", "--key", keys.key("app-2")])
        #expect(other["status"] as? Int == 404, "another application's recording: \(other)")
        let unknown = await Self.check(["get", "http://127.0.0.1:\(gateway.port)/v1/files/\(UUID())", "--app", "app-1", "--key", keys.key("app-1")])
        #expect(unknown["status"] as? Int == 404)

        let saved = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-sdk-\(UUID().uuidString).wav").path
        let sdk = await Self.check(
            ["sdk-download", url, saved, "--app", "app-1", "--key", keys.key("app-1")],
            environment: [
                "HTTP_PROXY": "http://127.0.0.1:\(gateway.port)", "http_proxy": "http://127.0.0.1:\(gateway.port)", "NO_PROXY": "", "no_proxy": "",
            ])
        #expect(sdk["ok"] as? Bool == true, "\(sdk)")
        #expect((try? FileManager.default.attributesOfItem(atPath: saved)[.size] as? Int) == size)
        let decoded = await Self.analyze(saved, freqs: [600])
        #expect(decoded.channels == 1 && !decoded.tone(600, on: 0).isEmpty)

        let leg = try #require(event["uuid"] as? String)
        let call = await Self.check(["get", "http://127.0.0.1:\(gateway.port)/v1/calls/\(leg)", "--app", "app-1", "--key", keys.key("app-1")])
        let listed = ((call["json"] as? [String: Any])?["recordings"] as? [[String: Any]]) ?? []
        #expect(listed.count == 1 && listed.first?["recording_url"] as? String == url && listed.first?["status"] as? String == "completed")

        let deleted = await Self.check(["delete", local, "--app", "app-1", "--key", keys.key("app-1")])
        #expect(deleted["status"] as? Int == 204)
        let gone = await Self.check(["get", local, "--app", "app-1", "--key", keys.key("app-1")])
        #expect(gone["status"] as? Int == 404)
        let folder = try #require(gateway.scratch).appendingPathComponent("recordings").path
        #expect((try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty == true, "the file and its timeline are gone")
        try? FileManager.default.removeItem(atPath: saved)
        await caller.stop()
        await gateway.stop()
        app.stop()
        keys.remove()
    }
}

/// Times as the Voice API writes them, read back.
enum VoiceAPITimeText {
    static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }
}

/// Recordings when things go wrong around the gateway: a file system that refuses the file (a file size
/// limit, as a full disk or a quota would), and the process killed mid-recording.
@Suite(.serialized) struct RecordingFailureTests {
    typealias Caller = CallFlowTests.Caller

    static func config(port: Int, dir: URL, app: ScriptedService, keys: RecordingTests.Keys) -> String {
        """
        {"host": "127.0.0.1", "port": \(port),
         "storage": {"database": "\(dir.path)/records.sqlite"},
         "api": {"applications": [{"application_id": "app-1", "public_key": "\(keys.pub("app-1"))"}], "allowed_http_hosts": ["127.0.0.1"]},
         "routes": [{"path": "/r", "mode": "conversation", "application_id": "app-1", "answer_url": "http://127.0.0.1:\(app.port)/r"}]}
        """
    }

    @Test("a file that cannot grow (RLIMIT_FSIZE, as a full disk): the recording fails and says so, its file is gone, the call goes on untouched")
    func fullDisk() async throws {
        let keys = try await RecordingTests.keys()
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/r": [{"ncco": [{"record": {"format": "wav", "split": "conversation", "eventUrl": ["{base}/rec"]}},
                               {"wait": {"timeout": 7}},
                               {"talk": {"text": "The call goes on after the recording failed."}}]}],
             "/rec": [{"empty": true}]}
            """#)
        let dir = try ServeProcessTests.temporaryDirectory()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Files of the process may not grow past 512 KiB: a 24 kHz two-channel wav (96 KB/s) reaches that
        // in about 5 s; the records' database stays far below it. SIGXFSZ ignored: a write past the
        // limit fails with EFBIG, as one on a full disk fails with ENOSPC.
        let (server, port) = try await ServeProcessTests.startServer(
            config: { Self.config(port: $0, dir: dir, app: app, keys: keys) }, in: dir, group: group,
            launching: { path in
                try ChildProcess(
                    URL(fileURLWithPath: "/bin/bash"),
                    ["-c", "trap '' XFSZ; ulimit -f 512; exec \"$0\" serve --config \"$1\"", ServeProcessTests.binary.path, path],
                    inherit: { !$0.hasPrefix("PATCHBAY_") }, workingDirectory: dir)
            })
        let caller = try await Caller.connect(port: port, group: group, path: "/r", rate: 24000)
        caller.tone(600)
        let event = try #require(await RecordingTests.event(app, "/rec", with: "error", timeout: .seconds(20)))
        #expect(event["status"] as? String == "failed" && event["recording_url"] == nil, "\(event)")
        #expect((event["error"] as? String)?.isEmpty == false)
        #expect(!caller.peer.isClosed, "the call is still up")
        // The NCCO goes on: the talk after the wait is heard.
        caller.tone(0)
        #expect(await RecordingTests.heardPrompt(caller), "the talk after the failure")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("recordings").path)) ?? []
        #expect(files.isEmpty, "nothing left behind: \(files)")
        #expect(server.stderr.contains("a recording failed"), "logged")
        await caller.stop()
        await server.stop()
        try? await group.shutdownGracefully()
        app.stop()
        keys.remove()
        try? FileManager.default.removeItem(at: dir)
    }

    @Test(
        "kill -9 mid-recording, then a restart: the recording is finished from what was written — listed, playable, saying so — never left broken",
        arguments: ["wav", "ogg"])
    func killedMidRecording(format: String) async throws {
        let keys = try await RecordingTests.keys()
        let app = try await ScriptedService.nccoApp(
            #"""
            {"/r": [{"ncco": [{"record": {"format": "FORMAT", "split": "conversation"}}, {"wait": {"timeout": 60}}]}]}
            """#.replacingOccurrences(of: "FORMAT", with: format))
        let dir = try ServeProcessTests.temporaryDirectory()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (first, port) = try await ServeProcessTests.startServer(
            config: { Self.config(port: $0, dir: dir, app: app, keys: keys) }, in: dir, group: group)
        let caller = try await Caller.connect(port: port, group: group, path: "/r")
        caller.tone(600)
        #expect(await eventually { app.requests("/r").count == 1 })
        let leg = try #require((app.requests("/r").first?["query"] as? [String: String])?["uuid"])
        try await Task.sleep(for: .seconds(2))
        first.kill()
        _ = await first.waitForExit(timeout: .seconds(10))
        await caller.stop()
        let parts = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("recordings").path)) ?? []
        #expect(parts.contains { $0.hasSuffix(".\(format).part") }, "a file under its temporary name: \(parts)")

        let (second, port2) = try await ServeProcessTests.startServer(
            config: { Self.config(port: $0, dir: dir, app: app, keys: keys) }, in: dir, group: group)
        let call = await RecordingTests.check(["get", "http://127.0.0.1:\(port2)/v1/calls/\(leg)", "--app", "app-1", "--key", keys.key("app-1")])
        let listed = ((call["json"] as? [String: Any])?["recordings"] as? [[String: Any]]) ?? []
        let recording = try #require(listed.first, "\(call)")
        #expect(recording["status"] as? String == "completed", "\(recording)")
        #expect((recording["error"] as? String)?.contains("next start") == true, "\(recording)")
        let url = try #require(recording["recording_url"] as? String)
        let file = try #require(
            await RecordingTests.download(url.replacingOccurrences(of: ":\(port)/", with: ":\(port2)/"), keys: keys, suffix: format))
        let a = await RecordingTests.analyze(file, freqs: [600])
        // A wav keeps every frame written; an Ogg stream keeps its last complete page.
        #expect(a.channels == 2 && a.duration > (format == "wav" ? 1.5 : 0.5) && a.duration < 3, "what was written before the kill: \(a.duration) s")
        #expect(!a.tone(600, on: 0).isEmpty)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("recordings").path)) ?? []
        #expect(!left.contains { $0.hasSuffix(".part") }, "no temporary file left: \(left)")
        try? FileManager.default.removeItem(atPath: file)
        await second.stop()
        try? await group.shutdownGracefully()
        app.stop()
        keys.remove()
        try? FileManager.default.removeItem(at: dir)
    }
}
