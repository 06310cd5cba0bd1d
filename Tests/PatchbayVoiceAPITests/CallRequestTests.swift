import Foundation
import PatchbayVoiceAPI
import Testing

/// The control API's request bodies and NCCOs, read as values: one reader for `transfer`, `POST /v1/calls`
/// and the stream, talk and dtmf bodies, naming every bad field as the Voice API does.
@Suite struct CallRequestTests {
    static let rules = NCCORules(
        allowedWebSocketHosts: HostPatterns(["ai.example.com", "*.agents.example.com"]), jwtSecret: nil, maximumTalkCharacters: 100
    ) { language, style in
        guard language.hasPrefix("en") || language == "de-DE" else { return .unknownLanguage }
        return style < 4 ? .voice("gmw/en+\(style)") : .unsupportedStyle(styles: 4)
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func problems(_ body: () throws(CallRequestError) -> Void) -> [String] {
        do {
            try body()
            return []
        } catch .invalid(let invalid) {
            return invalid.problems.map(\.name)
        } catch {
            return ["\(error)"]
        }
    }

    @Test("PUT /v1/calls/{uuid}: each action, and a transfer's NCCO read whole")
    func modification() throws {
        #expect(try CallRequest.modification(Self.bytes(#"{"action":"mute"}"#), rules: Self.rules) == .mute)
        let ncco = #"""
            {"action":"transfer","destination":{"type":"ncco","ncco":[
              {"action":"talk","text":"Hello","language":"en-GB","style":2,"loop":2,"level":0.5},
              {"action":"stream","streamUrl":["https://cdn.example.com/hold.mp3"],"loop":0},
              {"action":"conversation","name":"support"},
              {"action":"connect","endpoint":[{"type":"websocket","uri":"wss://ai.example.com/v","content-type":"audio/l16;rate=16000"}]}]}}
            """#
        guard case .transfer(let actions) = try CallRequest.modification(Self.bytes(ncco), rules: Self.rules) else {
            Issue.record("not a transfer")
            return
        }
        #expect(actions.count == 4)
        #expect(actions[0] == .talk(.init(text: "Hello", voice: "gmw/en+2", loop: 2, level: 0.5)))
        #expect(actions[1] == .stream(.init(url: "https://cdn.example.com/hold.mp3", loop: 0, level: 0)))
        #expect(actions[2] == .conversation(.init(name: "support")))
        guard case .connect(let connect) = actions[3] else {
            Issue.record("not a connect")
            return
        }
        #expect(connect.endpoints.map(\.uri) == ["wss://ai.example.com/v"] && connect.endpoints[0].sampleRate == 16000)
    }

    @Test("every bad field of a transfer is named, nested as destination.ncco[i].field")
    func badTransfer() {
        let ncco = #"""
            {"action":"transfer","destination":{"type":"ncco","ncco":[
              {"action":"talk","text":"   ","style":9},
              {"action":"talk","text":"Hallo","language":"xx-YY"},
              {"action":"stream","streamUrl":["ftp://x", "https://y"],"level":3},
              {"action":"conversation","name":""},
              {"action":"record","endOnKey":"x"},
              {"action":"connect","endpoint":[{"type":"phone","number":"1"}]},
              {"action":"talk","text":null}]}}
            """#
        let names = Self.problems { () throws(CallRequestError) in _ = try CallRequest.modification(Self.bytes(ncco), rules: Self.rules) }
        #expect(
            names == [
                "destination.ncco[0].text", "destination.ncco[0].style", "destination.ncco[1].language", "destination.ncco[2].streamUrl",
                "destination.ncco[2].level", "destination.ncco[3].name", "destination.ncco[4].endOnKey",
                "destination.ncco[5].endpoint[0].type", "destination.ncco[6].text",
            ], "\(names)")
        #expect(
            Self.problems { () throws(CallRequestError) in _ = try CallRequest.modification(Self.bytes(#"{"action":"jump"}"#), rules: Self.rules) }
                == ["action"])
        #expect(
            Self.problems { () throws(CallRequestError) in _ = try CallRequest.modification(Self.bytes("[1]"), rules: Self.rules) } == ["body"])
        #expect(
            Self.problems { () throws(CallRequestError) in
                _ = try CallRequest.modification(Self.bytes(#"{"action":"transfer","destination":{"type":"url"}}"#), rules: Self.rules)
            } == ["destination.type", "destination.ncco"])
    }

    @Test("a connect to a host the allow list does not name is refused as a whole (403); no speech at all is a 503")
    func rejections() {
        let elsewhere =
            #"{"action":"transfer","destination":{"type":"ncco","ncco":[{"action":"connect","endpoint":[{"type":"websocket","uri":"wss://intranet.local/x"}]}]}}"#
        #expect(throws: CallRequestError.rejected(.forbiddenHost("wss://intranet.local/x"))) {
            try CallRequest.modification(Self.bytes(elsewhere), rules: Self.rules)
        }
        var mute = Self.rules
        mute.voice = { _, _ in .unavailable("espeak-ng has no data") }
        #expect(throws: CallRequestError.rejected(.speechUnavailable("espeak-ng has no data"))) {
            try CallRequest.talk(Self.bytes(#"{"text":"hi"}"#), rules: mute)
        }
        #expect(
            Self.problems { () throws(CallRequestError) in
                _ = try CallRequest.talk(Self.bytes(#"{"text":"\#(String(repeating: "a", count: 101))"}"#), rules: Self.rules)
            } == ["text"])
    }

    @Test("POST /v1/calls: the endpoint read as a connect action's, the caller's number, the Voice API's fields Patchbay cannot honour named")
    func creation() throws {
        let body = #"""
            {"to":[{"type":"websocket","uri":"wss://x.agents.example.com/a","headers":{"who":"{caller.from}"}}],
             "from":{"type":"phone","number":"447700900001"},"random_from_number":false,"length_timer":60,
             "ncco":[{"action":"conversation","name":"room"}]}
            """#
        let call = try CallRequest.creation(Self.bytes(body), rules: Self.rules)
        #expect(call.endpoint.uri == "wss://x.agents.example.com/a")
        #expect(call.from == ["type": "phone", "number": "447700900001"] && call.headers == ["from": "447700900001"])
        #expect(call.ncco == [.conversation(.init(name: "room"))])
        let bad = #"{"to":[{"type":"sip","uri":"sip:x"}],"answer_url":["https://a"],"event_url":["https://e"],"from":{"type":"app"}}"#
        #expect(
            Self.problems { () throws(CallRequestError) in _ = try CallRequest.creation(Self.bytes(bad), rules: Self.rules) }
                == ["to[0].type", "from.type", "answer_url", "event_url", "ncco"])
        let twoRates = #"{"to":[{"type":"websocket","uri":"wss://ai.example.com/a","content-type":"audio/l16;rate=11025"}],"ncco":[]}"#
        let problems = Self.problems { () throws(CallRequestError) in _ = try CallRequest.creation(Self.bytes(twoRates), rules: Self.rules) }
        #expect(problems == ["to[0]", "ncco"], "\(problems)")
    }

    @Test("the digits, stream and talk bodies")
    func mediaBodies() throws {
        #expect(try CallRequest.digits(Self.bytes(#"{"digits":"12p#"}"#)) == "12p#")
        #expect(Self.problems { () throws(CallRequestError) in _ = try CallRequest.digits(Self.bytes(#"{"digits":"12x"}"#)) } == ["digits"])
        #expect(Self.problems { () throws(CallRequestError) in _ = try CallRequest.digits([]) } == ["digits"])
        #expect(try CallRequest.stream(Self.bytes(#"{"stream_url":"https://a/b.wav","loop":3}"#)) == .init(url: "https://a/b.wav", loop: 3))
        #expect(try CallRequest.talk(Self.bytes(#"{"text":"Hi","language":"de-DE"}"#), rules: Self.rules).voice == "gmw/en+0")
    }
}
