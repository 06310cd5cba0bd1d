internal import COpus

/// Decodes Opus packets into mono 20 ms PCM16 frames, concealing lost packets.
///
/// Non-copyable: it owns the libopus state, which is freed when the value goes away.
public struct OpusDecoder: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the C state is owned by this non-copyable value alone, so only its single
    // owner can ever touch it.
    private let state: OpaquePointer

    /// The sample rate, in Hz.
    public let sampleRate: Int
    /// Samples in one 20 ms frame.
    public var frameSamples: Int { sampleRate / 50 }

    /// Creates a decoder for mono audio at `sampleRate` (8, 16, 24 or 48 kHz).
    public init(sampleRate: Int) throws(OpusCodecError) {
        guard OpusEncoder.supportedSampleRates.contains(sampleRate) else { throw .unsupportedSampleRate(sampleRate) }
        var error: Int32 = 0
        guard let state = opus_decoder_create(Int32(sampleRate), 1, &error), error == OPUS_OK else {
            throw .initialisationFailed(String(cString: opus_strerror(error)))
        }
        self.state = state
        self.sampleRate = sampleRate
    }

    deinit {
        opus_decoder_destroy(state)
    }

    /// Decodes `packet` into `frame`, which must hold at least one 20 ms frame. A nil packet means it
    /// was lost: libopus then conceals the gap (packet loss concealment) with a 20 ms frame.
    /// - Returns: the samples decoded (a 20 ms frame for a 20 ms packet or a lost one).
    public mutating func decode(
        _ packet: UnsafeBufferPointer<UInt8>?, into frame: UnsafeMutableBufferPointer<Int16>
    ) throws(OpusCodecError) -> Int {
        guard frame.count >= frameSamples, let pcm = frame.baseAddress else {
            throw .wrongFrameSize(samples: frame.count, expected: frameSamples)
        }
        // An empty packet is a lost one to libopus too: both conceal.
        let data = packet?.baseAddress
        let length = Int32(clamping: packet?.count ?? 0)
        let samples = opus_decode(state, data, length, pcm, Int32(frameSamples), 0)
        guard samples >= 0 else { throw .invalidPacket(String(cString: opus_strerror(samples))) }
        return Int(samples)
    }

    /// Decodes `packet` (nil: lost, concealed) into a new frame (allocates; the buffer variant does not).
    public mutating func decode(_ packet: [UInt8]?) throws(OpusCodecError) -> [Int16] {
        var frame = [Int16](repeating: 0, count: frameSamples)
        let samples: Int
        if let packet {
            samples = try packet.withUnsafeBufferPointer { (packet) throws(OpusCodecError) -> Int in
                try frame.withUnsafeMutableBufferPointer { (frame) throws(OpusCodecError) -> Int in
                    try decode(packet, into: frame)
                }
            }
        } else {
            samples = try frame.withUnsafeMutableBufferPointer { (frame) throws(OpusCodecError) -> Int in
                try decode(nil, into: frame)
            }
        }
        frame.removeLast(frame.count - samples)
        return frame
    }
}
