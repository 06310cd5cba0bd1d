/// Sums any number of PCM16 sources into a 32-bit accumulator and renders one PCM16 frame.
///
/// Rendering never wraps around. Where the sum would exceed full scale, a limiter scales the whole
/// frame down (instant attack, release of `releasePerFrame` per frame) so that tones in the mix keep
/// their shape and stay detectable; only what the limiter cannot catch is saturated.
///
/// Non-copyable: it owns its accumulator, allocated once at init.
public struct MixBus: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the accumulator is owned by this non-copyable value alone.
    private let accumulator: UnsafeMutableBufferPointer<Int32>
    /// Samples in one frame.
    public let frameSize: Int
    /// The limiter's current gain in Q16 (65536 = unity).
    public private(set) var limiterGainQ16: Int64 = 65536
    /// Whether the limiter is used; without it, sums beyond full scale are saturated.
    public var limiterEnabled: Bool
    /// How fast the limiter's gain recovers, in Q16 per frame (default about 0.5 dB per 20 ms).
    public var releasePerFrame: Int64 = 3_900
    /// Samples where the limiter could not prevent saturation (counted, for metrics).
    public private(set) var saturatedSamples = 0
    /// How many sources were added since the last render.
    public private(set) var sourceCount = 0

    /// Creates a bus for frames of `frameSize` samples.
    public init(frameSize: Int, limiter: Bool = true) {
        precondition(frameSize > 0 && frameSize <= 1 << 16, "frame size out of range")
        self.frameSize = frameSize
        self.limiterEnabled = limiter
        accumulator = .allocate(capacity: frameSize)
        accumulator.initialize(repeating: 0)
    }

    deinit {
        accumulator.deallocate()
    }

    /// Adds `source` (at most `frameSize` samples; shorter sources are silent for the rest).
    public mutating func add(_ source: UnsafeBufferPointer<Int16>) {
        let n = min(source.count, frameSize)
        for i in 0..<n {
            accumulator[i] &+= Int32(source[i])
        }
        sourceCount += 1
    }

    /// Adds `source` scaled by `level` (saturation happens only at render, so levels above unity are safe).
    public mutating func add(_ source: UnsafeBufferPointer<Int16>, level: Level) {
        if level.isUnity { return add(source) }
        let n = min(source.count, frameSize)
        let g = level.gainQ16
        for i in 0..<n {
            let v = (Int64(source[i]) &* g &+ 32768) >> 16
            accumulator[i] &+= Int32(truncatingIfNeeded: v)
        }
        sourceCount += 1
    }

    /// What one `render` had to do to keep the mix within 16 bits.
    public struct RenderReport: Equatable, Sendable {
        /// Samples the limiter could not catch, saturated at full scale.
        public var saturatedSamples: Int
        /// The limiter scaled this frame down (it was too hot, or the gain is still recovering).
        public var limited: Bool
    }

    /// Writes the mix into `output` (`frameSize` samples) and clears the bus for the next frame.
    @discardableResult
    public mutating func render(into output: UnsafeMutableBufferPointer<Int16>) -> RenderReport {
        precondition(output.count >= frameSize, "output shorter than a frame")
        var peak: Int32 = 0
        for i in 0..<frameSize {
            let a = accumulator[i]
            let m = a < 0 ? (a == .min ? .max : -a) : a
            peak = max(peak, m)
        }
        var gain: Int64 = 65536
        if limiterEnabled {
            // Recover towards unity, then pull down instantly if this frame needs it.
            gain = min(65536, limiterGainQ16 + releasePerFrame)
            if Int64(peak) * gain > Int64(Int16.max) << 16 {
                gain = (Int64(Int16.max) << 16) / Int64(peak)
            }
            limiterGainQ16 = gain
        }
        var saturated = 0
        if gain == 65536 {
            for i in 0..<frameSize {
                let a = accumulator[i]
                let s = Int16(clamping: a)
                saturated &+= Int(truncatingIfNeeded: (Int32(s) != a) ? 1 : 0)
                output[i] = s
            }
        } else {
            for i in 0..<frameSize {
                let v = (Int64(accumulator[i]) &* gain) >> 16
                let s = Int16(clamping: v)
                saturated &+= (Int64(s) != v) ? 1 : 0
                output[i] = s
            }
        }
        saturatedSamples &+= saturated
        accumulator.update(repeating: 0)
        sourceCount = 0
        return RenderReport(saturatedSamples: saturated, limited: gain != 65536)
    }
}
