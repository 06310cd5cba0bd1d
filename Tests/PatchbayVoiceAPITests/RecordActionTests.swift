import Foundation
import PatchbayVoiceAPI
import Testing

/// The NCCO `record` action: read with the Voice API's names and defaults, and run by `CallFlow` —
/// synchronous only with an end condition, its `endOnKey` ending it and counting for nothing else.
@Suite struct RecordActionTests {
    typealias Flow = CallFlowTests

    @Test("defaults: mp3, one channel, until the call ends, asynchronous; split gives two channels; every condition read")
    func reading() throws {
        let actions = try Flow.ncco(
            #"""
            [{"action":"record"},
             {"action":"record","format":"ogg","split":"conversation","endOnKey":"#","timeOut":30,"beepStart":true,
              "eventUrl":["https://app.example.com/rec"],"eventMethod":"GET"},
             {"action":"record","format":"wav","split":"conversation","channels":5,"endOnSilence":3.5},
             {"action":"conversation","name":"room","record":true}]
            """#)
        guard case .record(let plain) = actions[0], case .record(let keyed) = actions[1], case .record(let wide) = actions[2],
            case .conversation(let room) = actions[3]
        else {
            Issue.record("\(actions)")
            return
        }
        #expect(plain == NCCOAction.Record())
        #expect(plain.format == .mp3 && plain.channels == 1 && !plain.split && plain.timeOut == 7200 && !plain.synchronous)
        #expect(keyed.format == .ogg && keyed.split && keyed.channels == 2 && keyed.endOnKey == "#" && keyed.timeOut == 30 && keyed.beepStart)
        #expect(keyed.eventTarget == .init(url: "https://app.example.com/rec", method: .get) && keyed.synchronous)
        #expect(wide.channels == 5 && wide.endOnSilence == 3.5 && wide.synchronous)
        #expect(room.record && !room.isPlainMove)
    }

    @Test("out of range or inconsistent fields are named")
    func refusals() {
        let problems = Flow.problems(
            #"""
            [{"action":"record","format":"flac"},
             {"action":"record","channels":2},
             {"action":"record","split":"legs"},
             {"action":"record","split":"conversation","channels":33},
             {"action":"record","endOnSilence":2,"timeOut":7201,"endOnKey":"12"},
             {"action":"record","eventUrl":["https://elsewhere.example.com/rec"]}]
            """#)
        let names = problems.map { String($0.prefix(while: { $0 != ":" })) }
        #expect(
            names == [
                "ncco[0].format", "ncco[1].channels", "ncco[2].split", "ncco[3].channels", "ncco[4].endOnSilence", "ncco[4].endOnKey",
                "ncco[4].timeOut",
            ]
                || names.sorted() == [
                    "ncco[0].format", "ncco[1].channels", "ncco[2].split", "ncco[3].channels", "ncco[4].endOnKey", "ncco[4].endOnSilence",
                    "ncco[4].timeOut",
                ], "\(problems)")
        // A host that is not allowed refuses the NCCO as a whole.
        #expect(throws: NCCORejection.self) {
            _ = try Flow.ncco(#"[{"action":"record","eventUrl":["https://elsewhere.example.com/rec"]}]"#)
        }
    }

    @Test("without an end condition the NCCO goes on at once; with one it waits for the recording's end")
    func synchrony() {
        var flow = CallFlow()
        let async = NCCOAction.Record()
        var actions = flow.handle(.start([.record(async), .wait(seconds: 1)]), at: 0)
        #expect(actions == [.record(1, async)], "recording, and the wait runs: \(actions)")
        #expect(flow.deadline == 1)
        var sync = NCCOAction.Record()
        sync.timeOut = 5
        sync.timeOutGiven = true
        flow = CallFlow()
        actions = flow.handle(.start([.record(sync), .talk(Flow.talk("after"))]), at: 0)
        #expect(actions == [.record(1, sync)])
        #expect(flow.handle(.recordEnded(1), at: 5) == [.play(2, .talk(Flow.talk("after")))])
    }

    @Test("endOnKey: the key stops the recording and is not an input's digit; other digits still are")
    func endOnKey() {
        var flow = CallFlow()
        var keyed = NCCOAction.Record()
        keyed.endOnKey = "#"
        let input = NCCOAction.Input(maxDigits: 2, timeOut: 5)
        _ = flow.handle(.start([.record(keyed), .input(input)]), at: 0)
        #expect(flow.handle(.digit("#", source: .peer), at: 1) == [.stopRecording(1)])
        // The input, which started once the recording ended, takes the next digits.
        _ = flow.handle(.recordEnded(1), at: 1.1)
        _ = flow.handle(.digit("4", source: .peer), at: 2)
        let sent = flow.handle(.digit("2", source: .peer), at: 3)
        #expect(
            sent.contains { if case .send(_, .input(digits: "42", timedOut: false), _, true) = $0 { return true } else { return false } }, "\(sent)")
    }
}
