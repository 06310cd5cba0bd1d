internal import COpus

/// Encodes mono 20 ms PCM16 frames into Opus packets (libopus, VoIP application).
///
/// Bitrate, complexity and the other encoder settings stay at libopus's defaults for the rate: they are
/// set through `opus_encoder_ctl`, a variadic C function Swift cannot call.
///
/// Non-copyable: it owns the libopus state, which is freed when the value goes away.
public struct OpusEncoder: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the C state is owned by this non-copyable value alone, so only its single
    // owner can ever touch it.
    private let state: OpaquePointer

    /// The sample rates supported: 8, 16, 24 and 48 kHz.
    public static let supportedSampleRates = [8000, 16000, 24000, 48000]
    /// Room for any packet the encoder makes from one 20 ms frame (RFC 6716: at most 1275 bytes of
    /// frame plus its table-of-contents byte).
    public static let maximumPacketBytes = 1276

    /// The sample rate, in Hz.
    public let sampleRate: Int
    /// Samples in one 20 ms frame.
    public var frameSamples: Int { sampleRate / 50 }

    /// Creates an encoder for mono audio at `sampleRate`.
    public init(sampleRate: Int) throws(OpusCodecError) {
        guard Self.supportedSampleRates.contains(sampleRate) else { throw .unsupportedSampleRate(sampleRate) }
        var error: Int32 = 0
        guard let state = opus_encoder_create(Int32(sampleRate), 1, OPUS_APPLICATION_VOIP, &error), error == OPUS_OK
        else {
            throw .initialisationFailed(String(cString: opus_strerror(error)))
        }
        self.state = state
        self.sampleRate = sampleRate
    }

    deinit {
        opus_encoder_destroy(state)
    }

    /// Encodes one 20 ms frame into `packet` (`maximumPacketBytes` is always enough).
    /// - Returns: the packet's length in bytes.
    public mutating func encode(
        _ frame: UnsafeBufferPointer<Int16>, into packet: UnsafeMutableBufferPointer<UInt8>
    ) throws(OpusCodecError) -> Int {
        guard frame.count == frameSamples else { throw .wrongFrameSize(samples: frame.count, expected: frameSamples) }
        guard let pcm = frame.baseAddress, let data = packet.baseAddress else {
            throw .encodingFailed(String(cString: opus_strerror(OPUS_BUFFER_TOO_SMALL)))
        }
        let length = opus_encode(state, pcm, Int32(frameSamples), data, Int32(clamping: packet.count))
        guard length >= 0 else { throw .encodingFailed(String(cString: opus_strerror(length))) }
        return Int(length)
    }

    /// Encodes one 20 ms frame into a new packet (allocates; the buffer variant does not).
    public mutating func encode(_ frame: [Int16]) throws(OpusCodecError) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: Self.maximumPacketBytes)
        let length = try frame.withUnsafeBufferPointer { (frame) throws(OpusCodecError) -> Int in
            try packet.withUnsafeMutableBufferPointer { (packet) throws(OpusCodecError) -> Int in
                try encode(frame, into: packet)
            }
        }
        packet.removeLast(packet.count - length)
        return packet
    }
}
