public import Foundation

/// Test signals and what a stretch of audio holds of a tone: one set of helpers for every test target.
public enum Tone {
    /// A sine of peak `amplitude` at `frequency`, `count` samples at `rate`, from sample `offset` (and
    /// `phase` radians).
    public static func sine(
        _ frequency: Double, rate: Int, count: Int, amplitude: Double = 16000, offset: Int = 0, phase: Double = 0
    ) -> [Int16] {
        (0..<count).map { Int16((amplitude * sin(2 * .pi * frequency * Double($0 + offset) / Double(rate) + phase)).rounded()) }
    }

    /// The DFT of `x` at `frequency` (a single bin): its real and imaginary parts, summed over the samples.
    public static func bin(_ x: some Collection<Double>, at frequency: Double, rate: Int) -> (re: Double, im: Double) {
        var re = 0.0
        var im = 0.0
        for (i, v) in x.enumerated() {
            let w = 2 * .pi * frequency * Double(i) / Double(rate)
            re += v * cos(w)
            im -= v * sin(w)
        }
        return (re, im)
    }

    /// The peak amplitude of the component at `frequency` in `samples` (2|X|/N of a single-bin DFT).
    public static func amplitude(of samples: some Collection<Int16>, at frequency: Double, rate: Int) -> Double {
        guard !samples.isEmpty else { return 0 }
        let (re, im) = bin(samples.lazy.map(Double.init), at: frequency, rate: rate)
        return 2 * (re * re + im * im).squareRoot() / Double(samples.count)
    }
}
