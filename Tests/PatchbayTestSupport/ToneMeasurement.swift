public import Foundation

/// What a stretch of PCM16 samples says about the sine it should hold: its level, phase, frequency
/// and how much of the signal is that sine. Full scale (32768) is 1.0.
public struct ToneMeasurement: CustomStringConvertible, Sendable {
    /// Peak amplitude of the component at the nominal frequency (a single DFT bin over whole periods).
    public let amplitude: Double
    /// Phase of that component at the first sample, in radians (a cosine reference).
    public let phase: Double
    /// Frequency from the rate of upward zero crossings, interpolated between samples.
    public let frequency: Double
    /// RMS of the whole stretch.
    public let rms: Double
    /// Largest magnitude.
    public let peak: Double

    /// The share of the signal's power in the tone (1.0: a pure sine).
    public var purity: Double { rms > 0 ? amplitude * amplitude / 2 / (rms * rms) : 0 }

    /// The tone's level in dB relative to `reference` amplitude.
    public func decibels(relativeTo reference: Double) -> Double { 20 * log10(amplitude / reference) }

    public init(_ samples: ArraySlice<Int16>, sampleRate: Int, nominalFrequency: Double = 1000) {
        let x = samples.map { Double($0) / 32768 }
        // Whole periods only, so the bin is exactly on the tone.
        let period = Double(sampleRate) / nominalFrequency
        let n = Int((Double(x.count) / period).rounded(.down) * period)
        let (re, im) = Tone.bin(x[0..<n], at: nominalFrequency, rate: sampleRate)
        amplitude = n > 0 ? 2 * (re * re + im * im).squareRoot() / Double(n) : 0
        phase = atan2(im, re)

        var crossings: [Double] = []
        for i in 1..<max(1, x.count) where x[i - 1] < 0 && x[i] >= 0 {
            crossings.append(Double(i - 1) + x[i - 1] / (x[i - 1] - x[i]))
        }
        if crossings.count >= 2, let first = crossings.first, let last = crossings.last {
            frequency = Double(crossings.count - 1) / (last - first) * Double(sampleRate)
        } else {
            frequency = 0
        }
        rms = x.isEmpty ? 0 : (x.reduce(0) { $0 + $1 * $1 } / Double(x.count)).squareRoot()
        peak = x.reduce(0) { max($0, abs($1)) }
    }

    public var description: String {
        String(
            format: "%.2f Hz, amplitude %.4f, purity %.5f, peak %.4f", frequency, amplitude, purity, peak)
    }
}
