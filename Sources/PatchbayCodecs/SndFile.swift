internal import CSndFile
import Synchronization

/// Shared helpers around libsndfile.
enum SndFile {
    /// Serialises opening files: libsndfile reports a failed open through a process-wide error code and
    /// text (`sf_error(NULL)`), so two threads failing at once could read each other's message.
    static let openLock = Mutex(())

    /// Opens with `open` under `openLock`; on failure returns libsndfile's text for why.
    static func open(_ open: () -> OpaquePointer?) -> Result<OpaquePointer, OpenError> {
        openLock.withLock { _ in
            if let handle = open() { return .success(handle) }
            return .failure(OpenError(text: String(cString: sf_strerror(nil))))
        }
    }

    /// libsndfile's text for why a file would not open.
    struct OpenError: Error {
        let text: String
    }

    /// libsndfile's name for a major format or an encoding, e.g. "FLAC (Free Lossless Audio Codec)".
    static func formatName(_ format: Int32) -> String? {
        var info = SF_FORMAT_INFO(format: format, name: nil, extension: nil)
        guard sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0,
            let name = info.name
        else { return nil }
        return String(cString: name)
    }

    /// The error text of an open handle (e.g. after a read fails), or nil when there is no error.
    static func error(of handle: OpaquePointer) -> String? {
        guard sf_error(handle) != 0 else { return nil }
        return String(cString: sf_strerror(handle))
    }
}
