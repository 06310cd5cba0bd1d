#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// One test signal from docs/QUALITY.md's DTMF table, with what a conforming detector must report.
public struct DTMFConformanceCase: Sendable {
    /// The table row, e.g. "frequency offset".
    public let condition: String
    /// This signal, e.g. "both tones +1.5%".
    public let name: String
    /// The digits a conforming detector reports, in order ("" when it must report nothing).
    public let expected: String
    public let sampleRate: Int
    public let samples: [Int16]

    public init(condition: String, name: String, expected: String, sampleRate: Int, samples: [Int16]) {
        self.condition = condition
        self.name = name
        self.expected = expected
        self.sampleRate = sampleRate
        self.samples = samples
    }

    /// Whether this is a must-detect case (else must-not-detect).
    public var mustDetect: Bool { !expected.isEmpty }
}

/// The result of running one case through a detector.
public struct DTMFConformanceResult: Sendable {
    public let testCase: DTMFConformanceCase
    public let detections: [DTMFDetection]

    /// The digits reported, in order.
    public var detected: String { String(detections.map(\.digit)) }
    /// True when the detector reported exactly the expected digits.
    public var passed: Bool { detected == testCase.expected }
}

/// docs/QUALITY.md's DTMF detection table as signals: frequency offset, level, twist, duration, pause,
/// dropout, white noise, and talk-off (single tones, dial tone, music). Signals are synthesised with a
/// fixed-seed generator, so every run — and every detector fed the same files — sees the same audio.
/// Speech is not synthesised here; the tests and `patchbay dtmf conformance` add a recording.
public enum DTMFConformance {
    /// Every digit once, in keypad order.
    public static let allDigits = "123A456B789C*0#D"

    /// All cases at `sampleRate`.
    public static func cases(sampleRate: Int) -> [DTMFConformanceCase] {
        let s = Synth(rate: sampleRate)
        var out: [DTMFConformanceCase] = []
        func add(_ condition: String, _ name: String, _ expected: String, _ samples: [Int16]) {
            out.append(DTMFConformanceCase(condition: condition, name: name, expected: expected, sampleRate: sampleRate, samples: samples))
        }
        let d = allDigits

        // Frequency offset of both tones (and, stricter than the table, of one tone).
        for (r, c) in [(1.5, 1.5), (-1.5, -1.5), (1.5, -1.5), (-1.5, 1.5)] {
            add("frequency offset", "row \(signed(r))%, column \(signed(c))%", d, s.digits(d, rowOffset: r / 100, columnOffset: c / 100))
        }
        for (r, c) in [(3.5, 3.5), (-3.5, -3.5), (3.5, -3.5), (-3.5, 3.5), (3.5, 0), (0, -3.5), (5, 5), (-5, -5)] {
            add("frequency offset", "row \(signed(r))%, column \(signed(c))%", "", s.digits(d, rowOffset: r / 100, columnOffset: c / 100))
        }
        // Level per tone. At 0 dBm0 per tone the pair peaks at 2 x 22,826 and PCM16 saturates.
        for level in [0.0, -10, -20, -30, -33, -36] {
            add("level", "\(signed(level)) dBm0 per tone", d, s.digits(d, rowLevel: level, columnLevel: level))
        }
        for level in [-55.0, -60] {
            add("level", "\(signed(level)) dBm0 per tone", "", s.digits(d, rowLevel: level, columnLevel: level))
        }
        // Twist.
        add("twist", "low group 8 dB louder", d, s.digits(d, rowLevel: -10, columnLevel: -18))
        add("twist", "high group 4 dB louder", d, s.digits(d, rowLevel: -14, columnLevel: -10))
        add("twist", "low group 8 dB louder at -25 dBm0", d, s.digits(d, rowLevel: -25, columnLevel: -33))
        // Tone duration.
        for ms in [40, 45, 50] {
            add("tone duration", "\(ms) ms tones", d, s.digits(d, toneMs: ms, gapMs: 100))
        }
        for ms in [23, 20, 15, 10] {
            add("tone duration", "\(ms) ms tones", "", s.digits(d, toneMs: ms, gapMs: 100))
        }
        // Pause between two equal digits.
        let doubled = String(d.flatMap { [$0, $0] })
        add("pause", "40 ms pause between equal digits (40 ms tones)", doubled, s.digits(doubled, toneMs: 40, gapMs: 40))
        add("pause", "40 ms pause between equal digits (100 ms tones)", doubled, s.digits(doubled, toneMs: 100, gapMs: 40))
        // A dropout inside one tone.
        add("dropout", "10 ms gap inside a 100 ms tone", d, s.digits(d, toneMs: 100, gapMs: 100, dropoutMs: 10))
        add("dropout", "10 ms gap inside a 50 ms tone", d, s.digits(d, toneMs: 50, gapMs: 100, dropoutMs: 10))
        // White noise.
        for (level, seed) in [(-10.0, 1), (-10, 2), (-20, 3), (-25, 4)] {
            var x = s.digits(d, rowLevel: level, columnLevel: level)
            s.addNoise(&x, signalDBm0: level + 3.0103, snrDB: 15, seed: UInt64(seed))
            add("white noise", "S/N 15 dB, \(signed(level)) dBm0 per tone, seed \(seed)", d, x)
        }
        var short = s.digits(d, toneMs: 40, gapMs: 60)
        s.addNoise(&short, signalDBm0: -10 + 3.0103, snrDB: 15, seed: 5)
        add("white noise", "S/N 15 dB, 40 ms tones", d, short)
        // Talk-off: nothing may be reported.
        for f in DTMF.rowFrequencies + DTMF.columnFrequencies {
            add("talk-off", "single tone \(Int(f)) Hz at -10 dBm0", "", s.tones([(f, -10)], ms: 500))
            add("talk-off", "single tone \(Int(f)) Hz at 0 dBm0", "", s.tones([(f, 0)], ms: 500))
        }
        add("talk-off", "dial tone 350+440 Hz at -13 dBm0", "", s.tones([(350, -13), (440, -13)], ms: 2000))
        add("talk-off", "dial tone 350+440 Hz at 0 dBm0", "", s.tones([(350, 0), (440, 0)], ms: 2000))
        for seed in 1...3 {
            add("talk-off", "music (synthetic chords with harmonics), seed \(seed)", "", s.music(seconds: 10, seed: UInt64(seed)))
        }
        var noise = [Int16](repeating: 0, count: sampleRate * 5)
        s.addNoise(&noise, signalDBm0: -10, snrDB: 0, seed: 9)
        add("talk-off", "white noise at -10 dBm0", "", noise)
        return out
    }

    /// Runs `testCase` through a new detector with `configuration`, in 20 ms frames.
    public static func run(
        _ testCase: DTMFConformanceCase, configuration: DTMFDetector.Configuration = .init()
    ) -> DTMFConformanceResult {
        DTMFConformanceResult(testCase: testCase, detections: detect(testCase.samples, sampleRate: testCase.sampleRate, configuration: configuration))
    }

    /// Runs a whole signal through a new detector in 20 ms frames and returns what it reported.
    public static func detect(
        _ samples: [Int16], sampleRate: Int, configuration: DTMFDetector.Configuration = .init()
    ) -> [DTMFDetection] {
        var detector = DTMFDetector(sampleRate: sampleRate, configuration: configuration)
        var found: [DTMFDetection] = []
        let frame = sampleRate / 50
        samples.withUnsafeBufferPointer { all in
            var i = 0
            while i < all.count {
                let n = min(frame, all.count - i)
                detector.process(UnsafeBufferPointer(rebasing: all[i..<(i + n)])) { found.append($0) }
                i += n
            }
        }
        detector.flush { found.append($0) }
        return found
    }

    private static func signed(_ v: Double) -> String {
        let text = v == v.rounded() ? String(Int(v)) : String(v)
        return v > 0 ? "+" + text : text
    }
}

/// Test-signal synthesis at one rate.
private struct Synth {
    let rate: Int

    func ms(_ m: Int) -> Int { m * rate / 1000 }

    /// Digits as tones with `gapMs` after each, 100 ms of silence before and after.
    func digits(
        _ digits: String, toneMs: Int = 100, gapMs: Int = 100, rowLevel: Double = -10, columnLevel: Double = -10,
        rowOffset: Double = 0, columnOffset: Double = 0, dropoutMs: Int = 0
    ) -> [Int16] {
        var acc = [Double](repeating: 0, count: ms(100))
        for ch in digits {
            guard let p = DTMF.position(of: ch) else { continue }
            let fr = DTMF.rowFrequencies[p.row] * (1 + rowOffset)
            let fc = DTMF.columnFrequencies[p.column] * (1 + columnOffset)
            let n = ms(toneMs)
            let hole = dropoutMs > 0 ? (n / 2 - ms(dropoutMs) / 2)..<(n / 2 + (ms(dropoutMs) + 1) / 2) : 0..<0
            let ar = DTMF.amplitude(dBm0: rowLevel)
            let ac = DTMF.amplitude(dBm0: columnLevel)
            for i in 0..<n {
                let t = Double(i) / Double(rate)
                acc.append(hole.contains(i) ? 0 : ar * sin(2 * .pi * fr * t) + ac * sin(2 * .pi * fc * t + 1))
            }
            acc.append(contentsOf: repeatElement(0, count: ms(gapMs)))
        }
        acc.append(contentsOf: repeatElement(0, count: ms(100)))
        return acc.map { Int16(clamping: Int($0.rounded())) }
    }

    /// Steady sines of the given (frequency, dBm0), with 100 ms of silence around them.
    func tones(_ parts: [(Double, Double)], ms m: Int) -> [Int16] {
        var out = [Int16](repeating: 0, count: ms(100))
        for i in 0..<ms(m) {
            let t = Double(i) / Double(rate)
            var v = 0.0
            for (k, (f, level)) in parts.enumerated() {
                v += DTMF.amplitude(dBm0: level) * sin(2 * .pi * f * t + Double(k))
            }
            out.append(Int16(clamping: Int(v.rounded())))
        }
        out.append(contentsOf: repeatElement(0, count: ms(100)))
        return out
    }

    /// Adds white Gaussian noise whose power is `snrDB` below a signal of `signalDBm0` total power.
    func addNoise(_ x: inout [Int16], signalDBm0: Double, snrDB: Double, seed: UInt64) {
        // A sine of peak A has power A²/2; express the signal power that way.
        let signalPower = pow(DTMF.amplitude(dBm0: signalDBm0), 2) / 2
        let sigma = (signalPower / pow(10, snrDB / 10)).squareRoot()
        var g = SplitMix64(seed: seed)
        for i in x.indices {
            x[i] = Int16(clamping: Int((Double(x[i]) + sigma * g.gaussian()).rounded()))
        }
    }

    /// Chords of two or three notes with eight harmonics each (1/n amplitudes), plucked envelopes, random
    /// melody over five octaves from middle C: a stand-in for music that hits DTMF-like note pairs.
    func music(seconds: Int, seed: UInt64) -> [Int16] {
        var g = SplitMix64(seed: seed)
        let total = rate * seconds
        var acc = [Double](repeating: 0, count: total)
        var t0 = 0
        while t0 < total {
            let length = ms(150 + Int(g.next() % 450))
            let voices = 2 + Int(g.next() % 2)
            for _ in 0..<voices {
                let note = 60 + Double(g.next() % 40)
                let f0 = 440 * pow(2, (note - 69) / 12)
                let amp = DTMF.amplitude(dBm0: -16 - Double(g.next() % 8))
                let decay = 3 + Double(g.next() % 6)
                for h in 1...8 where f0 * Double(h) < Double(rate) / 2 {
                    let a = amp / Double(h)
                    let w = 2 * Double.pi * f0 * Double(h) / Double(rate)
                    let phase = Double(g.next() % 628) / 100
                    for i in 0..<min(length, total - t0) {
                        let env = min(1, Double(i) / Double(ms(10))) * exp(-decay * Double(i) / Double(rate))
                        acc[t0 + i] += a * env * sin(w * Double(i) + phase)
                    }
                }
            }
            t0 += length
        }
        return acc.map { Int16(clamping: Int($0.rounded())) }
    }
}

/// A small, fast, fixed-seed generator (SplitMix64) so test signals are the same everywhere.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    mutating func uniform() -> Double { Double((next() >> 11) + 1) / Double(1 << 53) }

    /// Standard normal (Box-Muller).
    mutating func gaussian() -> Double {
        (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
    }
}
