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
    /// Keeps the rendered frame within 16 bits (see `Limiter`).
    public var limiter: Limiter
    /// The limiter's current gain in Q16 (65536 = unity).
    public var limiterGainQ16: Int64 { limiter.gainQ16 }
    /// Whether the limiter is used; without it, sums beyond full scale are saturated.
    public var limiterEnabled: Bool {
        get { limiter.enabled }
        set { limiter.enabled = newValue }
    }
    /// How fast the limiter's gain recovers, in Q16 per frame (default about 0.5 dB per 20 ms).
    public var releasePerFrame: Int64 {
        get { limiter.releasePerFrame }
        set { limiter.releasePerFrame = newValue }
    }
    /// Samples where the limiter could not prevent saturation (counted, for metrics).
    public private(set) var saturatedSamples = 0
    /// How many sources were added since the last render.
    public private(set) var sourceCount = 0

    /// Creates a bus for frames of `frameSize` samples.
    public init(frameSize: Int, limiter: Bool = true) {
        precondition(frameSize > 0 && frameSize <= 1 << 16, "frame size out of range")
        self.frameSize = frameSize
        self.limiter = Limiter(enabled: limiter)
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
    public typealias RenderReport = Limiter.Report

    /// Writes the mix into `output` (`frameSize` samples) and clears the bus for the next frame.
    @discardableResult
    public mutating func render(into output: UnsafeMutableBufferPointer<Int16>) -> RenderReport {
        precondition(output.count >= frameSize, "output shorter than a frame")
        let report = limiter.render(UnsafeBufferPointer(accumulator), into: output)
        saturatedSamples &+= report.saturatedSamples
        accumulator.update(repeating: 0)
        sourceCount = 0
        return report
    }
}
