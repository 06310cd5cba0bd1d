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
///
/// Forwarded calls (`--service`) also keep what the bench's service saw of them: when the service's
/// connection for the call opened, each burst's arrival there and when its echo left.
final class ProbeLedger: Sendable {
    private struct State {
        var bursts: [UInt64] = []
        var digits: [(digit: Character, at: UInt64)] = []
        // Forwarded calls only.
        var forService: [UInt64] = []
        var serviceReady: UInt64?
        var reachedService: [UInt64: UInt64] = [:]
        var echoed: [UInt64: UInt64] = [:]
        var missedAtService = 0
    }

    private let state = Mutex(State())
    private let forwarded: Bool

    init(forwarded: Bool = false) {
        self.forwarded = forwarded
    }

    func sentBurst(at time: UInt64) {
        state.withLock { s in
            s.bursts.append(time)
            if forwarded { s.forService.append(time) }
        }
    }

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

    // MARK: Forwarded calls

    /// The service's connection for this call said `websocket:connected`: bursts sent from a margin after
    /// this reach it (earlier ones may have gone before the gateway had the service in the call).
    func serviceConnected(at time: UInt64) { state.withLock { $0.serviceReady = $0.serviceReady ?? time } }

    /// When bursts start to count: `margin` after the service connected (nil: it has not).
    func serviceListening(margin: UInt64) -> UInt64? { state.withLock { $0.serviceReady.map { $0 + margin } } }

    /// The oldest burst the service has not looked for, sent at or after `since`.
    func takeServiceBurst(since: UInt64) -> UInt64? {
        state.withLock { s in
            while !s.forService.isEmpty {
                let sent = s.forService.removeFirst()
                if sent >= since { return sent }
            }
            return nil
        }
    }

    /// The service found the burst sent at `sent`: it reached the service at `at`.
    func reachedService(_ sent: UInt64, at: UInt64) { state.withLock { $0.reachedService[sent] = at } }

    /// The service looked for the burst sent at `sent` and did not find it.
    func missedAtService(_ sent: UInt64) { state.withLock { $0.missedAtService += 1 } }

    /// The service's echo of the burst sent at `sent` left at `at` (where the burst starts in what it sent).
    func echoed(_ sent: UInt64, at: UInt64) { state.withLock { $0.echoed[sent] = at } }

    /// For the burst sent at `sent`: when it reached the service and when the service's echo of it left.
    func serviceTimes(of sent: UInt64) -> (reached: UInt64?, echoed: UInt64?) {
        state.withLock { ($0.reachedService[sent], $0.echoed[sent]) }
    }

    /// Bursts the service found; bursts it looked for in vain or never looked for (sent between `start`
    /// and `end`).
    func serviceOutcome(after start: UInt64, before end: UInt64) -> (found: Int, missed: Int) {
        state.withLock { s in
            (s.reachedService.count, s.missedAtService + s.forService.count { $0 >= start && $0 < end })
        }
    }
}

/// Looks for sent bursts, one at a time, in audio as it arrives: once the burst being looked for has
/// been sent, the next frames (five: 100 ms, by default) are gathered and it is found in them by correlation.
struct BurstListener {
    enum Outcome {
        /// The burst sent at `sent` starts at `at` (the arrival of the frame it starts in, plus its
        /// offset there), at sample `sample` of everything heard.
        case found(sent: UInt64, at: UInt64, sample: Int)
        case missed(sent: UInt64)
    }

    /// A burst later than this many frames is missed.
    let frameCount: Int

    private let search: ProbeSearch
    private let rate: Int
    private let frameSamples: Int
    private var window: [Float]
    private var arrivals: [UInt64]
    private var frames = 0
    /// The sample (of everything heard) the window starts at.
    private var windowStart = 0
    /// The burst being looked for (its send time).
    private(set) var pending: UInt64?
    /// Samples heard so far.
    private(set) var samplesHeard = 0

    init(rate: Int, frames: Int = 5) {
        search = ProbeSearch(rate: rate)
        self.rate = rate
        frameSamples = rate / 50
        frameCount = frames
        window = Array(repeating: 0, count: frames * frameSamples)
        arrivals = Array(repeating: 0, count: frames)
    }

    /// One 20 ms frame (16-bit little-endian) heard at `arrival`. `next` gives the next burst to look for
    /// when none is pending (nil: none). Returns what became of the pending burst once its window is full.
    mutating func heard(_ frame: UnsafeRawBufferPointer, at arrival: UInt64, next: () -> UInt64?) -> Outcome? {
        let n = min(frameSamples, frame.count / 2)
        defer { samplesHeard += n }
        if pending == nil { pending = next() }
        guard let sent = pending, arrival >= sent else { return nil }
        if frames == 0 { windowStart = samplesHeard }
        let base = frames * frameSamples
        for i in 0..<n {
            window[base + i] = Float(Int16(littleEndian: frame.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        }
        for i in n..<frameSamples { window[base + i] = 0 }
        arrivals[frames] = arrival
        frames += 1
        guard frames == frameCount else { return nil }
        frames = 0
        pending = nil
        let found = window.withUnsafeBufferPointer { search.best(in: $0) }
        guard ProbeSearch.isFound(found) else { return .missed(sent: sent) }
        let offset = UInt64(found.lag % frameSamples) * 1_000_000_000 / UInt64(rate)
        return .found(sent: sent, at: arrivals[found.lag / frameSamples] + offset, sample: windowStart + found.lag)
    }

    /// Forgets the burst being looked for (the call ended): returns it.
    mutating func abandon() -> UInt64? {
        defer {
            pending = nil
            frames = 0
        }
        return pending
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
