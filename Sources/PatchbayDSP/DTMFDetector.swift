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

/// A streaming DTMF detector: Goertzel filters (eight tones and their second harmonics) over
/// half-overlapping blocks, native at any rate from 8 kHz.
///
/// How it decides, block by block (a block is 12.75 ms at every rate: 102 samples at 8 kHz, 204 at
/// 16 kHz, 306 at 24 kHz, so bins stay 78 Hz wide and 697 Hz is separated from 770 Hz at every rate):
/// - the strongest row and column bins must each exceed `minimumToneLevel`, beat the other bins of their
///   group by `relativePeakDB`, respect the twist limits, have no second harmonic within
///   `secondHarmonicRejectionDB`, and together carry `minimumEnergyRatio` of the block's total energy
///   (single tones, dial tone, speech and music fail here);
/// - consecutive blocks with the same digit form a run; the run ends after five blocks without it: a
///   10 ms dropout spoils at most three blocks (the gap splatters energy into the neighbouring bins), a
///   40 ms pause spoils at least seven, so the first does not split a digit and the second does;
/// - at the end of a run the tone's duration is estimated from the Goertzel magnitudes (each sample lies in
///   exactly two blocks, so duration = hop x Σ amplitude / full amplitude), which tells a 23 ms tone from
///   a 40 ms one regardless of how the tone aligns with the blocks;
/// - the frequency of each tone is measured from the phase advance of its bin between full blocks, and
///   a digit whose tones are off by more than `maximumFrequencyDeviation` is rejected (±1.5% must pass,
///   ±3.5% must not: a magnitude test alone cannot separate those with bins this wide). A run with no two
///   consecutive full blocks (a short tone cut by a dropout) falls back to the phase advance between the
///   two halves of its strongest block.
///
/// `process` allocates nothing; reports are delivered through a non-escaping closure.
public struct DTMFDetector: Sendable {
    /// Detection thresholds; the defaults meet every row of docs/QUALITY.md's table at 8, 16 and 24 kHz.
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
        public var minimumEnergyRatio: Double = 0.7
        /// How far below its tone each checked harmonic (second, or third for some rows) must stay, in dB.
        public var secondHarmonicRejectionDB: Double = 12
        /// Shortest tone reported, in milliseconds (docs/QUALITY.md: 40 ms must pass, 23 ms must not).
        public var minimumDurationMilliseconds: Double = 31
        /// Largest relative frequency error of either tone (docs/QUALITY.md: 1.5% must pass, 3.5% must not).
        public var maximumFrequencyDeviation: Double = 0.025

        public init() {}
    }

    public let sampleRate: Int
    public let configuration: Configuration
    /// Blocks without the digit that end a run (see the type's documentation).
    static let missesToEnd = 5
    /// Hop between blocks in samples (a block is two hops).
    public let hop: Int

    // Lanes 0-3 rows, 4-7 columns, 8-11 the rows' second harmonics, 12-15 the columns' second harmonics.
    private var bank: GoertzelBank<SIMD16<Float>>
    // The rows' third harmonics, checked instead of the second for 2, 6 and C (see `rowHarmonicIsClear`).
    private var thirdHarmonics: GoertzelBank<SIMD4<Float>>
    private let frequencies: [Double]

    // Thresholds in the detector's own units (amplitude estimates are peak PCM16 values).
    private let minimumAmplitude: Float
    private let normalTwist: Float
    private let reverseTwist: Float
    private let relativePeak: Float
    private let secondHarmonic: Float
    // Bit d set: digit d's column lies more than three bins from twice its row frequency, so the row's
    // second-harmonic bin measures the harmonic and not the column tone's sidelobes (about -18 dB at
    // 2.5 bins with a rectangular block). For 1, 2, 3, 5, 6, 9, B and C (2 x 697 = 1394 sits 58 Hz from
    // 1336, for one) the row's third harmonic is checked instead: it is at least 5.8 bins from any column.
    private let rowHarmonicIsClear: UInt16
    private let minimumDurationSamples: Double

    // The half block being filled.
    private var halfEnergy: Float = 0
    private var position = 0
    private var halfIndex = 0

    // The previous half block's DFT values and energy.
    private var previousHalfRe = SIMD16<Float>()
    private var previousHalfIm = SIMD16<Float>()
    private var previousHalfEnergy: Float = 0
    private var previousThirdRe = SIMD4<Float>()
    private var previousThirdIm = SIMD4<Float>()

    // Per-bin amplitudes of the last two blocks (for the edge of a run that is about to start).
    private var amplitudes1 = SIMD16<Float>()
    private var amplitudes2 = SIMD16<Float>()

    // The previous block's DFT (for the phase advance) and whether it was a hit of the run's digit.
    private var previousBlockRe = SIMD16<Float>()
    private var previousBlockIm = SIMD16<Float>()
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
        // The strongest block's own (half against half) frequency estimate, for runs with no full pair.
        var strongestRowDeviation: Double = 0
        var strongestColumnDeviation: Double = 0
    }

    /// Creates a detector for a stream at `sampleRate` (8, 16, 24 or 48 kHz, or any rate from 8 kHz).
    public init(sampleRate: Int, configuration: Configuration = Configuration()) {
        precondition((8000...192_000).contains(sampleRate), "unsupported DTMF detector rate \(sampleRate)")
        self.sampleRate = sampleRate
        self.configuration = configuration
        let h = max(8, Int((51.0 * Double(sampleRate) / 8000).rounded()))
        hop = h
        let rate = Double(sampleRate)
        let fundamentals = DTMF.rowFrequencies + DTMF.columnFrequencies
        frequencies = fundamentals + fundamentals.map { 2 * $0 }
        bank = GoertzelBank(frequencies: frequencies, sampleRate: sampleRate, blockLength: h)
        thirdHarmonics = GoertzelBank(frequencies: DTMF.rowFrequencies.map { 3 * $0 }, sampleRate: sampleRate, blockLength: h)
        minimumAmplitude = Float(DTMF.amplitude(dBm0: configuration.minimumToneLevelDBm0))
        normalTwist = Float(pow(10, configuration.maximumNormalTwistDB / 10))
        reverseTwist = Float(pow(10, configuration.maximumReverseTwistDB / 10))
        relativePeak = Float(pow(10, configuration.relativePeakDB / 10))
        secondHarmonic = Float(pow(10, configuration.secondHarmonicRejectionDB / 10))
        let binWidth = rate / Double(2 * h)
        var clear: UInt16 = 0
        for d in 0..<16 where abs(2 * DTMF.rowFrequencies[d / 4] - DTMF.columnFrequencies[d % 4]) > 3 * binWidth {
            clear |= 1 << d
        }
        rowHarmonicIsClear = clear
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
            let chunk = UnsafeBufferPointer(rebasing: samples[i..<(i + take)])
            bank.update(chunk)
            thirdHarmonics.update(chunk)
            var e = halfEnergy
            for x in chunk {
                let f = Float(x)
                e += f * f
            }
            halfEnergy = e
            position += take
            i += take
            if position == hop {
                finishHalf(report: report)
            }
        }
    }

    /// Ends the stream: analyses its tail as if silence followed (so a tone running to the very end is
    /// measured like any other) and reports a tone still in progress if it qualifies. The detector is then
    /// ready for a new stream position: `samplesProcessed` includes the silence fed in.
    public mutating func flush(report: (DTMFDetection) -> Void) {
        // Every sample lies in two blocks; two halves of silence complete the blocks holding the tail.
        let silence = hop - position + hop
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: silence) { zeros in
            zeros.initialize(repeating: 0)
            process(UnsafeBufferPointer(zeros), report: report)
        }
        if run.digit >= 0 { endRun(report: report) }
    }

    private mutating func finishHalf(report: (DTMFDetection) -> Void) {
        // DFTs of this half block, referenced to its first sample.
        let (re, im) = bank.finish()
        let (re3, im3) = thirdHarmonics.finish()
        let energy = halfEnergy
        halfEnergy = 0
        position = 0
        defer {
            previousHalfRe = re
            previousHalfIm = im
            previousThirdRe = re3
            previousThirdIm = im3
            previousHalfEnergy = energy
            halfIndex += 1
        }
        // The full block: the previous half followed by this one (the stream is taken to start after
        // silence, so the first block is [-H, H) and the first samples lie in two blocks like all others).
        let blockRe = previousHalfRe + (re * bank.shiftRe - im * bank.shiftIm)
        let blockIm = previousHalfIm + (re * bank.shiftIm + im * bank.shiftRe)
        let thirdRe = previousThirdRe + (re3 * thirdHarmonics.shiftRe - im3 * thirdHarmonics.shiftIm)
        let thirdIm = previousThirdIm + (re3 * thirdHarmonics.shiftIm + im3 * thirdHarmonics.shiftRe)
        analyseBlock(
            re: blockRe, im: blockIm, energy: previousHalfEnergy + energy,
            thirdHarmonicPower: thirdRe * thirdRe + thirdIm * thirdIm,
            halves: (previousHalfRe, previousHalfIm, re, im), report: report)
    }

    private typealias Halves = (firstRe: SIMD16<Float>, firstIm: SIMD16<Float>, secondRe: SIMD16<Float>, secondIm: SIMD16<Float>)

    private mutating func analyseBlock(
        re: SIMD16<Float>, im: SIMD16<Float>, energy: Float, thirdHarmonicPower: SIMD4<Float>, halves: Halves,
        report: (DTMFDetection) -> Void
    ) {
        let blockLength = Float(2 * hop)
        // Peak amplitude of a sine in each bin: 2|X|/N.
        let power = re * re + im * im
        var amplitudes = SIMD16<Float>()
        for k in 0..<16 { amplitudes[k] = 2 * power[k].squareRoot() / blockLength }

        let digit = classify(
            power: power, thirdHarmonicPower: thirdHarmonicPower, amplitudes: amplitudes, energy: energy,
            blockLength: blockLength)
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
                if Double(amplitude) > run.maximumAmplitude {
                    run.maximumAmplitude = Double(amplitude)
                    run.strongestRowDeviation = deviation(row, from: (halves.firstRe, halves.firstIm), to: (halves.secondRe, halves.secondIm))
                    run.strongestColumnDeviation = deviation(column, from: (halves.firstRe, halves.firstIm), to: (halves.secondRe, halves.secondIm))
                }
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
            if digit >= 0 || run.misses >= Self.missesToEnd {
                endRun(report: report)
            } else {
                rememberBlock(re: re, im: im, amplitude: amplitude, hit: false, amplitudes: amplitudes)
                return
            }
        }
        if digit >= 0 {
            startRun(digit: digit, amplitudes: amplitudes, centre: centre)
            run.strongestRowDeviation = deviation(digit / 4, from: (halves.firstRe, halves.firstIm), to: (halves.secondRe, halves.secondIm))
            run.strongestColumnDeviation = deviation(4 + digit % 4, from: (halves.firstRe, halves.firstIm), to: (halves.secondRe, halves.secondIm))
            let amplitude = amplitudes[digit / 4] + amplitudes[4 + digit % 4]
            rememberBlock(re: re, im: im, amplitude: amplitude, hit: true, amplitudes: amplitudes)
        } else {
            rememberBlock(re: re, im: im, amplitude: 0, hit: false, amplitudes: amplitudes)
        }
    }

    /// The digit this block shows (0...15), or -1.
    private func classify(
        power: SIMD16<Float>, thirdHarmonicPower: SIMD4<Float>, amplitudes: SIMD16<Float>, energy: Float,
        blockLength: Float
    ) -> Int {
        var row = 0
        for k in 1..<4 where power[k] > power[row] { row = k }
        var column = 4
        for k in 5..<8 where power[k] > power[column] { column = k }
        let rowPower = power[row]
        let columnPower = power[column]
        // Hysteresis: a tone already being tracked may sag 6 dB below the floor without ending, so a
        // tone right at the floor is not split into two digits by its level wavering across it.
        let tracking = run.digit >= 0 && row * 4 + (column - 4) == run.digit
        let floor = tracking ? minimumAmplitude * 0.5 : minimumAmplitude
        guard amplitudes[row] >= floor, amplitudes[column] >= floor else { return -1 }
        // Twist: compare the tones' powers.
        guard columnPower <= rowPower * normalTwist, rowPower <= columnPower * reverseTwist else { return -1 }
        // Each winner must stand clear of the rest of its group.
        for k in 0..<4 where k != row {
            if power[k] * relativePeak > rowPower { return -1 }
        }
        for k in 4..<8 where k != column {
            if power[k] * relativePeak > columnPower { return -1 }
        }
        // DTMF tones are pure; voices and instruments that land on a row and a column carry harmonics.
        let digit = row * 4 + (column - 4)
        if power[8 + column] * secondHarmonic > columnPower { return -1 }
        let rowHarmonic = rowHarmonicIsClear & (1 << digit) != 0 ? power[8 + row] : thirdHarmonicPower[row]
        if rowHarmonic * secondHarmonic > rowPower { return -1 }
        // The two tones must carry most of the block's energy: sine power is A²/2, block power is E/N.
        let tonePower = (amplitudes[row] * amplitudes[row] + amplitudes[column] * amplitudes[column]) / 2
        guard energy > 0, tonePower >= Float(configuration.minimumEnergyRatio) * energy / blockLength else {
            return -1
        }
        return digit
    }

    private mutating func startRun(digit: Int, amplitudes: SIMD16<Float>, centre: Double) {
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
        re: SIMD16<Float>, im: SIMD16<Float>, amplitude: Float, hit: Bool, amplitudes: SIMD16<Float>
    ) {
        previousBlockRe = re
        previousBlockIm = im
        previousBlockAmplitude = amplitude
        previousBlockWasHit = hit
        amplitudes2 = amplitudes1
        amplitudes1 = amplitudes
    }

    /// Adds the phase-advance frequency estimate of a pair of consecutive, equally strong (full) blocks.
    private mutating func measureFrequency(row: Int, column: Int, re: SIMD16<Float>, im: SIMD16<Float>, amplitude: Float) {
        // Blocks only partly covered by the tone have a shifted phase; use pairs of full blocks only.
        let previous = previousBlockAmplitude
        guard abs(amplitude - previous) <= 0.1 * max(amplitude, previous) else { return }
        run.rowDeviationSum += deviation(row, from: (previousBlockRe, previousBlockIm), to: (re, im))
        run.columnDeviationSum += deviation(column, from: (previousBlockRe, previousBlockIm), to: (re, im))
        run.deviationCount += 1
    }

    /// The relative frequency error of bin `k` from the phase advance between two DFTs taken one hop apart.
    private func deviation(_ k: Int, from a: (SIMD16<Float>, SIMD16<Float>), to b: (SIMD16<Float>, SIMD16<Float>)) -> Double {
        // arg(X_b · conj(X_a)) is ωH for a tone exactly at the bin frequency.
        let pr = Double(a.0[k]), pi = Double(a.1[k])
        let cr = Double(b.0[k]), ci = Double(b.1[k])
        var d = atan2(ci * pr - cr * pi, cr * pr + ci * pi) - bank.omegaBlock[k]
        d -= 2 * .pi * (d / (2 * .pi)).rounded()
        // δω = d / H rad/sample, in Hz, relative to the nominal frequency.
        return d / Double(hop) * Double(sampleRate) / (2 * .pi) / frequencies[k]
    }

    private mutating func endRun(report: (DTMFDetection) -> Void) {
        let r = run
        run = Run()
        previousBlockWasHit = false
        let total = r.amplitudeSum + r.pendingAmplitudeSum
        guard r.digit >= 0, r.maximumAmplitude > 0, total > 0 else { return }
        let duration = Double(hop) * total / r.maximumAmplitude
        guard duration >= minimumDurationSamples else { return }
        let pairs = Double(r.deviationCount)
        let rowDeviation = pairs > 0 ? r.rowDeviationSum / pairs : r.strongestRowDeviation
        let columnDeviation = pairs > 0 ? r.columnDeviationSum / pairs : r.strongestColumnDeviation
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
