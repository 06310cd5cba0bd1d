// Deterministic test audio for the benchmarks; reference/pipeline.c generates the very same samples.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PatchbayDSP

/// Two seconds (100 frames of 20 ms) of realistic input for one 16 kHz call leg with an 8 kHz peer.
///
/// - `inboundBytes`: the caller's 16 kHz audio as it arrives from the Voice API (PCM16 little-endian):
///   speech-like noise (low-passed white noise under a 3 Hz syllable envelope) with DTMF digits "1" at
///   0.30 s and "9" at 1.30 s, each 100 ms at -10 dBm0 per tone.
/// - `inbound16k`: the same samples decoded, for steps that start after the decode.
/// - `peer8k`: the 8 kHz peer's speech, 160 samples per frame.
/// - `player16k`: a prompt being played into the call (three sines, music-like), 320 samples per frame.
/// - `second16k`: another participant's speech at 16 kHz (the third source of the 3-way mix).
///
/// The generator uses only integer arithmetic, IEEE doubles and libm `sin`/`round`, in the same order as
/// the C reference, so both sides process bit-identical input (the checksums in the driver prove it).
public struct Fixture: Sendable {
    public static let frameCount = 100
    public static let samplesPerFrame16k = 320
    public static let samplesPerFrame8k = 160
    public static let bytesPerFrame16k = 640

    public let inboundBytes: [UInt8]
    public let inbound16k: [Int16]
    public let peer8k: [Int16]
    public let player16k: [Int16]
    public let second16k: [Int16]

    public init() {
        let n16 = Self.frameCount * Self.samplesPerFrame16k
        let n8 = Self.frameCount * Self.samplesPerFrame8k
        var inbound = Self.speech(rate: 16000, count: n16, seed: 0x1234_5678, peak: 6000)
        Self.addDigit(row: 697, column: 1209, rate: 16000, from: 0.30, milliseconds: 100, into: &inbound)
        Self.addDigit(row: 852, column: 1477, rate: 16000, from: 1.30, milliseconds: 100, into: &inbound)
        let inboundPCM = inbound.map(Self.pcm)
        inbound16k = inboundPCM
        var bytes = [UInt8](repeating: 0, count: n16 * 2)
        bytes.withUnsafeMutableBytes { raw in
            inboundPCM.withUnsafeBufferPointer { PCM16LittleEndian.encode($0, into: raw) }
        }
        inboundBytes = bytes
        peer8k = Self.speech(rate: 8000, count: n8, seed: 0x0BAD_F00D, peak: 8000).map(Self.pcm)
        second16k = Self.speech(rate: 16000, count: n16, seed: 0x00C0_FFEE, peak: 5000).map(Self.pcm)
        var player = [Double](repeating: 0, count: n16)
        for i in 0..<n16 {
            let t = Double(i) / 16000
            player[i] =
                16000
                * (0.3 * sin(2 * Double.pi * 220 * t) + 0.2 * sin(2 * Double.pi * 330 * t)
                    + 0.1 * sin(2 * Double.pi * 550 * t))
        }
        player16k = player.map(Self.pcm)
    }

    /// Round half away from zero, then saturate: C's `round` and a clamp.
    static func pcm(_ v: Double) -> Int16 {
        let r = v.rounded()
        if r >= 32767 { return .max }
        if r <= -32768 { return .min }
        return Int16(r)
    }

    /// Low-passed xorshift32 noise under a half-wave 3 Hz envelope (syllables with pauses).
    static func speech(rate: Int, count: Int, seed: UInt32, peak: Double) -> [Double] {
        var x = seed
        var lp = 0.0
        var out = [Double](repeating: 0, count: count)
        for n in 0..<count {
            x ^= x << 13
            x ^= x >> 17
            x ^= x << 5
            let noise = Double(Int32(bitPattern: x) >> 16) / 32768
            lp += 0.25 * (noise - lp)
            let t = Double(n) / Double(rate)
            var env = sin(2 * Double.pi * 3 * t)
            if env < 0 { env = 0 }
            out[n] = 3 * peak * env * lp
        }
        return out
    }

    /// Adds a DTMF digit at -10 dBm0 per tone (G.711: full-scale sine = +3.14 dBm0).
    static func addDigit(
        row: Double, column: Double, rate: Int, from seconds: Double, milliseconds: Int, into samples: inout [Double]
    ) {
        let amplitude = 32767 * pow(10, (-10 - 3.14) / 20)
        let start = Int(seconds * Double(rate))
        let count = milliseconds * rate / 1000
        for i in 0..<count {
            let w = 2 * Double.pi * Double(i) / Double(rate)
            samples[start + i] += amplitude * sin(w * row) + amplitude * sin(w * column)
        }
    }
}
