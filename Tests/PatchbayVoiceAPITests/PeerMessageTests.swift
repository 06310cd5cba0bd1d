import PatchbayVoiceAPI
import Testing

/// What a Voice API peer writes, parsed; the one table of rates and the content types it allows.
@Suite struct PeerMessageTests {
    @Test("the rate table: calls at 8, 16 and 24 kHz, services also at 48 kHz; content types parsed the same way everywhere")
    func rates() throws {
        #expect(L16.callRates == [8000, 16000, 24000] && L16.rates == [8000, 16000, 24000, 48000])
        #expect(L16.frameBytes(rate: 16000) == 640 && L16.contentType(rate: 8000) == "audio/l16;rate=8000")
        #expect(try L16.rate(ofContentType: "Audio/L16; rate=24000") == 24000)
        #expect(try L16.rate(ofContentType: "audio/l16;rate=48000", allowed: L16.rates) == 48000)
        #expect(throws: L16.ContentTypeError.unsupportedRate("audio/l16;rate=48000", allowed: L16.callRates)) {
            try L16.rate(ofContentType: "audio/l16;rate=48000")
        }
        #expect(throws: L16.ContentTypeError.notL16("audio/pcmu")) { try L16.rate(ofContentType: "audio/pcmu") }
        #expect(throws: L16.ContentTypeError.noRate("audio/l16")) { try L16.rate(ofContentType: "audio/l16") }
        #expect(L16.list(L16.rates) == "8000, 16000, 24000 or 48000")
    }

    @Test("websocket:connected, dtmf, cleared, notify and other events; what is refused says why")
    func parse() throws {
        let connected = try PeerMessage.parse(
            #"{"event":"websocket:connected","content-type":"audio/l16;rate=16000","from":"447700900001","n":2,"o":{"a":1}}"#)
        #expect(connected == .connected(sampleRate: 16000, headers: ["from": "447700900001", "n": "2", "o": #"{"a":1}"#]))
        #expect(try PeerMessage.parse(##"{"event":"websocket:dtmf","digit":"#","duration":260}"##) == .dtmf(digit: "#", durationMilliseconds: 260))
        #expect(try PeerMessage.parse(#"{"event":"websocket:cleared"}"#) == .cleared)
        #expect(try PeerMessage.parse(#"{"event":"websocket:notify","payload":{"b":2,"a":1}}"#) == .notify(payload: #"{"a":1,"b":2}"#))
        #expect(try PeerMessage.parse(#"{"event":"websocket:media"}"#) == .other(event: "websocket:media"))
        #expect(throws: PeerMessage.Invalid(#"unsupported rate in "audio/l16;rate=11025": 8000, 16000 or 24000"#, event: "websocket:connected")) {
            try PeerMessage.parse(#"{"event":"websocket:connected","content-type":"audio/l16;rate=11025"}"#)
        }
        #expect(throws: PeerMessage.Invalid("websocket:dtmf has no valid \"digit\"")) {
            try PeerMessage.parse(#"{"event":"websocket:dtmf","digit":"55"}"#)
        }
        #expect(throws: PeerMessage.Invalid("text message is not valid JSON")) { try PeerMessage.parse("{") }
        #expect(throws: PeerMessage.Invalid("text message is not a JSON object")) { try PeerMessage.parse("[1]") }
        #expect(throws: PeerMessage.Invalid("text message has no \"event\" string")) { try PeerMessage.parse(#"{"e":1}"#) }
        let huge = #"{"event":"x","p":""# + String(repeating: "a", count: 9000) + #""}"#
        #expect((try? PeerMessage.parse(huge)) == nil)
    }

    @Test("what Patchbay writes, in both roles")
    func outgoing() {
        #expect(OutgoingText.clear == #"{"action":"clear"}"#)
        #expect(OutgoingText.notify(payload: #"{"m":1}"#) == #"{"action":"notify","payload":{"m":1}}"#)
        #expect(OutgoingText.dtmf(digit: "5", durationMilliseconds: 100) == #"{"event":"websocket:dtmf","digit":"5","duration":100}"#)
        #expect(OutgoingText.notified(payload: "null") == #"{"event":"websocket:notify","payload":null}"#)
    }
}
