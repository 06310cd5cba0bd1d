/// Why an Opus encoder or decoder could not be made or could not process a frame.
public enum OpusCodecError: Error, Equatable, CustomStringConvertible {
    /// Only 8, 16, 24 and 48 kHz are supported.
    case unsupportedSampleRate(Int)
    /// A frame must be exactly 20 ms: `expected` samples (or, for decoding, room for that many).
    case wrongFrameSize(samples: Int, expected: Int)
    /// libopus refused to create its state (its text).
    case initialisationFailed(String)
    /// libopus could not encode the frame (its text; e.g. the packet buffer is too small).
    case encodingFailed(String)
    /// libopus could not decode the packet: it is corrupt, or longer than 20 ms (its text).
    case invalidPacket(String)

    public var description: String {
        switch self {
        case .unsupportedSampleRate(let rate): "unsupported Opus sample rate \(rate) Hz (8000, 16000, 24000 or 48000)"
        case .wrongFrameSize(let samples, let expected): "Opus frame of \(samples) samples, expected \(expected) (20 ms)"
        case .initialisationFailed(let reason): "Opus initialisation failed: \(reason)"
        case .encodingFailed(let reason): "Opus encoding failed: \(reason)"
        case .invalidPacket(let reason): "Opus packet could not be decoded: \(reason)"
        }
    }

}
