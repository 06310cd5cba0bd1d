import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PatchbayDSP
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import Testing

@testable import PatchbayServerTestSupport

/// The control API steering live legs over real https with real RS256 JWTs: mute, earmuff, hangup,
/// stream, talk (espeak-ng), DTMF and transfer, heard by real websocket peers; and every kind of bad
/// request.
@Suite(.serialized) struct ControlActionsTests {
    typealias Fixture = ControlFixture

    /// How loud a 1 kHz tone `a` sends for 500 ms is in what `b` hears (100...400 ms into it).
    static func heard(_ b: TestPeer, from a: TestPeer) async throws -> Double {
        let before = b.receivedSamples.count
        try await stream(a, frames: 25, frameSamples: 320) { Tone.sine(1000, rate: 16000, count: 320, amplitude: 8192, offset: 320 * $0) }
        let arrived = await eventually { b.receivedSamples.count >= before + 6400 }
        #expect(arrived)
        return Tone.amplitude(of: b.receivedSamples.dropFirst(before + 1600).prefix(4800), at: 1000, rate: 16000)
    }

    @Test("PUT mute, unmute, earmuff, unearmuff change what the legs hear (204); hangup closes the leg with 1000")
    func muteEarmuffHangup() async throws {
        let f = try await Fixture.make()
        let token = try await f.token("app-1")
        let a = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        let b = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await a.sendConnected(rate: 16000, extra: #","conversation":"room""#)
        _ = await f.gateway.waitForLegs(1)
        let aID = try #require(f.gateway.server.engine.legs.first?.id).uuidString.lowercased()
        try await b.sendConnected(rate: 16000, extra: #","conversation":"room""#)
        let bID = try #require(await f.gateway.waitForLegs(2).first { $0.id.uuidString.lowercased() != aID }?.id).uuidString.lowercased()
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(bID)", as: token))?.0 == .ok })

        #expect(try await Self.heard(b, from: a) > 7000)
        #expect(try await f.request(.PUT, "/v1/calls/\(aID)", body: #"{"action":"mute"}"#, as: token).0 == .noContent)
        #expect(try await Self.heard(b, from: a) < 10)
        #expect(try await f.request(.PUT, "/v1/calls/\(aID)", body: #"{"action":"unmute"}"#, as: token).0 == .noContent)
        #expect(try await f.request(.PUT, "/v1/calls/\(bID)", body: #"{"action":"earmuff"}"#, as: token).0 == .noContent)
        #expect(try await Self.heard(b, from: a) < 10)
        #expect(try await f.request(.PUT, "/v1/calls/\(bID)", body: #"{"action":"unearmuff"}"#, as: token).0 == .noContent)
        #expect(try await Self.heard(b, from: a) > 7000)

        #expect(try await f.request(.PUT, "/v1/calls/\(aID)", body: #"{"action":"hangup"}"#, as: token).0 == .noContent)
        #expect(await eventually { a.received.closeCode == .normalClosure })
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(aID)", as: token))?.1["status"] as? String == "completed" })
        // A completed call cannot be steered: 409.
        let (conflict, body) = try await f.request(.PUT, "/v1/calls/\(aID)", body: #"{"action":"mute"}"#, as: token)
        #expect(conflict == .conflict && body["title"] as? String == "Conflict", "\(body)")
        // Another application's leg does not exist for app-2.
        let t2 = try await f.token("app-2")
        #expect(try await f.request(.PUT, "/v1/calls/\(bID)", body: #"{"action":"mute"}"#, as: t2).0 == .notFound)
        await b.close()
        await f.stop()
    }

    @Test("stream, talk and dtmf: 200 with the Voice API's messages, heard by the leg; DELETE stops them")
    func streamTalkDTMF() async throws {
        let wav = try Data(contentsOf: testdata.appendingPathComponent("sine1k-s16-mono-16k.wav"))
        let f = try await Fixture.make()
        let http = try await TestHTTPServer(routes: ["/tone.wav": .body(Array(wav), contentType: "audio/wav")], group: f.gateway.clients)
        let token = try await f.token("app-1")
        let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await peer.sendConnected(rate: 16000)
        let leg = try #require(await f.gateway.waitForLegs(1).first)
        let id = leg.id.uuidString.lowercased()
        let events = f.gateway.server.engine.events.subscribe()

        // A stream, looped, at -0.5: a 1 kHz tone at a known level; then stopped.
        let (started, message) = try await f.request(
            .PUT, "/v1/calls/\(id)/stream", body: #"{"stream_url":["\#(http.url("/tone.wav"))"],"loop":0,"level":-0.5}"#, as: token)
        #expect(started == .ok && message["message"] as? String == "Stream started" && message["uuid"] as? String == id, "\(message)")
        var mark = peer.receivedSamples.count
        #expect(await eventually { peer.receivedSamples.count >= mark + 8000 })
        let level = Tone.amplitude(of: peer.receivedSamples.dropFirst(mark + 1600).prefix(4800), at: 1000, rate: 16000)
        #expect(abs(20 * log10(level / (16384 * pow(10, -0.5)))) < 1, "1 kHz at \(level)")
        let (stopped, stopMessage) = try await f.request(.DELETE, "/v1/calls/\(id)/stream", as: token)
        #expect(stopped == .ok && stopMessage["message"] as? String == "Stream stopped")

        // Talk: speech, spoken by espeak-ng at the leg's rate.
        let (talking, talkMessage) = try await f.request(
            .PUT, "/v1/calls/\(id)/talk", body: #"{"text":"Hello from the control API.","language":"en-US","level":0}"#, as: token)
        #expect(talking == .ok && talkMessage["message"] as? String == "Talk started", "\(talkMessage)")
        var talkDone = false
        var streamStopped = false
        for try await event in events {
            if case .playerFinished(_, .talk, let wasStopped) = event.kind, !wasStopped { talkDone = true }
            if case .playerFinished(_, .stream, true) = event.kind { streamStopped = true }
            if talkDone { break }
        }
        #expect(talkDone && streamStopped)
        let speech = peer.receivedSamples.dropFirst(mark + 8000)
        let loudest =
            stride(from: speech.startIndex, to: speech.endIndex - 320, by: 320).map { i in
                speech[i..<(i + 320)].reduce(0.0) { $0 + Double($1) * Double($1) } / 320
            }.max() ?? 0
        #expect(loudest.squareRoot() > 1000, "the speech peaks at \(loudest.squareRoot()) rms")
        #expect(try await f.request(.DELETE, "/v1/calls/\(id)/talk", as: token).1["message"] as? String == "Talk stopped")

        // DTMF: the far side detects the digits.
        mark = peer.receivedSamples.count
        let (sent, dtmfMessage) = try await f.request(.PUT, "/v1/calls/\(id)/dtmf", body: #"{"digits":"159#"}"#, as: token)
        #expect(sent == .ok && dtmfMessage["message"] as? String == "DTMF sent")
        #expect(await eventually { peer.receivedSamples.count >= mark + 16000 })
        var detector = DTMFDetector(sampleRate: 16000)
        var digits = ""
        Array(peer.receivedSamples.dropFirst(mark)).withUnsafeBufferPointer { detector.process($0) { digits.append($0.digit) } }
        detector.flush { digits.append($0.digit) }
        #expect(digits == "159#")
        await peer.close()
        await http.stop()
        await f.stop()
    }

    @Test("bad requests: 400 naming every bad field, 404, 405, 409, 413, 422 (echo leg, not audio), 403 (host not allowed)")
    func badRequests() async throws {
        let f = try await Fixture.make { c in
            c.routes.append(.init(path: "/echo", mode: .echo, applicationID: "app-1"))
            c.api.allowedWebSocketHosts = ["*.example.com"]
        }
        let http = try await TestHTTPServer(
            routes: ["/text.wav": .body(Array("not audio".utf8), contentType: "audio/wav")], group: f.gateway.clients)
        let token = try await f.token("app-1")
        let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await peer.sendConnected(rate: 8000)
        let id = try #require(await f.gateway.waitForLegs(1).first?.id).uuidString.lowercased()
        func names(_ body: [String: Any]) -> Set<String> {
            Set((body["invalid_parameters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        }
        let cases: [(String, String, Set<String>)] = [
            ("/v1/calls/\(id)", "not json", ["body"]),
            ("/v1/calls/\(id)", "[1]", ["body"]),
            ("/v1/calls/\(id)", #"{}"#, ["action"]),
            ("/v1/calls/\(id)", #"{"action":"explode"}"#, ["action"]),
            ("/v1/calls/\(id)", #"{"action":"transfer"}"#, ["destination"]),
            (
                "/v1/calls/\(id)",
                #"{"action":"transfer","destination":{"type":"ncco","ncco":[{"action":"conversation"},{"action":"record","format":"flac"},{"action":"talk","text":7,"loop":-1},{"action":"connect","endpoint":[{"type":"phone","number":"447700900000"}]}]}}"#,
                [
                    "destination.ncco[0].name", "destination.ncco[1].format", "destination.ncco[2].text", "destination.ncco[2].loop",
                    "destination.ncco[3].endpoint[0].type",
                ]
            ),
            ("/v1/calls/\(id)/stream", #"{"stream_url":["file:///etc/passwd"],"level":3}"#, ["stream_url", "level"]),
            ("/v1/calls/\(id)/stream", #"{"loop":"twice"}"#, ["stream_url", "loop"]),
            ("/v1/calls/\(id)/talk", #"{"text":"","language":"xx-XX","style":99}"#, ["text", "language"]),
            ("/v1/calls/\(id)/talk", #"{"text":"hi","style":99,"premium":"yes"}"#, ["style", "premium"]),
            ("/v1/calls/\(id)/dtmf", #"{"digits":"12x"}"#, ["digits"]),
            ("/v1/calls/\(id)/dtmf", #"{"digits":5}"#, ["digits"]),
        ]
        for (path, body, expected) in cases {
            let (status, answer) = try await f.request(.PUT, path, body: body, as: token)
            #expect(status == .badRequest && names(answer) == expected, "\(path) \(body): \(status) \(answer)")
            #expect(answer["title"] as? String == "Bad Request" && answer["type"] is String && answer["detail"] is String)
        }
        let unknown = UUID().uuidString.lowercased()
        #expect(try await f.request(.PUT, "/v1/calls/\(unknown)", body: #"{"action":"mute"}"#, as: token).0 == .notFound)
        #expect(try await f.request(.PUT, "/v1/calls/\(unknown)/dtmf", body: #"{"digits":"1"}"#, as: token).0 == .notFound)
        #expect(try await f.request(.PUT, "/v1/calls/not-a-uuid/talk", body: #"{"text":"hi"}"#, as: token).0 == .notFound)
        #expect(try await f.request(.POST, "/v1/calls/\(id)/dtmf", body: #"{"digits":"1"}"#, as: token).0 == .methodNotAllowed)
        #expect(try await f.request(.DELETE, "/v1/calls/\(id)", as: token).0 == .methodNotAllowed)
        #expect(try await f.request(.PUT, "/v1/calls/\(id)", body: #"{"action":"mute"}"#, as: nil).0 == .unauthorized)
        let huge = #"{"action":"mute","pad":""# + String(repeating: "x", count: 70_000) + #""}"#
        #expect(try await f.request(.PUT, "/v1/calls/\(id)", body: huge, as: token).0 == .payloadTooLarge)
        let (notAudio, why) = try await f.request(.PUT, "/v1/calls/\(id)/stream", body: #"{"stream_url":["\#(http.url("/text.wav"))"]}"#, as: token)
        #expect(notAudio == .unprocessableEntity, "\(why)")
        let forbidden =
            #"{"action":"transfer","destination":{"type":"ncco","ncco":[{"action":"connect","endpoint":[{"type":"websocket","uri":"ws://10.0.0.1:8080/ai","content-type":"audio/l16;rate=16000"}]}]}}"#
        #expect(try await f.request(.PUT, "/v1/calls/\(id)", body: forbidden, as: token).0 == .forbidden)

        let echo = try await TestPeer.connect(port: f.gateway.port, path: "/echo", group: f.gateway.clients, tls: true)
        try await echo.sendConnected(rate: 8000)
        let echoID = try #require(await f.gateway.waitForLegs(2).first { $0.isEcho }?.id).uuidString.lowercased()
        #expect(try await f.request(.PUT, "/v1/calls/\(echoID)/dtmf", body: #"{"digits":"1"}"#, as: token).0 == .unprocessableEntity)
        // The gateway and the leg carry on: the leg still answers to a good request.
        #expect(try await f.request(.PUT, "/v1/calls/\(id)/dtmf", body: #"{"digits":"1"}"#, as: token).0 == .ok)
        await echo.close()
        await peer.close()
        await http.stop()
        await f.stop()
    }

    @Test("transfer: an NCCO's talk plays to its end, then conversation moves the leg (new conversation_uuid); the legs hear each other")
    func transfer() async throws {
        let f = try await Fixture.make()
        let token = try await f.token("app-1")
        let a = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await a.sendConnected(rate: 16000, extra: #","conversation":"lobby""#)
        let aID = try #require(await f.gateway.waitForLegs(1).first?.id).uuidString.lowercased()
        let b = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await b.sendConnected(rate: 16000, extra: #","conversation":"meeting""#)
        let bID = try #require(await f.gateway.waitForLegs(2).first { $0.id.uuidString.lowercased() != aID }?.id).uuidString.lowercased()
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(bID)", as: token))?.0 == .ok })
        let before = try await f.get("/v1/calls/\(aID)", as: token).1["conversation_uuid"] as? String
        let meeting = try await f.get("/v1/calls/\(bID)", as: token).1["conversation_uuid"] as? String
        #expect(before != nil && before != meeting)
        #expect(try await Self.heard(b, from: a) < 10)

        let events = f.gateway.server.engine.events.subscribe()
        let ncco = #"[{"action":"talk","text":"Joining the meeting."},{"action":"conversation","name":"meeting"}]"#
        let (status, _) = try await f.request(
            .PUT, "/v1/calls/\(aID)", body: #"{"action":"transfer","destination":{"type":"ncco","ncco":\#(ncco)}}"#, as: token)
        #expect(status == .noContent)
        var order: [String] = []
        for try await event in events where event.leg.uuidString.lowercased() == aID {
            if case .playerFinished(_, .talk, false) = event.kind { order.append("talk done") }
            if case .transferred(let from) = event.kind {
                order.append("moved from \(from) to \(event.conversation)")
                break
            }
        }
        #expect(order == ["talk done", "moved from lobby to meeting"])
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(aID)", as: token))?.1["conversation_uuid"] as? String == meeting })
        #expect(try await Self.heard(b, from: a) > 7000)
        await a.close()
        await b.close()
        await f.stop()
    }
    @Test("the Voice API's own Python SDK steers a live call unchanged: mute, earmuff, stream, talk, DTMF, transfer, hangup")
    func pythonSDKSteers() async throws {
        let wav = try Data(contentsOf: testdata.appendingPathComponent("sine1k-s16-mono-16k.wav"))
        let f = try await Fixture.make()
        let http = try await TestHTTPServer(routes: ["/tone.wav": .body(Array(wav), contentType: "audio/wav")], group: f.gateway.clients)
        let token = try await f.token("app-1")
        let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await peer.sendConnected(rate: 16000, extra: #","conversation":"lobby""#)
        let id = try #require(await f.gateway.waitForLegs(1).first?.id).uuidString.lowercased()
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(id)", as: token))?.0 == .ok })
        let lobby = try await f.get("/v1/calls/\(id)", as: token).1["conversation_uuid"] as? String
        let cue = f.tls.directory.appendingPathComponent("heard-the-digits")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../python/vonage_sdk_client.py")
        let run = Task {
            await ChildProcess.python(
                [
                    script.standardizedFileURL.path, "--host", "127.0.0.1:\(f.gateway.port)", "--application-id", "app-1",
                    "--private-key", f.tls.directory.appendingPathComponent("app-1.key").path, "--steer", id,
                    "--stream-url", http.url("/tone.wav"), "--conversation", "meeting", "--pause-file", cue.path,
                ],
                environment: ["REQUESTS_CA_BUNDLE": f.tls.certificate, "CURL_CA_BUNDLE": f.tls.certificate], timeout: .seconds(90))
        }
        // The digits the SDK sent, heard by the caller: then the script may hang up.
        let heardDigits = await eventually(timeout: .seconds(60)) {
            var detector = DTMFDetector(sampleRate: 16000)
            var digits = ""
            peer.receivedSamples.withUnsafeBufferPointer { detector.process($0) { digits.append($0.digit) } }
            return digits.contains("159#")
        }
        #expect(heardDigits)
        FileManager.default.createFile(atPath: cue.path, contents: nil)
        let result = await run.value
        #expect(result.status == 0 && !result.timedOut, "\(result.output)")
        let lines = result.output.split(separator: "\n").compactMap {
            $0.hasPrefix("{") ? (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] : nil
        }
        let ops = lines.compactMap { $0["op"] as? String }
        #expect(
            ops == [
                "mute", "unmute", "earmuff", "unearmuff", "stream", "stream-stop", "talk", "talk-stop", "dtmf", "transfer", "get", "hangup",
            ], "\(result.output)")
        let messages = lines.compactMap { $0["message"] as? String }
        #expect(messages == ["Stream started", "Stream stopped", "Talk started", "Talk stopped", "DTMF sent"])
        #expect(lines.filter { $0["message"] != nil }.allSatisfy { $0["uuid"] as? String == id })
        #expect(await eventually { peer.received.closeCode == .normalClosure })
        let record = try await f.get("/v1/calls/\(id)", as: token).1
        #expect(record["conversation_uuid"] as? String != lobby, "the transfer gave the leg the meeting's conversation")
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(id)", as: token))?.1["status"] as? String == "completed" })
        await peer.close()
        await http.stop()
        await f.stop()
    }
    @Test("POST /v1/calls dials a websocket service into a live conversation (201); the caller hears it; hangup ends it")
    func createCall() async throws {
        let service = try await ScriptedService.python(["--mode", "echo", "--lifetime", "120"])
        defer { service.stop() }
        let f = try await Fixture.make { c in c.api.allowedWebSocketHosts = ["127.0.0.1"] }
        let token = try await f.token("app-1")
        let caller = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await caller.sendConnected(rate: 16000, extra: #","conversation":"room""#)
        let callerID = try #require(await f.gateway.waitForLegs(1).first?.id).uuidString.lowercased()
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(callerID)", as: token))?.0 == .ok })
        let room = try await f.get("/v1/calls/\(callerID)", as: token).1["conversation_uuid"] as? String
        #expect(try await Self.heard(caller, from: caller) < 10, "alone in the room, the caller hears nothing")

        let body = """
            {"to":[{"type":"websocket","uri":"ws://127.0.0.1:\(service.port)/agent","content-type":"audio/l16;rate=16000",
                    "headers":{"who":"{caller.from}"}}],
             "from":{"type":"phone","number":"447700900777"},
             "ncco":[{"action":"conversation","name":"room"}]}
            """
        let (status, created) = try await f.request(.POST, "/v1/calls", body: body, as: token)
        #expect(status == .created && created["status"] as? String == "started" && created["direction"] as? String == "outbound", "\(created)")
        #expect(created["conversation_uuid"] as? String == room)
        let id = try #require(created["uuid"] as? String)
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(id)", as: token))?.1["status"] as? String == "answered" })
        let connected = service.reports.first { ($0["msg"] as? [String: Any])?["event"] as? String == "websocket:connected" }
        #expect((connected?["msg"] as? [String: Any])?["who"] as? String == "447700900777", "\(service.reports)")
        // The service echoes the caller: the caller hears its own tone back through it.
        #expect(try await Self.heard(caller, from: caller) > 5000)
        let record = try await f.get("/v1/calls/\(id)", as: token).1
        #expect((record["from"] as? [String: Any])?["number"] as? String == "447700900777")
        #expect((record["to"] as? [String: Any])?["uri"] as? String == "ws://127.0.0.1:\(service.port)/agent")

        #expect(try await f.request(.PUT, "/v1/calls/\(id)", body: #"{"action":"hangup"}"#, as: token).0 == .noContent)
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(id)", as: token))?.1["status"] as? String == "completed" })
        #expect(await eventually { service.reports.contains { $0["ev"] as? String == "close" && $0["code"] as? Int == 1000 } })
        // The caller is still there.
        #expect(try await f.get("/v1/calls/\(callerID)", as: token).1["status"] as? String == "answered")

        // A service that cannot be reached: 201, then failed. Bad bodies: 400 naming the fields.
        let (dead, deadCall) = try await f.request(
            .POST, "/v1/calls",
            body: #"{"to":[{"type":"websocket","uri":"ws://127.0.0.1:1/x","retry_deadline":0}],"ncco":[{"action":"conversation","name":"room"}]}"#,
            as: token)
        #expect(dead == .created)
        let deadID = try #require(deadCall["uuid"] as? String)
        #expect(await eventuallyAsync { (try? await f.get("/v1/calls/\(deadID)", as: token))?.1["status"] as? String == "failed" })
        let (bad, problem) = try await f.request(
            .POST, "/v1/calls", body: #"{"to":[{"type":"phone","number":"447700900000"}],"answer_url":["https://x"]}"#, as: token)
        let names = Set((problem["invalid_parameters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        #expect(bad == .badRequest && names == ["to[0].type", "answer_url", "ncco"], "\(problem)")
        let forbidden = #"{"to":[{"type":"websocket","uri":"ws://10.1.2.3/x"}],"ncco":[{"action":"conversation","name":"room"}]}"#
        #expect(try await f.request(.POST, "/v1/calls", body: forbidden, as: token).0 == .forbidden)
        await caller.close()
        await f.stop()
    }
    @Test("api.listen: the API on a listener of its own (same TLS); the media listener answers /v1/ with 404")
    func separateListener() async throws {
        let f = try await Fixture.make { c in c.api.listen = "127.0.0.1:0" }
        let token = try await f.token("app-1")
        let port = try #require(f.gateway.server.apiAddress?.port)
        #expect(port != f.gateway.port)
        #expect(try await f.get("/v1/calls", as: token).0 == .notFound)
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/v1/calls")
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        let response = try await f.client.execute(request, timeout: .seconds(10))
        #expect(response.status == .ok)
        let health = try await f.client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(port)/health"), timeout: .seconds(10))
        #expect(health.status == .ok)
        let socket = try await f.client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(port)/socket"), timeout: .seconds(10))
        #expect(socket.status == .notFound, "no websocket routes on the API's listener")
        // The media listener still takes legs.
        let peer = try await TestPeer.connect(port: f.gateway.port, path: "/socket", group: f.gateway.clients, tls: true)
        try await peer.sendConnected(rate: 8000)
        #expect(await f.gateway.waitForLegs(1).count == 1)
        await peer.close()
        await f.stop()
    }
    @Test("api.requests_per_second: over it an application gets 429 with Retry-After; another application is not slowed")
    func rateLimited() async throws {
        let f = try await Fixture.make { c in c.api.requestsPerSecond = 2 }
        let token = try await f.token("app-1")
        var statuses: [HTTPResponseStatus] = []
        for _ in 0..<6 { statuses.append(try await f.get("/v1/calls", as: token).0) }
        #expect(statuses.prefix(2).allSatisfy { $0 == .ok })
        #expect(statuses.filter { $0 == .tooManyRequests }.count >= 3, "\(statuses)")
        var request = HTTPClientRequest(url: f.base + "/v1/calls")
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        let limited = try await f.client.execute(request, timeout: .seconds(10))
        #expect(limited.status == .tooManyRequests)
        let wait = try #require(limited.headers.first(name: "retry-after").flatMap(Int.init))
        #expect((1...2).contains(wait))
        #expect(try await f.get("/v1/calls", as: try await f.token("app-2")).0 == .ok)
        try await Task.sleep(for: .seconds(wait))
        #expect(try await f.get("/v1/calls", as: token).0 == .ok)
        await f.stop()
    }
}
