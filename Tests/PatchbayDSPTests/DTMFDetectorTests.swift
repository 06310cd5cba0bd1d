import Foundation
import PatchbayDSP
import Testing

/// The detector's reports: timing, and independence from the frame size. The standards' table and
/// talk-off are in PatchbayConformanceTests (CPU-heavy, a phase of their own).
@Suite struct DTMFDetectorTests {
    static let rates = [8000, 16000, 24000]

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
