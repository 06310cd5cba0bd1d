import Foundation
import PatchbayDSP
import PatchbayTestSupport
import Testing

/// docs/QUALITY.md's resampling figures, measured on real libspeexdsp output fed in 20 ms frames.
@Suite struct ResamplerTests {
    static let rates = [8000, 16000, 24000, 48000]
    static let pairs = rates.flatMap { a in rates.filter { $0 != a }.map { (a, $0) } }

    /// Amplitude of `frequency` in the steady part of the output (skipping the filter's start-up).
    static func outputAmplitude(frequency: Double, from: Int, to: Int, amplitude: Double = 16000) throws -> Double {
        let input = Tone.sine(frequency, rate: from, count: from, amplitude: amplitude)
        let out = try Fixtures.resample(input, from: from, to: to)
        // 0.5 s window starting 0.25 s in: an integer number of cycles for whole-Hz tones.
        let window = out[(to / 4)..<(to / 4 + to / 2)]
        return Tone.amplitude(of: window, at: frequency, rate: to)
    }

    @Test("passband: 3.4 kHz within 0.1 dB on the 8 kHz side")
    func passband8k() throws {
        for (from, to) in [(8000, 16000), (16000, 8000), (8000, 24000), (24000, 8000), (8000, 48000), (48000, 8000)] {
            let gain = 20 * log10(try Self.outputAmplitude(frequency: 3400, from: from, to: to) / 16000)
            print("\(from)->\(to) Hz | gain at 3.4 kHz \(gain) dB")
            #expect(abs(gain) <= 0.1, "\(from)->\(to): \(gain) dB")
        }
    }

    @Test("passband: 7 kHz within 0.5 dB on the 16 kHz side")
    func passband16k() throws {
        for (from, to) in [(16000, 24000), (24000, 16000), (16000, 48000), (48000, 16000)] {
            let gain = 20 * log10(try Self.outputAmplitude(frequency: 7000, from: from, to: to) / 16000)
            print("\(from)->\(to) Hz | gain at 7 kHz \(gain) dB")
            #expect(abs(gain) <= 0.5, "\(from)->\(to): \(gain) dB")
        }
    }

    @Test("aliasing when downsampling: at least 90 dB below the signal")
    func aliasing() throws {
        // Tones in the input's band above the output's stopband edge (0.6 x output rate and up).
        for (from, to) in [(16000, 8000), (24000, 8000), (48000, 8000), (24000, 16000), (48000, 16000), (48000, 24000)] {
            // Measured through the float path: in PCM16 these aliases round to exactly zero.
            var worst = -300.0
            for f in stride(from: 0.6 * Double(to), to: 0.48 * Double(from), by: 0.05 * Double(to)) {
                let input = (0..<from).map { Float(sin(2 * .pi * f.rounded() * Double($0) / Double(from))) }
                let out = try Self.resampleFloat(input, from: from, to: to)
                let window = out[(to / 4)..<(to / 4 + to / 2)]
                let rms = (window.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(window.count)).squareRoot()
                worst = max(worst, 20 * log10(max(rms * 2.0.squareRoot(), 1e-15)))
            }
            print("\(from)->\(to) Hz | worst alias \(worst) dB")
            #expect(worst <= -90, "\(from)->\(to): alias at \(worst) dB")
        }
    }

    static func resampleFloat(_ input: [Float], from: Int, to: Int) throws -> [Float] {
        var r = try Resampler(from: from, to: to)
        var out = [Float](repeating: 0, count: r.outputCapacity(forInput: input.count))
        let produced = input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { r.process(i, into: $0).produced } }
        return Array(out[0..<produced])
    }

    @Test("imaging when upsampling: at least 90 dB below the signal")
    func imaging() throws {
        for (from, to) in [(8000, 16000), (8000, 24000), (8000, 48000), (16000, 24000), (16000, 48000), (24000, 48000)] {
            var worst = -300.0
            for f in [1000.0, 0.3 * Double(from), 0.4 * Double(from)] {
                let input = Tone.sine(f.rounded(), rate: from, count: from)
                let out = try Fixtures.resample(input, from: from, to: to)
                let window = out[(to / 4)..<(to / 4 + to / 2)]
                // Images of f appear at k·from ± f; measure the strongest above the input band.
                for k in 1...(to / from) {
                    for image in [Double(k * from) - f.rounded(), Double(k * from) + f.rounded()]
                    where image > 0.5 * Double(from) && image < 0.5 * Double(to) {
                        worst = max(worst, 20 * log10(max(Tone.amplitude(of: window, at: image, rate: to), 1e-9) / 16000))
                    }
                }
            }
            print("\(from)->\(to) Hz | worst image \(worst) dB")
            #expect(worst <= -90, "\(from)->\(to): image at \(worst) dB")
        }
    }

    @Test("1 kHz sine through 8k -> 16k -> 8k keeps SNR of at least 85 dB")
    func roundTripSNR() throws {
        let input = Tone.sine(1000, rate: 8000, count: 16000, amplitude: 20000)
        let back = try Fixtures.resample(try Fixtures.resample(input, from: 8000, to: 16000), from: 16000, to: 8000)
        // Fit the 1 kHz sine (amplitude and phase) over a whole number of cycles; the rest is noise.
        let window = Array(back[4000..<12000])
        let bin = Tone.bin(window.map(Double.init), at: 1000, rate: 8000)
        // The fit's cosine and sine weights (the bin's imaginary part is the negated sine correlation).
        let re = bin.re * 2 / Double(window.count)
        let im = -bin.im * 2 / Double(window.count)
        var signal = 0.0, noise = 0.0
        for (i, v) in window.enumerated() {
            let w = 2 * .pi * 1000 * Double(i) / 8000
            let fit = re * cos(w) + im * sin(w)
            signal += fit * fit
            noise += (Double(v) - fit) * (Double(v) - fit)
        }
        let snr = 10 * log10(signal / noise)
        print("8000->16000->8000 Hz | 1 kHz SNR \(snr) dB")
        #expect(snr >= 85)
    }

    @Test("20 ms in, exactly 20 ms out, every frame, with a known small latency", arguments: pairs)
    func framing(from: Int, to: Int) throws {
        var r = try Resampler(from: from, to: to)
        let input = [Int16](repeating: 1000, count: from / 50)
        var out = [Int16](repeating: 0, count: r.outputCapacity(forInput: input.count))
        for _ in 0..<50 {
            let (consumed, produced) = input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { r.process(i, into: $0) } }
            #expect(consumed == from / 50)
            #expect(produced == to / 50)
        }
        // Quality 5's filter is 80 taps at the lower rate: 40 samples, 5 ms at 8 kHz, 2.5 ms at 16 kHz.
        let lower = min(from, to)
        #expect(r.latencySeconds > 0 && r.latencySeconds <= 40.0 / Double(lower) + 1e-9, "latency \(r.latencySeconds)")
    }

    @Test("file rates 22.05 and 44.1 kHz convert in streaming mode without losing samples")
    func fileRates() throws {
        for from in [22050, 44100] {
            for to in [8000, 16000] {
                let input = Tone.sine(440, rate: from, count: from * 2)
                let out = try Fixtures.resample(input, from: from, to: to)
                #expect(abs(out.count - 2 * to) <= 2, "\(from)->\(to): \(out.count)")
                let a = Tone.amplitude(of: out[to / 2..<(to / 2 + to)], at: 440, rate: to)
                #expect(abs(20 * log10(a / 16000)) < 0.1)
            }
        }
    }

    @Test("bad rates and qualities are refused")
    func errors() {
        #expect(throws: ResamplerError.unsupportedRate(0)) { try Resampler(from: 0, to: 8000) }
        #expect(throws: ResamplerError.unsupportedRate(1_000_000)) { try Resampler(from: 8000, to: 1_000_000) }
        #expect(throws: ResamplerError.unsupportedQuality(11)) { try Resampler(from: 8000, to: 16000, quality: 11) }
    }
}
