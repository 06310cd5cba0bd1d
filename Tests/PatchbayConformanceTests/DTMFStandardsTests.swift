import Foundation
import PatchbayDSP
import PatchbayTestSupport
import Testing

/// The DTMF detection table (ITU-T Q.24, Bellcore, ETSI, the Mitel procedure), row by row, at 8, 16 and
/// 24 kHz, and talk-off on real speech. Each case prints the condition and what was measured (spandsp's
/// tests do the same), so a failure says what the detector heard. CPU-heavy: a phase of its own.
@Suite struct DTMFStandardsTests {
    static let rates = [8000, 16000, 24000]

    @Test("the DTMF table: frequency offset, level, twist, duration, pauses, dropouts, noise, non-digits", arguments: rates)
    func table(rate: Int) {
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

    @Test("speech reports no digits (talk-off)", arguments: rates)
    func speech(rate: Int) throws {
        let speech8k = try Fixtures.rawPCM("speech-en-us-8k.s16le")
        let speech = rate == 8000 ? speech8k : try Fixtures.resample(speech8k, from: 8000, to: rate)
        for gain in [1, 3] {
            let x = speech.map { Int16(clamping: Int($0) * gain) }
            let found = DTMFConformance.detect(x, sampleRate: rate)
            print("\(rate) Hz | talk-off | speech x\(gain), \(x.count / rate) s | detected \"\(String(found.map(\.digit)))\"")
            #expect(found.isEmpty)
        }
    }
}
