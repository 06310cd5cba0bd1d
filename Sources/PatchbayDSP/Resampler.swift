internal import CSpeexDSP

/// Why a resampler could not be made.
public enum ResamplerError: Error, Equatable, CustomStringConvertible {
    /// A rate outside 1 kHz...192 kHz.
    case unsupportedRate(Int)
    /// A quality outside libspeexdsp's 0...10.
    case unsupportedQuality(Int)
    /// libspeexdsp refused to initialise (its error text).
    case initialisationFailed(String)

    public var description: String {
        switch self {
        case .unsupportedRate(let r): "unsupported sample rate \(r) Hz (1000...192000)"
        case .unsupportedQuality(let q): "unsupported resampler quality \(q) (0...10)"
        case .initialisationFailed(let s): "resampler initialisation failed: \(s)"
        }
    }
}

/// A streaming mono sample-rate converter backed by libspeexdsp, with per-stream filter state.
///
/// Feed it 20 ms frames one after another; the filter history carries across calls, so the output is
/// continuous. Quality 5 is the default: docs/QUALITY.md's passband, aliasing and round-trip SNR figures are
/// measured against it in the tests (quality 0-3 miss the 3.4 kHz passband figure, 4 misses the 90 dB
/// aliasing figure). Its delay is `latencySeconds`: half the filter, 40 samples at the lower of the two
/// rates at quality 5 (5 ms for pairs with 8 kHz, 2.5 ms with 16 kHz, 1.7 ms with 24 kHz).
///
/// Non-copyable: it owns its C state, which is released when the value goes away.
public struct Resampler: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the C state is owned by this non-copyable value alone, so only its single
    // owner can ever touch it.
    private let state: OpaquePointer

    /// The input rate in Hz.
    public let inputRate: Int
    /// The output rate in Hz.
    public let outputRate: Int
    /// The libspeexdsp quality (0...10).
    public let quality: Int

    /// The default quality: the lowest that meets docs/QUALITY.md's resampling figures.
    public static let defaultQuality = 5

    /// Creates a converter from `inputRate` to `outputRate`.
    public init(from inputRate: Int, to outputRate: Int, quality: Int = Resampler.defaultQuality) throws(ResamplerError) {
        guard (1000...192_000).contains(inputRate) else { throw .unsupportedRate(inputRate) }
        guard (1000...192_000).contains(outputRate) else { throw .unsupportedRate(outputRate) }
        guard (0...10).contains(quality) else { throw .unsupportedQuality(quality) }
        var err: Int32 = 0
        guard
            let st = speex_resampler_init(
                1, spx_uint32_t(inputRate), spx_uint32_t(outputRate), Int32(quality), &err)
        else {
            throw .initialisationFailed(String(cString: speex_resampler_strerror(err)))
        }
        state = st
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.quality = quality
    }

    deinit {
        speex_resampler_destroy(state)
    }

    /// The delay the filter adds, in input samples.
    public var inputLatency: Int { Int(speex_resampler_get_input_latency(state)) }

    /// The delay the filter adds, in output samples.
    public var outputLatency: Int { Int(speex_resampler_get_output_latency(state)) }

    /// The delay the filter adds, in seconds.
    public var latencySeconds: Double { Double(inputLatency) / Double(inputRate) }

    /// How many output samples `inputCount` input samples make in steady state (rounded up).
    public func outputCapacity(forInput inputCount: Int) -> Int {
        (inputCount * outputRate + inputRate - 1) / inputRate + 1
    }

    /// Converts as much of `input` as fits into `output`.
    /// - Returns: the samples consumed from `input` and produced into `output`.
    @discardableResult
    public mutating func process(
        _ input: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>
    ) -> (consumed: Int, produced: Int) {
        guard let inBase = input.baseAddress, let outBase = output.baseAddress, !input.isEmpty else {
            return (0, 0)
        }
        var inLen = spx_uint32_t(input.count)
        var outLen = spx_uint32_t(output.count)
        speex_resampler_process_int(state, 0, inBase, &inLen, outBase, &outLen)
        return (Int(inLen), Int(outLen))
    }

    /// Converts float samples (any scale; used for file decoding, where mp3 can exceed full scale).
    @discardableResult
    public mutating func process(
        _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
    ) -> (consumed: Int, produced: Int) {
        guard let inBase = input.baseAddress, let outBase = output.baseAddress, !input.isEmpty else {
            return (0, 0)
        }
        var inLen = spx_uint32_t(input.count)
        var outLen = spx_uint32_t(output.count)
        speex_resampler_process_float(state, 0, inBase, &inLen, outBase, &outLen)
        return (Int(inLen), Int(outLen))
    }

    /// Clears the filter history, as if the stream started again.
    public mutating func reset() {
        speex_resampler_reset_mem(state)
    }
}
