import Foundation
import PatchbayDSP

/// Helpers shared by the DSP tests: fixtures, sines, spectra.
enum TestSupport {
    /// The repository's testdata/ folder.
    static let testdata = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("testdata")

    /// Reads a raw 16-bit little-endian PCM fixture through the zero-copy view.
    static func rawPCM(_ name: String) throws -> [Int16] {
        let data = try Data(contentsOf: testdata.appendingPathComponent(name))
        return data.withUnsafeBytes { Array(PCM16LittleEndian($0)) }
    }

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
        var r = try Resampler(from: from, to: to, quality: quality)
        let frameIn = from / 50
        var out: [Int16] = []
        var buffer = [Int16](repeating: 0, count: r.outputCapacity(forInput: frameIn))
        var i = 0
        while i < input.count {
            let n = min(frameIn, input.count - i)
            let produced = input[i..<(i + n)].withUnsafeBufferPointer { src in
                buffer.withUnsafeMutableBufferPointer { r.process(src, into: $0).produced }
            }
            out.append(contentsOf: buffer[0..<produced])
            i += n
        }
        return out
    }
}
