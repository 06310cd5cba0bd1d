import Foundation
import PatchbayDSP
import PatchbayTestSupport
import Testing

@Suite struct DTMFGeneratorTests {
    @Test("exact frequencies and -10 dBm0 per tone by default", arguments: [8000, 16000, 24000])
    func frequenciesAndLevel(rate: Int) throws {
        for digit in "159D" {
            let x = try DTMFGenerator.samples(digits: String(digit), configuration: .init(sampleRate: rate))
            let tone = x[0..<(rate / 10)]  // 100 ms: an integer number of cycles of every 1 Hz-resolution bin
            let pos = DTMF.position(of: digit)!
            let row = Tone.amplitude(of: tone, at: DTMF.rowFrequencies[pos.row], rate: rate)
            let column = Tone.amplitude(of: tone, at: DTMF.columnFrequencies[pos.column], rate: rate)
            let expected = DTMF.amplitude(dBm0: -10)
            #expect(abs(row - expected) / expected < 0.01, "row \(row) vs \(expected)")
            #expect(abs(column - expected) / expected < 0.01, "column \(column) vs \(expected)")
            // 10 Hz away from the tone there is nothing: the frequency is exact.
            #expect(Tone.amplitude(of: tone, at: DTMF.rowFrequencies[pos.row] + 10, rate: rate) < expected * 0.01)
        }
        #expect(abs(DTMF.amplitude(dBm0: 0) - 22_826) < 1)
    }

    @Test("default timing: 100 ms tone, 60 ms gap, p = 500 ms")
    func timing() throws {
        let g = try DTMFGenerator(digits: "1p2", configuration: .init(sampleRate: 8000))
        #expect(g.totalSamples == (100 + 60 + 500 + 100 + 60) * 8)
        let x = try DTMFGenerator.samples(digits: "1p2")
        #expect(x[0..<800].contains { $0 != 0 })
        #expect(x[800..<(800 + 480 + 4000)].allSatisfy { $0 == 0 })
        #expect(x[5280..<6080].contains { $0 != 0 })
    }

    @Test("phase-continuous across frame boundaries")
    func phaseContinuity() throws {
        let whole = try DTMFGenerator.samples(digits: "5#", configuration: .init(sampleRate: 16000))
        var g = try DTMFGenerator(digits: "5#", configuration: .init(sampleRate: 16000))
        var framed: [Int16] = []
        var frame = [Int16](repeating: 0, count: 320)
        while !g.isFinished {
            frame.withUnsafeMutableBufferPointer { _ = g.render(into: $0) }
            framed += frame
        }
        // Frame by frame is the same waveform as all at once: no phase reset at frame edges.
        #expect(Array(framed[0..<whole.count]) == whole)
        // Sample-to-sample steps inside a tone stay within what two sines can do (no jumps).
        let maxStep = 2 * DTMF.amplitude(dBm0: -10) * 2 * .pi * 1633 / 16000 + 2
        for i in 1..<1600 { #expect(Double(abs(Int(whole[i]) - Int(whole[i - 1]))) <= maxStep) }
    }

    @Test("level and twist are configurable")
    func levelAndTwist() throws {
        var config = DTMFGenerator.Configuration(sampleRate: 8000, levelDBm0: -20, twistDB: 3)
        config.toneMilliseconds = 100
        let x = try DTMFGenerator.samples(digits: "1", configuration: config)
        let row = Tone.amplitude(of: x[0..<800], at: 697, rate: 8000)
        let column = Tone.amplitude(of: x[0..<800], at: 1209, rate: 8000)
        #expect(abs(DTMF.dBm0(amplitude: row) + 20) < 0.1)
        #expect(abs(DTMF.dBm0(amplitude: column) + 17) < 0.1)
    }

    @Test("every generated digit is detected at every rate", arguments: [8000, 16000, 24000, 48000])
    func roundTrip(rate: Int) throws {
        let digits = "0123456789*#ABCDp1"
        let x = try DTMFGenerator.samples(digits: digits, configuration: .init(sampleRate: rate))
        #expect(String(DTMFConformance.detect(x, sampleRate: rate).map(\.digit)) == "0123456789*#ABCD1")
    }

    @Test("bad input gets a clear error")
    func errors() {
        #expect(throws: DTMFGeneratorError.invalidDigit("x", position: 2)) { try DTMFGenerator(digits: "12x") }
        #expect(throws: DTMFGeneratorError.empty) { try DTMFGenerator(digits: "") }
        #expect(throws: DTMFGeneratorError.tooManyDigits(1001)) {
            try DTMFGenerator(digits: String(repeating: "1", count: 1001))
        }
        #expect(throws: DTMFGeneratorError.unsupportedRate(1000)) {
            try DTMFGenerator(digits: "1", configuration: .init(sampleRate: 1000))
        }
        #expect(throws: (any Error).self) { try DTMFGenerator(digits: "1", configuration: .init(levelDBm0: 10)) }
        #expect(throws: (any Error).self) { try DTMFGenerator(digits: "1", configuration: .init(toneMilliseconds: 0)) }
        #expect(DTMFGeneratorError.invalidDigit("x", position: 2).description.contains("position 3"))
        // Lower-case a-d are the same keys as A-D.
        #expect((try? DTMFGenerator(digits: "abcd")) != nil)
    }
}
