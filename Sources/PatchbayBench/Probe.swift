import Foundation
import PatchbayDSP
import Synchronization

/// How `patchbay bench` recognises its own audio when it comes back.
public enum ProbeKind: String, Sendable, Codable {
    /// Every frame carries a tag (`FrameTag`): exact, frame for frame, but only through a route that
    /// returns the bytes unchanged (an echo).
    case tag
    /// A known 10 ms burst every half second in otherwise silent audio, found again by correlation:
    /// survives resampling, mixing and level changes (a conversation, a processing route).
    case burst
}

/// The probe burst: twelve tones from 400 Hz to 3.3 kHz with fixed phases under a Hann window.
///
/// It is defined in continuous time and sampled at each leg's rate; being band-limited below 4 kHz it
/// passes an 8 kHz leg unchanged, so the burst a 16 kHz leg sends is found in what an 8 kHz leg hears.
enum ProbeBurst {
    static let milliseconds = 10
    /// Frames between bursts (500 ms).
    static let everyFrames = 25
    /// Peak about -6 dBFS.
    static let peak = 16_000.0

    static func samples(rate: Int) -> [Int16] {
        // Scaled by the 8 kHz rendering's peak, so every rate carries the same continuous signal.
        let scale = peak / reference8kPeak
        return unscaled(rate: rate).map { Int16(max(-32767, min(32767, ($0 * scale).rounded()))) }
    }

    private static let frequencies = (0..<12).map { 400.0 + 262.5 * Double($0) }
    private static let phases = (0..<12).map { Double(($0 * 7919) % 101) / 101 * 2 * Double.pi }
    private static let reference8kPeak = unscaled(rate: 8000).map { abs($0) }.max() ?? 1

    /// The tones summed under the window, sampled at `rate`.
    private static func unscaled(rate: Int) -> [Double] {
        let n = rate * milliseconds / 1000
        return (0..<n).map { i in
            let t = Double(i) / Double(rate)
            let window = 0.5 - 0.5 * cos(2 * Double.pi * (Double(i) + 0.5) / Double(n))
            var sum = 0.0
            for k in 0..<frequencies.count { sum += sin(2 * Double.pi * frequencies[k] * t + phases[k]) }
            return window * sum
        }
    }
}

/// Finds the probe burst in received audio: the lag of the best correlation.
///
/// A burst counts as found when it correlates clearly (coefficient at least 0.3: audio mixed in beside
/// it, uncorrelated, lowers the coefficient but not the peak's place) at about the level it was sent
/// (gain 0.5...2).
struct ProbeSearch {
    private let reference: [Float]
    private let referenceNorm: Float
    /// Coarse step between lags tried first (the burst's band ends at 3.3 kHz: its correlation peak is
    /// wider than one 8 kHz sample), then every lag around the best.
    private let stride: Int

    init(rate: Int) {
        reference = ProbeBurst.samples(rate: rate).map { Float($0) }
        referenceNorm = reference.reduce(0) { $0 + $1 * $1 }.squareRoot()
        stride = max(1, rate / 8000)
    }

    var length: Int { reference.count }

    static func isFound(_ match: (lag: Int, score: Float, gain: Float)) -> Bool {
        match.score >= 0.3 && (0.5...2).contains(match.gain)
    }

    /// The best lag in `window` (samples from its start), its correlation coefficient (-1...1) and the
    /// burst's gain there (1: heard at the level sent).
    func best(in window: UnsafeBufferPointer<Float>) -> (lag: Int, score: Float, gain: Float) {
        let lags = window.count - reference.count
        guard lags > 0 else { return (0, 0, 0) }
        var bestLag = 0
        var bestDot = -Float.infinity
        var lag = 0
        while lag < lags {
            let d = dot(window, at: lag)
            if d > bestDot { (bestDot, bestLag) = (d, lag) }
            lag += stride
        }
        let coarse = bestLag
        for l in max(0, coarse - stride)...min(lags - 1, coarse + stride) where l != coarse {
            let d = dot(window, at: l)
            if d > bestDot { (bestDot, bestLag) = (d, l) }
        }
        var energy: Float = 0
        for i in 0..<reference.count { energy += window[bestLag + i] * window[bestLag + i] }
        guard energy > 0 else { return (bestLag, 0, 0) }
        return (bestLag, bestDot / (energy.squareRoot() * referenceNorm), bestDot / (referenceNorm * referenceNorm))
    }

    private func dot(_ window: UnsafeBufferPointer<Float>, at lag: Int) -> Float {
        reference.withUnsafeBufferPointer { r in
            var s0: Float = 0
            var s1: Float = 0
            var i = 0
            let n = r.count
            while i + 1 < n {
                s0 += r[i] * window[lag + i]
                s1 += r[i + 1] * window[lag + i + 1]
                i += 2
            }
            if i < n { s0 += r[i] * window[lag + i] }
            return s0 + s1
        }
    }
}

/// What one call sent that its listener must find again: probe bursts and in-band DTMF digits, with
/// the time each left (uptime nanoseconds). The listener is the call itself on an echo or processing
/// route, or its partner in a two-leg conversation; the two may run on different event loops.
final class ProbeLedger: Sendable {
    private struct State {
        var bursts: [UInt64] = []
        var digits: [(digit: Character, at: UInt64)] = []
    }

    private let state = Mutex(State())

    func sentBurst(at time: UInt64) { state.withLock { $0.bursts.append(time) } }

    func sentDigit(_ digit: Character, at time: UInt64) { state.withLock { $0.digits.append((digit, time)) } }

    /// The oldest burst not yet looked for.
    func takeBurst() -> UInt64? {
        state.withLock { $0.bursts.isEmpty ? nil : $0.bursts.removeFirst() }
    }

    /// The send time of the oldest outstanding `digit`, taken off the ledger.
    func takeDigit(_ digit: Character) -> UInt64? {
        state.withLock { s in
            guard let i = s.digits.firstIndex(where: { $0.digit == digit }) else { return nil }
            return s.digits.remove(at: i).at
        }
    }

    /// Bursts (sent after `start`) and digits never found, sent before `end` (later ones were still on their way).
    func outstanding(after start: UInt64, before end: UInt64) -> (bursts: Int, digits: Int) {
        state.withLock { s in (s.bursts.count { $0 >= start && $0 < end }, s.digits.count { $0.at < end }) }
    }
}

/// The in-band DTMF digits a call sends: each 100 ms at -10 dBm0 (docs/QUALITY.md's defaults), rendered once.
struct ToneBank {
    let digits: [Character] = Array("0123456789")
    let tones: [[Int16]]

    init(rate: Int) {
        // Valid digits at a supported rate: the generator cannot refuse them.
        tones = "0123456789".map { d in
            guard var g = try? DTMFGenerator(digits: String(d), configuration: .init(sampleRate: rate, gapMilliseconds: 0)) else {
                return []
            }
            var out = [Int16](repeating: 0, count: rate / 10)
            let n = out.withUnsafeMutableBufferPointer { g.render(into: $0) }
            return Array(out[0..<n])
        }
    }
}
