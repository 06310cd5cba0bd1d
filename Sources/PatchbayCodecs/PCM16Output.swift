/// The decoder's output: float samples scaled and converted once to PCM16, clipping, after skipping a
/// lead-in.
struct PCM16Output {
    private(set) var samples: [Int16] = []
    /// Samples still to drop from the start (the resampler's delay).
    var skip = 0
    /// Full scale ±1.0 maps to ±32768 times the level's gain; 32768 exactly at unity, so 16-bit sources
    /// come back exact.
    let scale: Float

    /// Reserves room for `capacity` samples, up to 4 Mi (8 MiB): beyond that the array grows as
    /// needed, so a header claiming a long duration cannot make a small file reserve a lot of memory.
    init(capacity: Int, gain: Double) {
        scale = Float(32768 * gain)
        samples.reserveCapacity(min(max(0, capacity), 1 << 22))
    }

    mutating func append(_ input: UnsafeBufferPointer<Float>) {
        let dropped = min(skip, input.count)
        skip -= dropped
        for x in input[dropped...] {
            samples.append(Self.pcm16(x * scale))
        }
    }

    /// The samples, cut or zero-padded to exactly `count`.
    consuming func finish(count: Int) -> [Int16] {
        if samples.count > count {
            samples.removeLast(samples.count - count)
        } else if samples.count < count {
            samples.append(contentsOf: repeatElement(0, count: count - samples.count))
        }
        return samples
    }

    /// A sample already scaled to PCM16's range, rounded and clipped at its limits.
    static func pcm16(_ x: Float) -> Int16 {
        let scaled = x.rounded()
        if scaled >= 32767 { return .max }
        if scaled <= -32768 { return .min }
        if scaled.isNaN { return 0 }  // NaN fails both comparisons above; a float file can hold it
        return Int16(scaled)
    }
}
