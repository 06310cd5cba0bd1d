internal import CSndFile
import Foundation

/// Writes 16-bit audio of one or more channels through libsndfile: WAV (PCM), MP3 (LAME) or Ogg Opus.
///
/// A WAV file's header is brought up to date after every write, so a process killed mid-file leaves a
/// file that reads to its last write; MP3 and Ogg Opus are streams a decoder reads up to their last
/// complete frame or page. Call `close()` to learn whether the end of the file was written.
///
/// Non-copyable: it owns the open file.
public struct AudioFileWriter: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the libsndfile handle is owned by this non-copyable value alone.
    public enum Format: String, Sendable, CaseIterable {
        case wav, mp3, ogg

        /// The file name extension.
        public var fileExtension: String { rawValue }

        /// The rates the encoder takes (Opus: 8, 12, 16, 24, 48 kHz; LAME: the MPEG rates).
        public func supports(sampleRate: Int) -> Bool {
            switch self {
            case .wav: (1...384_000).contains(sampleRate)
            case .mp3: [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000].contains(sampleRate)
            case .ogg: [8000, 12000, 16000, 24000, 48000].contains(sampleRate)
            }
        }

        var sndfileFormat: Int32 {
            switch self {
            case .wav: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
            case .mp3: Int32(SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III)
            case .ogg: Int32(SF_FORMAT_OGG | SF_FORMAT_OPUS)
            }
        }
    }

    private let handle: OpaquePointer
    public let format: Format
    public let sampleRate: Int
    public let channels: Int
    /// Frames (one sample per channel) written so far.
    public private(set) var framesWritten = 0

    /// Creates (or replaces) the file at `path`.
    public init(path: String, format: Format, sampleRate: Int, channels: Int) throws(AudioFileWriterError) {
        guard format.supports(sampleRate: sampleRate) else { throw .unsupported("\(format.rawValue) at \(sampleRate) Hz") }
        guard (1...32).contains(channels) else { throw .unsupported("\(channels) channels") }
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        info.format = format.sndfileFormat
        switch SndFile.open({ sf_open(path, Int32(SFM_WRITE), &info) }) {
        case .success(let handle): self.handle = handle
        case .failure(let error): throw .cannotCreate(path: path, reason: error.text)
        }
        if format == .wav {
            _ = sf_command(handle, Int32(SFC_SET_UPDATE_HEADER_AUTO), nil, Int32(SF_TRUE))
        }
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
    }

    deinit {
        sf_close(handle)
    }

    /// Appends interleaved frames (`samples.count` a multiple of `channels`).
    public mutating func write(interleaved samples: UnsafeBufferPointer<Int16>) throws(AudioFileWriterError) {
        guard let base = samples.baseAddress, !samples.isEmpty else { return }
        let frames = samples.count / channels
        let written = Int(sf_writef_short(handle, base, sf_count_t(frames)))
        framesWritten += max(0, written)
        guard written == frames else {
            throw .writeFailed(SndFile.error(of: handle) ?? "wrote \(written) of \(frames) frames")
        }
    }

    /// Writes what the encoder still holds and closes the file.
    public consuming func close() throws(AudioFileWriterError) {
        let handle = self.handle
        discard self
        let status = sf_close(handle)
        guard status == 0 else { throw .writeFailed(String(cString: sf_error_number(status))) }
    }
}

extension AudioFileWriter {
    /// Writes `samples` (interleaved when `channels` > 1) as a complete file at `path`.
    public static func write(
        _ samples: [Int16], format: Format = .wav, sampleRate: Int, channels: Int = 1, to path: String
    ) throws(AudioFileWriterError) {
        var writer = try AudioFileWriter(path: path, format: format, sampleRate: sampleRate, channels: channels)
        let result = samples.withUnsafeBufferPointer { buffer in
            Result { () throws(AudioFileWriterError) in try writer.write(interleaved: buffer) }
        }
        try result.get()
        try writer.close()
    }
}

/// Why an audio file could not be written.
public enum AudioFileWriterError: Error, Equatable, CustomStringConvertible {
    /// A format, rate or channel count the encoder does not take.
    case unsupported(String)
    /// The file could not be created (missing directory, permissions, ...): libsndfile's text.
    case cannotCreate(path: String, reason: String)
    /// Writing or finishing the file failed (disk full, a file size limit, an I/O error).
    case writeFailed(String)

    public var description: String {
        switch self {
        case .unsupported(let what): "cannot encode \(what)"
        case .cannotCreate(let path, let reason): "cannot create \(path): \(reason)"
        case .writeFailed(let reason): "writing failed: \(reason)"
        }
    }
}

extension AudioFileWriter {
    /// What libsndfile reads of a file it could have written (any of `Format`): its channels, rate and
    /// the frames that decode, read to the end (a stream cut short decodes up to where it was cut).
    /// Nil when the file does not open as audio.
    public static func readable(atPath path: String) -> (channels: Int, sampleRate: Int, frames: Int)? {
        var info = SF_INFO()
        guard case .success(let handle) = SndFile.open({ sf_open(path, Int32(SFM_READ), &info) }) else { return nil }
        defer { sf_close(handle) }
        let channels = Int(info.channels)
        guard channels > 0 else { return nil }
        var buffer = [Int16](repeating: 0, count: 4096 * channels)
        var frames = 0
        while true {
            let got = buffer.withUnsafeMutableBufferPointer { Int(sf_readf_short(handle, $0.baseAddress, 4096)) }
            if got <= 0 { break }
            frames += got
        }
        return (channels, Int(info.samplerate), frames)
    }
}
