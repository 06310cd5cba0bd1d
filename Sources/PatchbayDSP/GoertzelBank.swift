#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A bank of Goertzel filters, one per SIMD lane, that yields each bin's complex DFT over a block.
///
/// The outputs are referenced to the block's first sample (X = Σ x[m] e^{-jωm}), so DFTs of consecutive
/// blocks can be combined (`X_AB = X_A + e^{-jωH} X_B`) and their phases compared.
struct GoertzelBank<Lanes: SIMD & Sendable>: Sendable where Lanes.Scalar == Float {
    private let coefficient: Lanes
    private let outputCos: Lanes
    private let outputSin: Lanes
    private let finalRe: Lanes  // e^{-jω(L-1)}
    private let finalIm: Lanes
    /// e^{-jωL}: moves a DFT one block length later.
    let shiftRe: Lanes
    let shiftIm: Lanes
    /// ωL in radians per block, for phase-advance frequency estimates.
    let omegaBlock: [Double]

    private var s1 = Lanes()
    private var s2 = Lanes()

    /// - Parameters:
    ///   - frequencies: one frequency in Hz per lane.
    ///   - blockLength: samples per block.
    init(frequencies: [Double], sampleRate: Int, blockLength: Int) {
        precondition(frequencies.count == Lanes.scalarCount, "one frequency per lane")
        var coef = Lanes(), oc = Lanes(), os = Lanes(), fr = Lanes(), fi = Lanes(), sr = Lanes(), si = Lanes()
        var wl: [Double] = []
        let l = Double(blockLength)
        for (i, f) in frequencies.enumerated() {
            let w = 2 * Double.pi * f / Double(sampleRate)
            coef[i] = Float(2 * cos(w))
            oc[i] = Float(cos(w))
            os[i] = Float(sin(w))
            fr[i] = Float(cos(-w * (l - 1)))
            fi[i] = Float(sin(-w * (l - 1)))
            sr[i] = Float(cos(-w * l))
            si[i] = Float(sin(-w * l))
            wl.append(w * l)
        }
        coefficient = coef
        outputCos = oc
        outputSin = os
        finalRe = fr
        finalIm = fi
        shiftRe = sr
        shiftIm = si
        omegaBlock = wl
    }

    /// Runs `samples` through every filter.
    @inline(__always)
    mutating func update(_ samples: UnsafeBufferPointer<Int16>) {
        var a = s1
        var b = s2
        let c = coefficient
        for x in samples {
            let s0 = c * a - b + Lanes(repeating: Float(x))
            b = a
            a = s0
        }
        s1 = a
        s2 = b
    }

    /// The block's DFT per lane; resets the filters for the next block.
    mutating func finish() -> (re: Lanes, im: Lanes) {
        // y = s[L-1] - e^{-jω} s[L-2] = e^{jω(L-1)} X
        let yRe = s1 - outputCos * s2
        let yIm = outputSin * s2
        s1 = Lanes()
        s2 = Lanes()
        return (yRe * finalRe - yIm * finalIm, yRe * finalIm + yIm * finalRe)
    }
}
