public import PatchbayDSP

/// Converts a leg's 20 ms frames to another rate, or copies them when the rates agree.
///
/// Streams always move in whole 20 ms frames; a converter always fills its output frame (the
/// resampler's steady state makes exactly one output frame per input frame; a short first frame after a
/// reset is zero-padded).
public struct RateConverter: ~Copyable {
    public let inputRate: Int
    public let outputRate: Int
    private var resampler: Resampler?

    public init(from inputRate: Int, to outputRate: Int) throws(ResamplerError) {
        self.inputRate = inputRate
        self.outputRate = outputRate
        resampler = inputRate == outputRate ? nil : try Resampler(from: inputRate, to: outputRate)
    }

    /// The converter's delay in seconds (0 when it copies).
    var latencySeconds: Double {
        switch resampler {
        case .some(let r): r.latencySeconds
        case .none: 0
        }
    }

    /// Converts one frame of `input` into all of `output`.
    public mutating func convert(_ input: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>) {
        var produced: Int
        if resampler == nil {
            produced = min(input.count, output.count)
            if produced > 0 {
                output.baseAddress!.update(from: input.baseAddress!, count: produced)
            }
        } else {
            produced = resampler!.process(input, into: output).produced
        }
        if produced < output.count {
            (output.baseAddress! + produced).update(repeating: 0, count: output.count - produced)
        }
    }
}
