/// Brings a 32-bit sum of PCM16 sources within 16 bits without wrapping and without hard-clipping what
/// it can save: where a frame's peak exceeds full scale, the whole frame is scaled down (instant attack,
/// a release of `releasePerFrame` per frame), so tones in the mix keep their shape and stay detectable;
/// only what the gain cannot catch is saturated. At unity gain the output is the input, bit for bit.
/// A value: its state is the gain.
public struct Limiter: Sendable, Equatable {
    /// The current gain in Q16 (65536 = unity).
    public private(set) var gainQ16: Int64 = 65536
    /// Whether the gain is used; without it, sums beyond full scale are saturated.
    public var enabled: Bool
    /// How fast the gain recovers, in Q16 per frame (default about 0.5 dB per 20 ms).
    public var releasePerFrame: Int64 = 3_900

    public init(enabled: Bool = true) {
        self.enabled = enabled
    }

    /// What one `render` had to do to keep a frame within 16 bits.
    public struct Report: Equatable, Sendable {
        /// Samples the gain could not catch, saturated at full scale.
        public var saturatedSamples: Int
        /// The frame was scaled down (it was too hot, or the gain is still recovering).
        public var limited: Bool
    }

    /// Writes `input` (one frame of sums) into `output` (at least as long) within 16 bits.
    @discardableResult
    public mutating func render(_ input: UnsafeBufferPointer<Int32>, into output: UnsafeMutableBufferPointer<Int16>) -> Report {
        precondition(output.count >= input.count, "output shorter than the frame")
        var peak: Int32 = 0
        for a in input {
            let m = a < 0 ? (a == .min ? .max : -a) : a
            peak = max(peak, m)
        }
        var gain: Int64 = 65536
        if enabled {
            // Recover towards unity, then pull down at once if this frame needs it.
            gain = min(65536, gainQ16 + releasePerFrame)
            if Int64(peak) * gain > Int64(Int16.max) << 16 {
                gain = (Int64(Int16.max) << 16) / Int64(peak)
            }
            gainQ16 = gain
        }
        var saturated = 0
        if gain == 65536 {
            for i in 0..<input.count {
                let a = input[i]
                let s = Int16(clamping: a)
                saturated &+= Int(truncatingIfNeeded: (Int32(s) != a) ? 1 : 0)
                output[i] = s
            }
        } else {
            for i in 0..<input.count {
                let v = (Int64(input[i]) &* gain) >> 16
                let s = Int16(clamping: v)
                saturated &+= (Int64(s) != v) ? 1 : 0
                output[i] = s
            }
        }
        return Report(saturatedSamples: saturated, limited: gain != 65536)
    }
}
