/// Why a WAV file could not be written.
public enum WAVWriterError: Error, Equatable, CustomStringConvertible {
    /// The rate is not a positive number of Hz libsndfile can store.
    case unsupportedSampleRate(Int)
    /// The file could not be created (missing directory, permissions, ...): libsndfile's text.
    case cannotCreate(path: String, reason: String)
    /// Writing or finishing the file failed (disk full, I/O error): libsndfile's text.
    case writeFailed(String)

    public var description: String {
        switch self {
        case .unsupportedSampleRate(let rate): "unsupported WAV sample rate \(rate) Hz"
        case .cannotCreate(let path, let reason): "cannot create WAV file \(path): \(reason)"
        case .writeFailed(let reason): "writing WAV file failed: \(reason)"
        }
    }
}
