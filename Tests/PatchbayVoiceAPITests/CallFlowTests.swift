import Foundation
import PatchbayVoiceAPI
import Testing

/// The NCCO engine as a value, tick by tick with a manual clock: what it asks for at each event.
@Suite struct CallFlowTests {
    typealias Action = CallFlow.Action

    static let rules = NCCORules(
        allowedWebSocketHosts: HostPatterns(["ai.example.com"]), allowedFetchHosts: HostPatterns(["app.example.com"]), jwtSecret: nil,
        maximumTalkCharacters: 1500
    ) { _, _ in .voice("en") }

    /// An NCCO from JSON text, read by the one reader.
    static func ncco(_ json: String) throws -> [NCCOAction] {
        let objects = try JSONDecoder().decode([[String: JSONValue]].self, from: Data(json.utf8))
        var fields = FieldReader(fields: [:])
        let actions = try NCCOAction.read(objects, in: &fields, rules: rules)
        try fields.check()
        return actions
    }

    static func problems(_ json: String) -> [String] {
        guard let objects = try? JSONDecoder().decode([[String: JSONValue]].self, from: Data(json.utf8)) else { return ["json"] }
        var fields = FieldReader(fields: [:])
        _ = try? NCCOAction.read(objects, in: &fields, rules: rules)
        return fields.problems.map { "\($0.0): \($0.1)" }
    }

    static func talk(_ text: String, bargeIn: Bool = false) -> NCCOAction.Talk {
        NCCOAction.Talk(text: text, voice: "en", bargeIn: bargeIn)
    }

    // MARK: Reading

    @Test("the Voice API's actions and defaults, as its SDK writes them")
    func reading() throws {
        let actions = try Self.ncco(
            #"""
            [{"action":"talk","text":"Press 1 for sales","bargeIn":true},
             {"action":"input","type":["dtmf"],"dtmf":{"maxDigits":1,"submitOnHash":true},"eventUrl":["https://app.example.com/ivr"]},
             {"action":"notify","payload":{"step":"menu"},"eventUrl":["https://app.example.com/n"],"eventMethod":"GET"},
             {"action":"wait"},{"action":"wait","timeout":0.01},
             {"action":"conversation","name":"sales","musicOnHoldUrl":["https://app.example.com/hold.mp3"],"endOnExit":true,
              "canHear":["5b2e2a4a-7c1c-4c1e-9d0f-3a6a2a7b8c9d"]},
             {"action":"connect","from":"447700900000","eventType":"synchronous","timeout":5,"limit":60,
              "endpoint":[{"type":"websocket","uri":"wss://ai.example.com/agent","content-type":"audio/l16;rate=16000"}]}]
            """#)
        #expect(actions.count == 7)
        #expect(actions[0] == .talk(Self.talk("Press 1 for sales", bargeIn: true)))
        guard case .input(let input) = actions[1] else { Issue.record("not an input"); return }
        #expect(input.maxDigits == 1 && input.submitOnHash && input.timeOut == 3 && !input.asynchronous)
        #expect(input.eventTarget == .init(url: "https://app.example.com/ivr", method: .post))
        #expect(actions[2] == .notify(.init(payload: ["step": .string("menu")], eventTarget: .init(url: "https://app.example.com/n", method: .get))))
        #expect(actions[3] == .wait(seconds: 10))
        #expect(actions[4] == .wait(seconds: 0.1), "clamped to 0.1 s as the Voice API does")
        guard case .conversation(let c) = actions[5], case .connect(let connect) = actions[6] else { Issue.record("order"); return }
        #expect(c.endOnExit && c.startOnEnter && c.musicOnHoldURL == "https://app.example.com/hold.mp3")
        #expect(c.canHear == [UUID(uuidString: "5b2e2a4a-7c1c-4c1e-9d0f-3a6a2a7b8c9d")!])
        #expect(connect.synchronous && connect.timeout == 5 && connect.limit == 60 && connect.endpoints.count == 1)
    }

    @Test("every bad field named: speech input, a barge-in prompt without an input, hosts, ranges")
    func refusals() {
        let problems = Self.problems(
            #"""
            [{"action":"input","type":["speech"]},
             {"action":"talk","text":"hi","bargeIn":true},
             {"action":"wait","timeout":"x"},
             {"action":"stream","streamUrl":["https://app.example.com/a.mp3"]},
             {"action":"input","type":["dtmf"],"dtmf":{"maxDigits":21,"timeOut":11}},
             {"action":"notify","payload":{}},
             {"action":"conversation","name":"r","mute":true,"canSpeak":["not-a-uuid"]},
             {"action":"record","format":"flac","channels":4},
             {"action":"input","type":["dtmf"],"mode":"asynchronous","dtmf":{"maxDigits":2}}]
            """#)
        let names = problems.map { String($0.prefix(while: { $0 != ":" })) }
        #expect(
            names == [
                "ncco[0].type", "ncco[1].bargeIn", "ncco[2].timeout", "ncco[4].dtmf.maxDigits", "ncco[4].dtmf.timeOut",
                "ncco[5].eventUrl", "ncco[6].canSpeak", "ncco[7].format", "ncco[7].channels", "ncco[8].dtmf",
            ], "\(problems)")
        #expect(problems[0].contains("speech recognition"))
    }

    @Test("an NCCO URL on a host not allowed refuses the NCCO, as a websocket host not allowed does")
    func forbiddenHosts() {
        for json in [
            #"[{"action":"stream","streamUrl":["https://elsewhere.example.net/a.mp3"]}]"#,
            #"[{"action":"notify","payload":{},"eventUrl":["http://10.0.0.1/n"]}]"#,
            #"[{"action":"conversation","name":"r","musicOnHoldUrl":"https://evil.example.org/m.mp3"}]"#,
        ] {
            #expect(throws: NCCORejection.self, "\(json)") { try Self.ncco(json) }
        }
    }

    // MARK: Running

    @Test("talk, then an input that gets its digits, then the answer's NCCO replaces the rest")
    func menu() throws {
        var flow = CallFlow()
        let menu: [NCCOAction] = [
            .talk(Self.talk("Welcome")), .input(.init(maxDigits: 2, timeOut: 3)), .talk(Self.talk("never said")),
        ]
        #expect(flow.handle(.start(menu), at: 0) == [.play(1, .talk(Self.talk("Welcome")))])
        #expect(flow.deadline == nil)
        // A digit during a prompt without bargeIn: nothing collects it.
        #expect(flow.handle(.digit("9", source: .audio), at: 0.5) == [])
        #expect(flow.handle(.playbackEnded(1), at: 2) == [])
        #expect(flow.deadline == 5)
        #expect(flow.handle(.digit("4", source: .audio), at: 3) == [])
        #expect(flow.deadline == 6, "timeOut counts from the last digit")
        #expect(flow.handle(.digit("2", source: .peer), at: 3.5) == [.send(2, .input(digits: "42", timedOut: false), to: nil, awaitsAnswer: true)])
        #expect(flow.deadline == nil)
        // An answer to something else is ignored; the real one's NCCO replaces the rest.
        #expect(flow.handle(.answered(7, ncco: [.wait(seconds: 1)]), at: 3.6) == [])
        #expect(flow.handle(.answered(2, ncco: [.talk(Self.talk("Sales"))]), at: 3.7) == [.play(3, .talk(Self.talk("Sales")))])
        #expect(flow.handle(.playbackEnded(3), at: 5) == [.close(reason: "the NCCO ended")])
        #expect(flow.isFinished)
    }

    @Test("input: submitOnHash, maxDigits, timeOut with and without digits, an empty answer goes on")
    func inputEnds() {
        var flow = CallFlow()
        _ = flow.handle(
            .start([.input(.init(maxDigits: 4, timeOut: 2, submitOnHash: true)), .input(.init(maxDigits: 3, timeOut: 1)), .wait(seconds: 1)]), at: 0)
        _ = flow.handle(.digit("1", source: .audio), at: 0.5)
        #expect(flow.handle(.digit("#", source: .audio), at: 1) == [.send(1, .input(digits: "1", timedOut: false), to: nil, awaitsAnswer: true)])
        #expect(flow.handle(.answered(1, ncco: nil), at: 1.2) == [])
        #expect(flow.deadline == 2.2)
        _ = flow.handle(.digit("#", source: .audio), at: 1.5)  // a digit like any other without submitOnHash
        #expect(flow.tick(at: 2.4) == [])
        #expect(flow.tick(at: 2.5) == [.send(2, .input(digits: "#", timedOut: true), to: nil, awaitsAnswer: true)])
        #expect(flow.handle(.answered(2, ncco: []), at: 2.6) == [])
        #expect(flow.deadline == 3.6, "the wait")
        #expect(flow.tick(at: 3.6) == [.close(reason: "the NCCO ended")])

        var silent = CallFlow()
        _ = silent.handle(.start([.input(.init(timeOut: 3))]), at: 10)
        #expect(silent.tick(at: 13) == [.send(1, .input(digits: "", timedOut: true), to: nil, awaitsAnswer: true)])
    }

    @Test("bargeIn: the prompt plays under the input and stops at the first digit, which the input counts")
    func bargeIn() {
        var flow = CallFlow()
        let prompt = Self.talk("Press a key", bargeIn: true)
        #expect(flow.handle(.start([.talk(prompt), .input(.init(maxDigits: 2, timeOut: 3))]), at: 0) == [.play(1, .talk(prompt))])
        #expect(flow.deadline == nil, "timeOut starts when the prompt is over")
        #expect(flow.handle(.digit("7", source: .peer), at: 1) == [.stop(1)])
        #expect(flow.deadline == 4)
        #expect(flow.handle(.playbackEnded(1), at: 1.02) == [])
        #expect(flow.handle(.digit("8", source: .peer), at: 2) == [.send(2, .input(digits: "78", timedOut: false), to: nil, awaitsAnswer: true)])

        // A prompt that ends on its own starts the input's clock.
        var quiet = CallFlow()
        _ = quiet.handle(.start([.talk(prompt), .input(.init(timeOut: 3))]), at: 0)
        _ = quiet.handle(.playbackEnded(1), at: 5)
        #expect(quiet.deadline == 8)
    }

    @Test("a digit both sources report is counted once; repeats from one source count")
    func digitsOnce() {
        var flow = CallFlow()
        _ = flow.handle(.start([.input(.init(maxDigits: 4, timeOut: 5))]), at: 0)
        _ = flow.handle(.digit("1", source: .audio), at: 1)
        _ = flow.handle(.digit("1", source: .peer), at: 1.1)  // the same press, told by the Voice API
        _ = flow.handle(.digit("1", source: .audio), at: 1.5)  // pressed again
        #expect(flow.handle(.digit("2", source: .peer), at: 2) == [])
        #expect(flow.tick(at: 7) == [.send(1, .input(digits: "112", timedOut: true), to: nil, awaitsAnswer: true)])

        var d = DigitDeduplicator(window: 1.5)
        let first = d.accept("5", from: .peer, at: 0)
        let echoed = d.accept("5", from: .audio, at: 0.2)
        let later = d.accept("5", from: .audio, at: 2)
        #expect(first && !echoed)
        #expect(later, "outside the window: a new press")
    }

    @Test("asynchronous input: each digit reported at once, and the NCCO goes on")
    func asynchronousInput() {
        var flow = CallFlow()
        let target = NCCOAction.EventTarget(url: "https://app.example.com/d")
        #expect(flow.handle(.start([.input(.init(asynchronous: true, eventTarget: target)), .wait(seconds: 30)]), at: 0) == [])
        #expect(flow.deadline == 30)
        #expect(flow.handle(.digit("3", source: .audio), at: 1) == [.send(1, .digit("3"), to: target, awaitsAnswer: false)])
    }

    @Test("notify waits for its answer; a transfer replaces a waiting NCCO and stops its prompt")
    func notifyAndTransfer() {
        var flow = CallFlow()
        let target = NCCOAction.EventTarget(url: "https://app.example.com/n")
        let actions = flow.handle(.start([.notify(.init(payload: ["a": .number(1)], eventTarget: target)), .talk(Self.talk("after"))]), at: 0)
        #expect(actions == [.send(1, .notify(["a": .number(1)]), to: target, awaitsAnswer: true)])
        #expect(flow.handle(.answered(1, ncco: nil), at: 1) == [.play(2, .talk(Self.talk("after")))])
        #expect(flow.handle(.start([.wait(seconds: 2)]), at: 1.5) == [.stop(2)])
        #expect(flow.handle(.playbackEnded(2), at: 1.52) == [], "the stopped prompt's end does not move the new NCCO on")
        #expect(flow.tick(at: 3.5) == [.close(reason: "the NCCO ended")])
    }

    @Test("conversation: music until another leg is in and it has started; held until started; ended by endOnExit")
    func conversation() {
        var flow = CallFlow()
        let room = NCCOAction.Conversation(name: "room", musicOnHoldURL: "https://app.example.com/moh.mp3", startOnEnter: false)
        #expect(
            flow.handle(.start([.conversation(room), .talk(Self.talk("bye"))]), at: 0) == [
                .join(room), .hold(true), .play(1, .music(url: "https://app.example.com/moh.mp3")),
            ])
        #expect(flow.handle(.conversation(others: 0, started: false), at: 0.1) == [])
        #expect(flow.handle(.conversation(others: 1, started: false), at: 5) == [], "another waiting leg: still on hold")
        #expect(flow.handle(.conversation(others: 2, started: true), at: 6) == [.hold(false), .stop(1)])
        #expect(flow.handle(.conversation(others: 0, started: true), at: 9) == [.play(2, .music(url: "https://app.example.com/moh.mp3"))])
        #expect(flow.handle(.conversationEnded, at: 10) == [.stop(2), .play(3, .talk(Self.talk("bye")))])
    }

    @Test("connect: synchronous waits for the service's end and takes the answer; timeout and limit hang up")
    func connect() throws {
        let endpoint = try JSONDecoder().decode(
            WebSocketEndpoint.self, from: Data(#"{"type":"websocket","uri":"wss://ai.example.com/a","content-type":"audio/l16;rate=16000"}"#.utf8))
        let target = NCCOAction.EventTarget(url: "https://app.example.com/c")
        let sync = NCCOAction.Connect(endpoints: [endpoint], eventTarget: target, synchronous: true, timeout: 5, limit: 60)
        var flow = CallFlow()
        #expect(flow.handle(.start([.connect(sync), .talk(Self.talk("agent left"))]), at: 0) == [.connect(1, sync)])
        #expect(flow.deadline == 5)
        _ = flow.handle(.connected(1), at: 1)
        #expect(flow.deadline == 61)
        #expect(
            flow.handle(.connectEnded(1, reason: "service closed (1000)", answered: true), at: 20) == [
                .send(2, .connectEnded(status: "completed", reason: "service closed (1000)"), to: target, awaitsAnswer: true)
            ])
        #expect(flow.handle(.answered(2, ncco: nil), at: 20.1) == [.play(3, .talk(Self.talk("agent left")))])

        // Not answered within its timeout.
        var late = CallFlow()
        _ = late.handle(.start([.connect(sync)]), at: 0)
        #expect(
            late.tick(at: 5) == [
                .hangUp(1), .send(2, .connectEnded(status: "timeout", reason: "not answered in time"), to: target, awaitsAnswer: true),
            ])
        #expect(late.handle(.answered(2, ncco: nil), at: 5.1) == [.close(reason: "the NCCO ended")])

        // Without eventType synchronous the NCCO goes on; the service keeps the leg until its limit.
        var background = CallFlow()
        var async = sync
        async.synchronous = false
        #expect(background.handle(.start([.connect(async)]), at: 0) == [.connect(1, async)])
        _ = background.handle(.connected(1), at: 1)
        #expect(background.tick(at: 61) == [.hangUp(1), .close(reason: "the NCCO ended")])
    }

    @Test("the leg's end stops everything")
    func legEnded() {
        var flow = CallFlow()
        _ = flow.handle(.start([.wait(seconds: 5)]), at: 0)
        #expect(flow.handle(.legEnded, at: 1) == [])
        #expect(flow.isFinished && flow.deadline == nil)
        #expect(flow.handle(.start([.talk(Self.talk("x"))]), at: 2) == [])
    }
}
