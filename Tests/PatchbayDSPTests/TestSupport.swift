import Foundation
import PatchbayDSP
import PatchbayTestSupport

/// Helpers shared by the DSP tests: fixtures, sines, spectra.
enum TestSupport {
    /// A sine of peak `amplitude` at `frequency`.
    static func sine(frequency: Double, rate: Int, count: Int, amplitude: Double = 16000, phase: Double = 0) -> [Int16] {
        (0..<count).map { Int16((amplitude * sin(2 * .pi * frequency * Double($0) / Double(rate) + phase)).rounded()) }
    }

    /// Magnitude of the DFT of `x` at `frequency`, as the peak amplitude of a sine (2|X|/N).
    static func amplitude(of x: ArraySlice<Int16>, at frequency: Double, rate: Int) -> Double {
        var re = 0.0, im = 0.0
        for (i, v) in x.enumerated() {
            let w = 2 * .pi * frequency * Double(i) / Double(rate)
            re += Double(v) * cos(w)
            im -= Double(v) * sin(w)
        }
        return 2 * (re * re + im * im).squareRoot() / Double(x.count)
    }

    /// Runs `input` through a resampler in 20 ms frames, as a leg would.
    static func resample(_ input: [Int16], from: Int, to: Int, quality: Int = Resampler.defaultQuality) throws -> [Int16] {
        try Fixtures.resample(input, from: from, to: to, quality: quality)
    }
}
