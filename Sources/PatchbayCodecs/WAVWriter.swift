internal import CSndFile

/// Writes a mono 16-bit PCM WAV file through libsndfile, frame by frame or all at once.
///
/// libsndfile writes the header's lengths when the file is closed: call `close()` to learn whether
/// that worked (a writer that simply goes away still closes the file, silently).
///
/// Non-copyable: it owns the open file.
public struct WAVWriter: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the libsndfile handle is owned by this non-copyable value alone, so only its
    // single owner can ever touch it.
    private let handle: OpaquePointer

    /// The file's sample rate, in Hz.
    public let sampleRate: Int
    /// Samples written so far.
    public private(set) var samplesWritten = 0

    /// Creates (or replaces) the file at `path`.
    public init(path: String, sampleRate: Int) throws(WAVWriterError) {
        guard (1...Int(Int32.max)).contains(sampleRate) else { throw .unsupportedSampleRate(sampleRate) }
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = 1
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        switch SndFile.open({ sf_open(path, Int32(SFM_WRITE), &info) }) {
        case .success(let handle): self.handle = handle
        case .failure(let error): throw .cannotCreate(path: path, reason: error.text)
        }
        self.sampleRate = sampleRate
    }

    deinit {
        sf_close(handle)
    }

    /// Appends `samples` to the file.
    public mutating func write(_ samples: UnsafeBufferPointer<Int16>) throws(WAVWriterError) {
        guard let base = samples.baseAddress, !samples.isEmpty else { return }
        let written = Int(sf_write_short(handle, base, sf_count_t(samples.count)))
        samplesWritten += max(0, written)
        guard written == samples.count else {
            throw .writeFailed(SndFile.error(of: handle) ?? "wrote \(written) of \(samples.count) samples")
        }
    }

    /// Finishes the header and closes the file.
    public consuming func close() throws(WAVWriterError) {
        let handle = self.handle
        discard self
        let status = sf_close(handle)
        guard status == 0 else { throw .writeFailed(String(cString: sf_error_number(status))) }
    }

    /// Writes `samples` as a complete mono 16-bit WAV file at `path`.
    public static func write(_ samples: [Int16], sampleRate: Int, to path: String) throws(WAVWriterError) {
        var writer = try WAVWriter(path: path, sampleRate: sampleRate)
        let result = samples.withUnsafeBufferPointer { buffer in
            Result { () throws(WAVWriterError) in try writer.write(buffer) }
        }
        try result.get()
        try writer.close()
    }
}
