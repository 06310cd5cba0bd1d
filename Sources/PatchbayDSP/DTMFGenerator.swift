#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Why a DTMF sequence or configuration was refused.
public enum DTMFGeneratorError: Error, Equatable, CustomStringConvertible {
    /// A symbol that is not 0-9, *, #, A-D or p (the offending character and its position).
    case invalidDigit(Character, position: Int)
    /// No digits at all.
    case empty
    /// More digits than `DTMFGenerator.maximumDigits`.
    case tooManyDigits(Int)
    /// A rate that cannot carry 1633 Hz, or an absurd one.
    case unsupportedRate(Int)
    /// A tone, gap or pause length outside 1...10000 ms (tone) or 0...10000 ms (gap, pause).
    case invalidDuration(String)
    /// A level above +3 dBm0 or below -60 dBm0, or a twist beyond ±20 dB.
    case invalidLevel(String)

    public var description: String {
        switch self {
        case .invalidDigit(let c, let p): "invalid DTMF digit '\(c)' at position \(p + 1) (allowed: 0-9 * # A-D p)"
        case .empty: "no DTMF digits given"
        case .tooManyDigits(let n): "\(n) DTMF digits is more than the limit of \(DTMFGenerator.maximumDigits)"
        case .unsupportedRate(let r): "unsupported sample rate \(r) Hz (4000...192000)"
        case .invalidDuration(let s): "invalid duration: \(s)"
        case .invalidLevel(let s): "invalid level: \(s)"
        }
    }
}

/// Generates DTMF digits frame by frame: exact row/column frequencies, phase-continuous oscillators.
///
/// Each digit is a tone of `toneMilliseconds` followed by `gapMilliseconds` of silence; `p` is a pause of
/// `pauseMilliseconds`. Defaults follow docs/QUALITY.md: -10 dBm0 per tone, 0 dB twist, 100 ms tone, 60 ms gap,
/// 500 ms pause. The two oscillators are complex phasors rotated once per sample and renormalised once per
/// render call; a frequency change keeps the phase, so the waveform never jumps inside a tone or across
/// frame boundaries.
public struct DTMFGenerator: Sendable {
    /// The generator's settings.
    public struct Configuration: Sendable, Equatable {
        public var sampleRate: Int
        /// Level of the low-group tone in dBm0 (the high-group tone is `levelDBm0 + twistDB`).
        public var levelDBm0: Double
        /// High-group level relative to the low group, in dB.
        public var twistDB: Double
        public var toneMilliseconds: Int
        public var gapMilliseconds: Int
        public var pauseMilliseconds: Int

        public init(
            sampleRate: Int = 8000, levelDBm0: Double = -10, twistDB: Double = 0,
            toneMilliseconds: Int = 100, gapMilliseconds: Int = 60, pauseMilliseconds: Int = 500
        ) {
            self.sampleRate = sampleRate
            self.levelDBm0 = levelDBm0
            self.twistDB = twistDB
            self.toneMilliseconds = toneMilliseconds
            self.gapMilliseconds = gapMilliseconds
            self.pauseMilliseconds = pauseMilliseconds
        }
    }

    /// The most digits one generator accepts (a hostile-size guard; 1000 digits is about 2.7 minutes).
    public static let maximumDigits = 1000

    private enum Segment: Sendable {
        case tone(row: Int, column: Int, samples: Int)
        case silence(samples: Int)
    }

    public let configuration: Configuration
    private let segments: [Segment]
    private var segmentIndex = 0
    private var segmentPosition = 0
    private let rowAmplitude: Double
    private let columnAmplitude: Double
    // Phasors (cos, sin) and their per-sample rotations; one per group.
    private var rowPhasor = (re: 1.0, im: 0.0)
    private var columnPhasor = (re: 1.0, im: 0.0)
    private let rowSteps: [(re: Double, im: Double)]
    private let columnSteps: [(re: Double, im: Double)]

    /// The total length of the sequence in samples.
    public let totalSamples: Int
    /// Samples rendered so far.
    public private(set) var renderedSamples = 0

    /// True once every digit, gap and pause has been rendered.
    public var isFinished: Bool { segmentIndex >= segments.count }

    /// Creates a generator for `digits` (0-9 * # A-D, `p` for a pause).
    public init(digits: String, configuration: Configuration = Configuration()) throws(DTMFGeneratorError) {
        let c = configuration
        guard (4000...192_000).contains(c.sampleRate) else { throw .unsupportedRate(c.sampleRate) }
        guard (1...10_000).contains(c.toneMilliseconds) else {
            throw .invalidDuration("tone \(c.toneMilliseconds) ms (1...10000)")
        }
        guard (0...10_000).contains(c.gapMilliseconds) else {
            throw .invalidDuration("gap \(c.gapMilliseconds) ms (0...10000)")
        }
        guard (0...10_000).contains(c.pauseMilliseconds) else {
            throw .invalidDuration("pause \(c.pauseMilliseconds) ms (0...10000)")
        }
        guard c.levelDBm0.isFinite, (-60...3).contains(c.levelDBm0) else {
            throw .invalidLevel("\(c.levelDBm0) dBm0 (-60...3)")
        }
        guard c.twistDB.isFinite, (-20...20).contains(c.twistDB), c.levelDBm0 + c.twistDB <= 3 else {
            throw .invalidLevel("twist \(c.twistDB) dB (-20...20, high tone at most +3 dBm0)")
        }
        guard !digits.isEmpty else { throw .empty }
        let count = digits.count
        guard count <= Self.maximumDigits else { throw .tooManyDigits(count) }

        let toneSamples = c.toneMilliseconds * c.sampleRate / 1000
        let gapSamples = c.gapMilliseconds * c.sampleRate / 1000
        let pauseSamples = c.pauseMilliseconds * c.sampleRate / 1000
        var segments: [Segment] = []
        segments.reserveCapacity(count * 2)
        for (i, ch) in digits.enumerated() {
            if ch == "p" || ch == "P" {
                if pauseSamples > 0 { segments.append(.silence(samples: pauseSamples)) }
            } else if let pos = DTMF.position(of: ch) {
                segments.append(.tone(row: pos.row, column: pos.column, samples: max(1, toneSamples)))
                if gapSamples > 0 { segments.append(.silence(samples: gapSamples)) }
            } else {
                throw .invalidDigit(ch, position: i)
            }
        }
        self.configuration = c
        self.segments = segments
        self.totalSamples = segments.reduce(0) {
            switch $1 {
            case .tone(_, _, let n), .silence(let n): $0 + n
            }
        }
        rowAmplitude = DTMF.amplitude(dBm0: c.levelDBm0)
        columnAmplitude = DTMF.amplitude(dBm0: c.levelDBm0 + c.twistDB)
        let rate = Double(c.sampleRate)
        rowSteps = DTMF.rowFrequencies.map { (cos(2 * .pi * $0 / rate), sin(2 * .pi * $0 / rate)) }
        columnSteps = DTMF.columnFrequencies.map { (cos(2 * .pi * $0 / rate), sin(2 * .pi * $0 / rate)) }
    }

    /// Renders the next `output.count` samples; once the sequence ends the rest is silence.
    /// - Returns: how many samples belonged to the sequence (tones, gaps and pauses).
    @discardableResult
    public mutating func render(into output: UnsafeMutableBufferPointer<Int16>) -> Int {
        var written = 0
        while written < output.count, segmentIndex < segments.count {
            let segment = segments[segmentIndex]
            switch segment {
            case .silence(let samples):
                let n = min(samples - segmentPosition, output.count - written)
                (output.baseAddress! + written).update(repeating: 0, count: n)
                written += n
                segmentPosition += n
                if segmentPosition == samples { nextSegment() }
            case .tone(let row, let column, let samples):
                let n = min(samples - segmentPosition, output.count - written)
                renderTone(row: row, column: column, into: output, from: written, count: n)
                written += n
                segmentPosition += n
                if segmentPosition == samples { nextSegment() }
            }
        }
        if written < output.count {
            (output.baseAddress! + written).update(repeating: 0, count: output.count - written)
        }
        renderedSamples += written
        return written
    }

    private mutating func nextSegment() {
        segmentIndex += 1
        segmentPosition = 0
    }

    private mutating func renderTone(
        row: Int, column: Int, into output: UnsafeMutableBufferPointer<Int16>, from start: Int, count: Int
    ) {
        let rs = rowSteps[row]
        let cs = columnSteps[column]
        var r = rowPhasor
        var c = columnPhasor
        let ra = rowAmplitude
        let ca = columnAmplitude
        for i in start..<(start + count) {
            let v = ra * r.im + ca * c.im
            output[i] = Int16(clamping: Int(v.rounded()))
            r = (r.re * rs.re - r.im * rs.im, r.re * rs.im + r.im * rs.re)
            c = (c.re * cs.re - c.im * cs.im, c.re * cs.im + c.im * cs.re)
        }
        // Keep the phasors on the unit circle; rounding would otherwise drift their amplitude.
        let rn = 1 / (r.re * r.re + r.im * r.im).squareRoot()
        let cn = 1 / (c.re * c.re + c.im * c.im).squareRoot()
        rowPhasor = (r.re * rn, r.im * rn)
        columnPhasor = (c.re * cn, c.im * cn)
    }

    /// Renders a whole sequence into a new array (for files and tests; not for the hot path).
    public static func samples(digits: String, configuration: Configuration = Configuration()) throws(DTMFGeneratorError) -> [Int16] {
        var g = try DTMFGenerator(digits: digits, configuration: configuration)
        var out = [Int16](repeating: 0, count: g.totalSamples)
        out.withUnsafeMutableBufferPointer { _ = g.render(into: $0) }
        return out
    }
}
