#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// One detected DTMF digit.
public struct DTMFDetection: Sendable, Equatable, CustomStringConvertible {
    /// The digit: 0-9, *, #, A-D.
    public let digit: Character
    /// Where the tone began, in samples from the start of the stream.
    public let startSample: Int
    /// How long the tone lasted, in samples.
    public let durationSamples: Int
    /// The stream's sample rate.
    public let sampleRate: Int

    public init(digit: Character, startSample: Int, durationSamples: Int, sampleRate: Int) {
        self.digit = digit
        self.startSample = startSample
        self.durationSamples = durationSamples
        self.sampleRate = sampleRate
    }

    /// Start time in milliseconds (rounded).
    public var startMilliseconds: Int { (startSample * 1000 + sampleRate / 2) / sampleRate }
    /// Duration in milliseconds (rounded).
    public var durationMilliseconds: Int { (durationSamples * 1000 + sampleRate / 2) / sampleRate }

    public var description: String { "\(digit) at \(startMilliseconds) ms for \(durationMilliseconds) ms" }
}

/// A streaming DTMF detector: eight Goertzel filters over half-overlapping blocks, native at any rate.
///
/// How it decides, block by block (a block is 12.75 ms at every rate: 102 samples at 8 kHz, 204 at
/// 16 kHz, 306 at 24 kHz, so bins stay 78 Hz wide and 697 Hz is separated from 770 Hz at every rate):
/// - the strongest row and column bins must each exceed `minimumToneLevel`, beat the other bins of their
///   group by `relativePeakDB`, respect the twist limits, and together carry `minimumEnergyRatio` of the
///   block's total energy (single tones, dial tone, speech and music fail here);
/// - consecutive blocks with the same digit form a run; the run ends after three blocks without it, so a
///   10 ms dropout does not split a digit and a 40 ms pause does;
/// - at the end of a run the tone's duration is estimated from the Goertzel magnitudes (each sample lies in
///   exactly two blocks, so duration = hop x Σ amplitude / full amplitude), which tells a 23 ms tone from
///   a 40 ms one regardless of how the tone aligns with the blocks;
/// - the frequency of each tone is measured from the phase advance of its bin between full blocks, and
///   a digit whose tones are off by more than `maximumFrequencyDeviation` is rejected (±1.5% must pass,
///   ±3.5% must not: a magnitude test alone cannot separate those with bins this wide).
///
/// `process` allocates nothing; reports are delivered through a non-escaping closure.
public struct DTMFDetector: Sendable {
    /// Detection thresholds; the defaults meet every row of QUALITY.md's table at 8, 16 and 24 kHz.
    public struct Configuration: Sendable, Equatable {
        /// Lowest level per tone, in dBm0.
        public var minimumToneLevelDBm0: Double = -43
        /// How much louder the high group may be (normal twist), in dB.
        public var maximumNormalTwistDB: Double = 6
        /// How much louder the low group may be (reverse twist), in dB.
        public var maximumReverseTwistDB: Double = 10
        /// How far the winning bin of each group must stand above the group's next bin, in dB.
        public var relativePeakDB: Double = 8
        /// The share of the block's energy the two tones must carry.
        public var minimumEnergyRatio: Double = 0.6
        /// Shortest tone reported, in milliseconds (QUALITY.md: 40 ms must pass, 23 ms must not).
        public var minimumDurationMilliseconds: Double = 31
        /// Largest relative frequency error of either tone (QUALITY.md: 1.5% must pass, 3.5% must not).
        public var maximumFrequencyDeviation: Double = 0.025

        public init() {}
    }

    public let sampleRate: Int
    public let configuration: Configuration
    /// Hop between blocks in samples (a block is two hops).
    public let hop: Int

    // Goertzel coefficients and the rotations that turn its output into block-referenced DFT values.
    private let coefficient: SIMD8<Float>
    private let outputCos: SIMD8<Float>
    private let outputSin: SIMD8<Float>
    private let finalRe: SIMD8<Float>  // e^{-jω(H-1)}
    private let finalIm: SIMD8<Float>
    private let hopRe: SIMD8<Float>  // e^{-jωH}
    private let hopIm: SIMD8<Float>
    private let omegaHop: SIMD8<Double>  // ωH, for the phase-advance frequency estimate
    private let frequencies: SIMD8<Double>

    // Thresholds in the detector's own units (amplitude estimates are peak PCM16 values).
    private let minimumAmplitude: Float
    private let normalTwist: Float
    private let reverseTwist: Float
    private let relativePeak: Float
    private let minimumDurationSamples: Double

    // Goertzel state for the half block being filled.
    private var s1 = SIMD8<Float>()
    private var s2 = SIMD8<Float>()
    private var halfEnergy: Float = 0
    private var position = 0
    private var halfIndex = 0

    // The previous half block's DFT values and energy.
    private var previousHalfRe = SIMD8<Float>()
    private var previousHalfIm = SIMD8<Float>()
    private var previousHalfEnergy: Float = 0

    // Per-bin amplitudes of the last two blocks (for the edge of a run that is about to start).
    private var amplitudes1 = SIMD8<Float>()
    private var amplitudes2 = SIMD8<Float>()

    // The previous block's DFT (for the phase advance) and whether it was a hit of the run's digit.
    private var previousBlockRe = SIMD8<Float>()
    private var previousBlockIm = SIMD8<Float>()
    private var previousBlockAmplitude: Float = 0
    private var previousBlockWasHit = false

    // The current run.
    private var run = Run()

    private struct Run: Sendable {
        var digit = -1  // 0...15, -1 = none
        var hits = 0
        var misses = 0
        var amplitudeSum: Double = 0  // Σ amplitude over the run, hits and misses inside it
        var pendingAmplitudeSum: Double = 0  // misses not yet known to be inside the run
        var weightedCentre: Double = 0  // Σ amplitude × block centre
        var pendingWeightedCentre: Double = 0
        var maximumAmplitude: Double = 0
        var rowDeviationSum: Double = 0
        var columnDeviationSum: Double = 0
        var deviationCount = 0
    }

    /// Creates a detector for a stream at `sampleRate` (8, 16, 24 or 48 kHz, or any rate from 4 kHz).
    public init(sampleRate: Int, configuration: Configuration = Configuration()) {
        precondition((4000...192_000).contains(sampleRate), "unsupported DTMF detector rate \(sampleRate)")
        self.sampleRate = sampleRate
        self.configuration = configuration
        let h = max(8, Int((51.0 * Double(sampleRate) / 8000).rounded()))
        hop = h
        let rate = Double(sampleRate)
        let freqs = DTMF.rowFrequencies + DTMF.columnFrequencies
        var coef = SIMD8<Float>(), oc = SIMD8<Float>(), os = SIMD8<Float>()
        var fr = SIMD8<Float>(), fi = SIMD8<Float>(), hr = SIMD8<Float>(), hi = SIMD8<Float>()
        var wh = SIMD8<Double>(), fq = SIMD8<Double>()
        for i in 0..<8 {
            let w = 2 * Double.pi * freqs[i] / rate
            coef[i] = Float(2 * cos(w))
            oc[i] = Float(cos(w))
            os[i] = Float(sin(w))
            fr[i] = Float(cos(-w * Double(h - 1)))
            fi[i] = Float(sin(-w * Double(h - 1)))
            hr[i] = Float(cos(-w * Double(h)))
            hi[i] = Float(sin(-w * Double(h)))
            wh[i] = w * Double(h)
            fq[i] = freqs[i]
        }
        coefficient = coef
        outputCos = oc
        outputSin = os
        finalRe = fr
        finalIm = fi
        hopRe = hr
        hopIm = hi
        omegaHop = wh
        frequencies = fq
        minimumAmplitude = Float(DTMF.amplitude(dBm0: configuration.minimumToneLevelDBm0))
        normalTwist = Float(pow(10, configuration.maximumNormalTwistDB / 10))
        reverseTwist = Float(pow(10, configuration.maximumReverseTwistDB / 10))
        relativePeak = Float(pow(10, configuration.relativePeakDB / 10))
        minimumDurationSamples = configuration.minimumDurationMilliseconds * rate / 1000
    }

    /// Samples consumed so far.
    public var samplesProcessed: Int { halfIndex * hop + position }

    /// Feeds samples (any count); calls `report` for each digit whose tone has ended.
    public mutating func process(_ samples: UnsafeBufferPointer<Int16>, report: (DTMFDetection) -> Void) {
        var i = 0
        let n = samples.count
        while i < n {
            let take = min(hop - position, n - i)
            var a = s1
            var b = s2
            var e = halfEnergy
            let c = coefficient
            for j in i..<(i + take) {
                let x = Float(samples[j])
                let s0 = c * a - b + SIMD8(repeating: x)
                b = a
                a = s0
                e += x * x
            }
            s1 = a
            s2 = b
            halfEnergy = e
            position += take
            i += take
            if position == hop {
                finishHalf(report: report)
            }
        }
    }

    /// Ends any tone still in progress (at the end of a stream) and reports it if it qualifies.
    public mutating func flush(report: (DTMFDetection) -> Void) {
        if run.digit >= 0 { endRun(report: report) }
    }

    private mutating func finishHalf(report: (DTMFDetection) -> Void) {
        // DFT of this half block, referenced to its first sample.
        let yRe = s1 - outputCos * s2
        let yIm = outputSin * s2
        let re = yRe * finalRe - yIm * finalIm
        let im = yRe * finalIm + yIm * finalRe
        let energy = halfEnergy
        s1 = SIMD8()
        s2 = SIMD8()
        halfEnergy = 0
        position = 0
        defer {
            previousHalfRe = re
            previousHalfIm = im
            previousHalfEnergy = energy
            halfIndex += 1
        }
        guard halfIndex >= 1 else { return }
        // The full block: the previous half followed by this one.
        let blockRe = previousHalfRe + (re * hopRe - im * hopIm)
        let blockIm = previousHalfIm + (re * hopIm + im * hopRe)
        analyseBlock(re: blockRe, im: blockIm, energy: previousHalfEnergy + energy, report: report)
    }

    private mutating func analyseBlock(re: SIMD8<Float>, im: SIMD8<Float>, energy: Float, report: (DTMFDetection) -> Void) {
        let blockLength = Float(2 * hop)
        // Peak amplitude of a sine in each bin: 2|X|/N.
        let power = re * re + im * im
        var amplitudes = SIMD8<Float>()
        for k in 0..<8 { amplitudes[k] = 2 * power[k].squareRoot() / blockLength }

        let digit = classify(power: power, amplitudes: amplitudes, energy: energy, blockLength: blockLength)
        let centre = Double(halfIndex * hop)  // the block spans [(h-1)H, (h+1)H)

        if run.digit >= 0 {
            let row = run.digit / 4
            let column = 4 + run.digit % 4
            let amplitude = amplitudes[row] + amplitudes[column]
            if digit == run.digit {
                run.amplitudeSum += run.pendingAmplitudeSum + Double(amplitude)
                run.weightedCentre += run.pendingWeightedCentre + Double(amplitude) * centre
                run.pendingAmplitudeSum = 0
                run.pendingWeightedCentre = 0
                run.maximumAmplitude = max(run.maximumAmplitude, Double(amplitude))
                run.hits += 1
                run.misses = 0
                if previousBlockWasHit {
                    measureFrequency(row: row, column: column, re: re, im: im, amplitude: amplitude)
                }
                rememberBlock(re: re, im: im, amplitude: amplitude, hit: true, amplitudes: amplitudes)
                return
            }
            run.pendingAmplitudeSum += Double(amplitude)
            run.pendingWeightedCentre += Double(amplitude) * centre
            run.misses += 1
            if digit >= 0 || run.misses >= 3 {
                endRun(report: report)
            } else {
                rememberBlock(re: re, im: im, amplitude: amplitude, hit: false, amplitudes: amplitudes)
                return
            }
        }
        if digit >= 0 {
            startRun(digit: digit, amplitudes: amplitudes, centre: centre)
            let amplitude = amplitudes[digit / 4] + amplitudes[4 + digit % 4]
            rememberBlock(re: re, im: im, amplitude: amplitude, hit: true, amplitudes: amplitudes)
        } else {
            rememberBlock(re: re, im: im, amplitude: 0, hit: false, amplitudes: amplitudes)
        }
    }

    /// The digit this block shows (0...15), or -1.
    private func classify(power: SIMD8<Float>, amplitudes: SIMD8<Float>, energy: Float, blockLength: Float) -> Int {
        var row = 0
        for k in 1..<4 where power[k] > power[row] { row = k }
        var column = 4
        for k in 5..<8 where power[k] > power[column] { column = k }
        let rowPower = power[row]
        let columnPower = power[column]
        guard amplitudes[row] >= minimumAmplitude, amplitudes[column] >= minimumAmplitude else { return -1 }
        // Twist: compare the tones' powers.
        guard columnPower <= rowPower * normalTwist, rowPower <= columnPower * reverseTwist else { return -1 }
        // Each winner must stand clear of the rest of its group.
        for k in 0..<4 where k != row {
            if power[k] * relativePeak > rowPower { return -1 }
        }
        for k in 4..<8 where k != column {
            if power[k] * relativePeak > columnPower { return -1 }
        }
        // The two tones must carry most of the block's energy: sine power is A²/2, block power is E/N.
        let tonePower = (amplitudes[row] * amplitudes[row] + amplitudes[column] * amplitudes[column]) / 2
        guard energy > 0, tonePower >= Float(configuration.minimumEnergyRatio) * energy / blockLength else {
            return -1
        }
        return row * 4 + (column - 4)
    }

    private mutating func startRun(digit: Int, amplitudes: SIMD8<Float>, centre: Double) {
        run = Run()
        run.digit = digit
        run.hits = 1
        let row = digit / 4
        let column = 4 + digit % 4
        let amplitude = Double(amplitudes[row] + amplitudes[column])
        // The two blocks before the run may hold the tone's leading edge.
        let before1 = Double(amplitudes1[row] + amplitudes1[column])
        let before2 = Double(amplitudes2[row] + amplitudes2[column])
        let h = Double(hop)
        run.amplitudeSum = amplitude + before1 + before2
        run.weightedCentre = amplitude * centre + before1 * (centre - h) + before2 * (centre - 2 * h)
        run.maximumAmplitude = amplitude
    }

    private mutating func rememberBlock(
        re: SIMD8<Float>, im: SIMD8<Float>, amplitude: Float, hit: Bool, amplitudes: SIMD8<Float>
    ) {
        previousBlockRe = re
        previousBlockIm = im
        previousBlockAmplitude = amplitude
        previousBlockWasHit = hit
        amplitudes2 = amplitudes1
        amplitudes1 = amplitudes
    }

    /// Adds the phase-advance frequency estimate of a pair of consecutive, equally strong (full) blocks.
    private mutating func measureFrequency(row: Int, column: Int, re: SIMD8<Float>, im: SIMD8<Float>, amplitude: Float) {
        // Blocks only partly covered by the tone have a shifted phase; use pairs of full blocks only.
        let previous = previousBlockAmplitude
        guard abs(amplitude - previous) <= 0.1 * max(amplitude, previous) else { return }
        func deviation(_ k: Int) -> Double {
            // arg(X_k · conj(X_{k-1})) is ωH for a tone exactly at the bin frequency.
            let pr = Double(previousBlockRe[k]), pi = Double(previousBlockIm[k])
            let cr = Double(re[k]), ci = Double(im[k])
            let advance = atan2(ci * pr - cr * pi, cr * pr + ci * pi)
            var d = advance - omegaHop[k]
            d -= 2 * .pi * (d / (2 * .pi)).rounded()
            // δω = d / H rad/sample → Hz, relative to the nominal frequency.
            return d / Double(hop) * Double(sampleRate) / (2 * .pi) / frequencies[k]
        }
        run.rowDeviationSum += deviation(row)
        run.columnDeviationSum += deviation(column)
        run.deviationCount += 1
    }

    private mutating func endRun(report: (DTMFDetection) -> Void) {
        let r = run
        run = Run()
        previousBlockWasHit = false
        let total = r.amplitudeSum + r.pendingAmplitudeSum
        guard r.digit >= 0, r.maximumAmplitude > 0, total > 0 else { return }
        let duration = Double(hop) * total / r.maximumAmplitude
        guard duration >= minimumDurationSamples, r.deviationCount > 0 else { return }
        let rowDeviation = r.rowDeviationSum / Double(r.deviationCount)
        let columnDeviation = r.columnDeviationSum / Double(r.deviationCount)
        let limit = configuration.maximumFrequencyDeviation
        guard abs(rowDeviation) <= limit, abs(columnDeviation) <= limit else { return }
        let centre = (r.weightedCentre + r.pendingWeightedCentre) / total
        let start = max(0, Int((centre - duration / 2).rounded()))
        report(
            DTMFDetection(
                digit: DTMF.keypad[r.digit], startSample: start, durationSamples: Int(duration.rounded()),
                sampleRate: sampleRate))
    }
}
