import PatchbayDSP

/// A leg's DSP state on its shard: its detector, its converters to and from the conversation's rate,
/// its mix bus and players, and the frame buffers a tick works in (all allocated here, once).
final class LegMedia {
    /// The largest frame any stage handles: 20 ms at 48 kHz.
    static let maximumFrameSamples = 960

    let frameSamples: Int
    var detector: DTMFDetector?
    private(set) var toMix: RateConverter
    private(set) var fromMix: RateConverter
    /// From the leg's rate straight to its one partner's (two-leg conversations; see `Conversation`).
    private var direct: RateConverter?
    private var directRate = 0
    /// The leg's audio goes straight to its one listener, without the mixing tick.
    var forwardsDirectly = false
    /// Paces what the leg hears on the direct route (and learns of frames the mix sent it).
    var pacer = DirectPacer()
    /// When the leg's frames arrive in the 20 ms period, sampled at the conversation's ticks.
    var arrivals = TickPhase.Window()
    /// The latest arrival phase of the last window, or nil if none arrived in it.
    var arrivalPhase: Int64?
    var bus: MixBus
    var players: [Player] = []
    /// The fewest inbound samples waiting at any tick of the current trim window, and the window's ticks
    /// so far (see `Conversation.pullInbound`).
    var leastInboundDepth = Int.max
    var depthWindowTicks = 0
    /// Ticks over which a surplus frame must persist before it is trimmed (1 s).
    static let trimWindowTicks = 50

    /// The leg's audio of this tick at the leg's rate, then at the conversation's rate.
    let legFrame: UnsafeMutableBufferPointer<Int16>
    let mixFrame: UnsafeMutableBufferPointer<Int16>
    /// What the leg hears from the others, at the conversation's rate and at its own.
    let othersMix: UnsafeMutableBufferPointer<Int16>
    let othersLeg: UnsafeMutableBufferPointer<Int16>
    /// The others' sum before it is brought within 16 bits (at the conversation's rate), and the limiter
    /// that does it: three loud legs are scaled down together, not hard-clipped, so a tone among them keeps
    /// its shape.
    let othersSum: UnsafeMutableBufferPointer<Int32>
    var othersLimiter = Limiter()
    /// One player's frame, and the finished output frame.
    let scratch: UnsafeMutableBufferPointer<Int16>
    let output: UnsafeMutableBufferPointer<Int16>

    init(sampleRate: Int, mixRate: Int, detectDTMF: Bool) throws(ResamplerError) {
        frameSamples = sampleRate / 50
        detector = detectDTMF ? DTMFDetector(sampleRate: sampleRate) : nil
        toMix = try RateConverter(from: sampleRate, to: mixRate)
        fromMix = try RateConverter(from: mixRate, to: sampleRate)
        bus = MixBus(frameSize: frameSamples)
        func buffer() -> UnsafeMutableBufferPointer<Int16> {
            let b = UnsafeMutableBufferPointer<Int16>.allocate(capacity: Self.maximumFrameSamples)
            b.initialize(repeating: 0)
            return b
        }
        legFrame = buffer()
        mixFrame = buffer()
        othersMix = buffer()
        othersLeg = buffer()
        scratch = buffer()
        output = buffer()
        othersSum = .allocate(capacity: Self.maximumFrameSamples)
        othersSum.initialize(repeating: 0)
    }

    deinit {
        for b in [legFrame, mixFrame, othersMix, othersLeg, scratch, output] { b.deallocate() }
        othersSum.deallocate()
    }

    /// Re-creates the converters for a new conversation rate (a control operation; it allocates).
    func setMixRate(_ mixRate: Int, legRate: Int) throws(ResamplerError) {
        guard mixRate != toMix.outputRate else { return }
        toMix = try RateConverter(from: legRate, to: mixRate)
        fromMix = try RateConverter(from: mixRate, to: legRate)
    }

    var mixRate: Int { toMix.outputRate }

    /// Makes the converter for the direct route to a partner at `partnerRate` (a control operation).
    func connectDirectly(to partnerRate: Int, from legRate: Int) throws(ResamplerError) {
        guard directRate != partnerRate else { return }
        direct = try RateConverter(from: legRate, to: partnerRate)
        directRate = partnerRate
    }

    /// Converts one frame at the leg's rate to the partner's, into all of `output`.
    func convertDirect(_ frame: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Int16>) {
        if direct != nil {
            direct!.convert(frame, into: output)
        } else {
            output.update(repeating: 0)
        }
    }

    func convertToMix(samples mixSamples: Int) {
        toMix.convert(
            UnsafeBufferPointer(rebasing: legFrame[0..<frameSamples]),
            into: UnsafeMutableBufferPointer(rebasing: mixFrame[0..<mixSamples]))
    }

    func convertFromMix(samples mixSamples: Int) {
        fromMix.convert(
            UnsafeBufferPointer(rebasing: othersMix[0..<mixSamples]),
            into: UnsafeMutableBufferPointer(rebasing: othersLeg[0..<frameSamples]))
    }
}
