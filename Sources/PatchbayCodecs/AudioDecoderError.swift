/// Why a file or buffer could not be decoded.
public enum AudioDecoderError: Error, Equatable, CustomStringConvertible {
    /// No file at this path.
    case fileNotFound(path: String)
    /// The file exists but cannot be read (permissions, a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// Zero bytes.
    case empty
    /// More bytes than `AudioDecoder.Limits.maximumInputBytes`.
    case tooLarge(bytes: Int, limit: Int)
    /// libsndfile does not recognise the bytes as audio, or finds the header broken (its text).
    case corrupt(String)
    /// Audio libsndfile reads, but in a container Patchbay does not accept (only WAV and mp3 are).
    case unsupportedFormat(String)
    /// The header declares more audio data than the file holds: the file was cut short.
    case truncated(declaredBytes: Int, presentBytes: Int)
    /// The file holds no audio frames.
    case noAudio
    /// The audio lasts longer than `AudioDecoder.Limits.maximumDuration`.
    case tooLong(limit: Duration)
    /// The file's sample rate is outside 1 kHz...192 kHz.
    case unsupportedSampleRate(Int)
    /// The requested output rate is outside 1 kHz...192 kHz.
    case unsupportedOutputRate(Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "audio file not found: \(path)"
        case .unreadable(let path, let reason): "audio file \(path) cannot be read: \(reason)"
        case .empty: "audio file is empty (0 bytes)"
        case .tooLarge(let bytes, let limit): "audio file is too large: \(bytes) bytes, the limit is \(limit)"
        case .corrupt(let reason): "not a readable wav or mp3 file: \(reason)"
        case .unsupportedFormat(let format): "unsupported audio format \(format): only wav and mp3 are accepted"
        case .truncated(let declared, let present):
            "audio file is truncated: its header declares \(declared) bytes of audio, only \(present) are present"
        case .noAudio: "audio file holds no audio"
        case .tooLong(let limit): "audio is longer than the limit of \(limit)"
        case .unsupportedSampleRate(let rate): "unsupported sample rate \(rate) Hz in the file (1000...192000)"
        case .unsupportedOutputRate(let rate): "unsupported output rate \(rate) Hz (1000...192000)"
        }
    }
}
