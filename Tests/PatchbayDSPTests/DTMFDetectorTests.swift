import Foundation
import PatchbayDSP
import Testing

/// QUALITY.md's DTMF table, row by row, at 8, 16 and 24 kHz. Each case prints the condition and what was
/// measured (spandsp's tests do the same), so a failure says what the detector heard.
@Suite struct DTMFDetectorTests {
    static let rates = [8000, 16000, 24000]

    @Test("QUALITY.md DTMF table", arguments: rates)
    func conformance(rate: Int) {
        var failures: [String] = []
        for c in DTMFConformance.cases(sampleRate: rate) {
            let r = DTMFConformance.run(c)
            let line =
                "\(rate) Hz | \(c.condition) | \(c.name) | expected \"\(c.expected)\" | detected \"\(r.detected)\" | \(r.passed ? "pass" : "FAIL")"
            print(line)
            if !r.passed { failures.append(line) }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}

extension DTMFDetectorTests {
    @Test("speech reports no digits (talk-off)", arguments: rates)
    func speech(rate: Int) throws {
        let speech8k = try TestSupport.rawPCM("speech-en-us-8k.s16le")
        let speech = rate == 8000 ? speech8k : try TestSupport.resample(speech8k, from: 8000, to: rate)
        for gain in [1, 3] {
            let x = speech.map { Int16(clamping: Int($0) * gain) }
            let found = DTMFConformance.detect(x, sampleRate: rate)
            print("\(rate) Hz | talk-off | speech x\(gain), \(x.count / rate) s | detected \"\(String(found.map(\.digit)))\"")
            #expect(found.isEmpty)
        }
    }

    @Test("reports start and duration", arguments: rates)
    func timing(rate: Int) {
        // 100 ms of silence, then "5" for 80 ms, 60 ms gap, "#" for 150 ms.
        var config = DTMFGenerator.Configuration(sampleRate: rate)
        config.toneMilliseconds = 80
        var x = [Int16](repeating: 0, count: rate / 10)
        x += try! DTMFGenerator.samples(digits: "5", configuration: config)
        config.toneMilliseconds = 150
        x += try! DTMFGenerator.samples(digits: "#", configuration: config)
        let found = DTMFConformance.detect(x, sampleRate: rate)
        #expect(found.map(\.digit) == ["5", "#"])
        guard found.count == 2 else { return }
        // Block-based detectors resolve timing to a few ms; allow 5 ms.
        #expect(abs(found[0].startMilliseconds - 100) <= 5, "start \(found[0].startMilliseconds)")
        #expect(abs(found[0].durationMilliseconds - 80) <= 5, "duration \(found[0].durationMilliseconds)")
        #expect(abs(found[1].startMilliseconds - 240) <= 5, "start \(found[1].startMilliseconds)")
        #expect(abs(found[1].durationMilliseconds - 150) <= 5, "duration \(found[1].durationMilliseconds)")
    }

    @Test("frame size does not change what is detected")
    func frameSizes() {
        let x = try! DTMFGenerator.samples(digits: "0123456789*#ABCD", configuration: .init(sampleRate: 16000))
        var reference: [DTMFDetection] = []
        for size in [1, 7, 160, 320, 1000, x.count] {
            var detector = DTMFDetector(sampleRate: 16000)
            var found: [DTMFDetection] = []
            x.withUnsafeBufferPointer { all in
                var i = 0
                while i < all.count {
                    let n = min(size, all.count - i)
                    detector.process(UnsafeBufferPointer(rebasing: all[i..<(i + n)])) { found.append($0) }
                    i += n
                }
            }
            detector.flush { found.append($0) }
            if reference.isEmpty { reference = found }
            #expect(found == reference, "frame size \(size)")
        }
        #expect(String(reference.map(\.digit)) == "0123456789*#ABCD")
    }
}
