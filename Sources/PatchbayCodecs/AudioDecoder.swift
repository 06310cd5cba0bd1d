internal import CSndFile
public import PatchbayDSP

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Decodes wav and mp3 files into mono PCM16 at a chosen rate, through libsndfile.
///
/// Accepts WAV (also WAVEX and RF64) holding anything libsndfile decodes (8/16/24/32-bit PCM, float,
/// u-law, A-law, ADPCM, ...) and MPEG audio (mp3, with or without a Xing/LAME header). Other formats
/// libsndfile can read (FLAC, Ogg, AIFF, ...) are refused with `.unsupportedFormat`.
///
/// The file is read as float, all channels are averaged into one, resampled to `outputRate` when the
/// rates differ, scaled by `level`, and converted to 16 bits once at the end, clipping (never wrapping)
/// the overs that mp3 decoding produces; attenuating a hot mp3 therefore keeps its peaks rather than
/// clipping them first. A 16-bit file decoded at its own rate and unity level comes out as stored.
///
/// A WAV file cut short is refused with `.truncated`. An mp3 cut short (even in the middle of a frame)
/// is not an error: mp3 is a stream of independent frames and often has no trustworthy total length,
/// so its complete frames are decoded and the partial last frame is dropped.
///
/// `probe` reads only the header, to learn a file's rate, channels and length before decoding it.
///
/// Decoding is synchronous and allocates: run it off the media tick. Calls may run concurrently.
public struct AudioDecoder: Sendable {
    /// Bounds against hostile or mistaken input, checked before decoding as far as the header allows.
    public struct Limits: Sendable, Equatable {
        /// The longest audio accepted: checked against the header before decoding, and while decoding
        /// when the header does not say (an mp3 without a Xing header).
        public var maximumDuration: Duration
        /// The largest input accepted, in bytes.
        public var maximumInputBytes: Int

        public init(maximumDuration: Duration = .seconds(30 * 60), maximumInputBytes: Int = 256 << 20) {
            self.maximumDuration = maximumDuration
            self.maximumInputBytes = maximumInputBytes
        }

        /// The most frames at `sampleRate` that fit in `maximumDuration`.
        func maximumFrames(atRate sampleRate: Int) -> Int {
            let (seconds, attoseconds) = maximumDuration.components
            let frames = (Double(seconds) + Double(attoseconds) * 1e-18) * Double(sampleRate)
            // Capped at 2^40 (over 60 days at 192 kHz) so frame arithmetic never overflows.
            return frames >= 0x100_0000_0000 ? 0x100_0000_0000 : max(0, Int(frames))
        }
    }

    /// The rate of the decoded samples, in Hz.
    public let outputRate: Int
    /// The level applied before the conversion to 16 bits (unity leaves the samples untouched).
    public let level: Level
    public let limits: Limits

    /// Samples (of all channels together) read from libsndfile at a time, for WAV.
    private static let chunkSamples = 16384

    /// Creates a decoder producing `outputRate` Hz (1 kHz...192 kHz), scaled by `level`.
    public init(outputRate: Int, level: Level = .unity, limits: Limits = Limits()) throws(AudioDecoderError) {
        guard (1000...192_000).contains(outputRate) else { throw .unsupportedOutputRate(outputRate) }
        self.outputRate = outputRate
        self.level = level
        self.limits = limits
    }

    /// Decodes the file at `path`.
    public func decode(fileAtPath path: String) throws(AudioDecoderError) -> DecodedAudio {
        try Self.withInput(fileAtPath: path, limits: limits) { input throws(AudioDecoderError) in try decode(input) }
    }

    /// Decodes audio file bytes held in memory (a whole wav or mp3 file).
    public func decode(bytes: UnsafeRawBufferPointer) throws(AudioDecoderError) -> DecodedAudio {
        try Self.checkSize(bytes.count, limits: limits)
        return try decode(SndFileVirtualInput(source: .memory(bytes), length: bytes.count))
    }

    /// Decodes audio file bytes held in memory (a whole wav or mp3 file).
    public func decode(bytes: [UInt8]) throws(AudioDecoderError) -> DecodedAudio {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(AudioDecoderError) in try decode(bytes: raw) }
        }
        return try result.get()
    }

    /// Converts mono PCM16 at `sourceRate` (synthesised speech, say) to the decoder's rate and level,
    /// aligned as a decoded file is: the resampler's delay removed, the length scaled exactly.
    public func convert(_ samples: [Int16], from sourceRate: Int) throws(AudioDecoderError) -> [Int16] {
        guard (1000...192_000).contains(sourceRate) else { throw .unsupportedSampleRate(sourceRate) }
        guard !samples.isEmpty else { throw .noAudio }
        guard samples.count <= limits.maximumFrames(atRate: sourceRate) else { throw .tooLong(limit: limits.maximumDuration) }
        var output = PCM16Output(capacity: samples.count * outputRate / sourceRate + 1, gain: level.gain)
        let count = (samples.count * outputRate + sourceRate / 2) / sourceRate
        let floats = samples.map { Float($0) / 32768 }
        guard sourceRate != outputRate else {
            floats.withUnsafeBufferPointer { output.append($0) }
            return output.finish(count: count)
        }
        var resampler = try makeResampler(from: sourceRate, output: &output)
        var resampled = [Float](repeating: 0, count: resampler.outputCapacity(forInput: Self.chunkSamples))
        var start = 0
        while start < floats.count {
            let n = min(Self.chunkSamples, floats.count - start)
            floats.withUnsafeBufferPointer {
                Self.resample(UnsafeBufferPointer(rebasing: $0[start..<(start + n)]), with: &resampler, into: &resampled, output: &output)
            }
            start += n
        }
        let zeros = [Float](repeating: 0, count: resampler.inputLatency + 2 * sourceRate / outputRate + 2)
        zeros.withUnsafeBufferPointer { Self.resample($0, with: &resampler, into: &resampled, output: &output) }
        return output.finish(count: count)
    }

    /// Reads the header of the file at `path` without decoding its audio, with the same checks as
    /// `decode` makes before decoding (format, truncation, rate, and the limits where the header tells).
    public static func probe(fileAtPath path: String, limits: Limits = Limits()) throws(AudioDecoderError)
        -> AudioFileInfo
    {
        try withInput(fileAtPath: path, limits: limits) { input throws(AudioDecoderError) in
            try checkHeader(of: openSndFile(input), limits: limits)
        }
    }

    /// Reads the header of audio file bytes held in memory without decoding their audio.
    public static func probe(bytes: [UInt8], limits: Limits = Limits()) throws(AudioDecoderError) -> AudioFileInfo {
        try checkSize(bytes.count, limits: limits)
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(AudioDecoderError) in
                let input = SndFileVirtualInput(source: .memory(raw), length: raw.count)
                return try checkHeader(of: openSndFile(input), limits: limits)
            }
        }
        return try result.get()
    }

    /// Opens the file at `path` as an input for libsndfile and runs `body` on it.
    private static func withInput<T>(
        fileAtPath path: String, limits: Limits, _ body: (SndFileVirtualInput) throws(AudioDecoderError) -> T
    ) throws(AudioDecoderError) -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .fileNotFound(path: path) }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadable(path: path, reason: "not a regular file")
        }
        try checkSize(Int(status.st_size), limits: limits)
        let input = SndFileVirtualInput(source: .file(descriptor: fd), length: Int(status.st_size))
        let result = Result { () throws(AudioDecoderError) in try body(input) }
        // A failed read looks like the end of the file to libsndfile: report it, whatever that led to.
        if let code = input.readError { throw .unreadable(path: path, reason: String(cString: strerror(code))) }
        return try result.get()
    }

    private static func checkSize(_ count: Int, limits: Limits) throws(AudioDecoderError) {
        guard count > 0 else { throw .empty }
        guard count <= limits.maximumInputBytes else { throw .tooLarge(bytes: count, limit: limits.maximumInputBytes) }
    }

    /// Opens `input` with libsndfile, which refuses what it does not recognise as audio.
    private static func openSndFile(_ input: SndFileVirtualInput) throws(AudioDecoderError) -> SndFileReader {
        do {
            return try SndFileReader(input: input)
        } catch {
            throw .corrupt(error.text)
        }
    }

    /// Checks an open file's header: an accepted format, not truncated, a usable rate, and not over the
    /// duration limit when the header gives the length.
    private static func checkHeader(
        of file: borrowing SndFileReader, limits: Limits
    ) throws(AudioDecoderError) -> AudioFileInfo {
        let header = file.info
        guard let format = AudioFileFormat(sndfileFormat: header.format) else {
            let major = header.format & Int32(SF_FORMAT_TYPEMASK)
            throw .unsupportedFormat(SndFile.formatName(major) ?? "0x\(String(major, radix: 16))")
        }
        if let cut = SndFileLog(text: file.log).truncation(container: format.container) {
            throw .truncated(declaredBytes: cut.declaredBytes, presentBytes: cut.presentBytes)
        }
        let sampleRate = Int(header.samplerate)
        let channels = Int(header.channels)
        guard (1000...192_000).contains(sampleRate) else { throw .unsupportedSampleRate(sampleRate) }
        // libsndfile never opens a file without channels; a guard keeps the downmix safe regardless.
        guard channels > 0 else { throw .corrupt("no channels") }
        // The frame count is exact for WAV, and for mp3 with a Xing header; an mp3 without one has no
        // known length (Int64.max) and is held to the limit while it decodes.
        let frames = header.frames == Int64.max ? nil : Int(header.frames)
        if let frames, frames > limits.maximumFrames(atRate: sampleRate) {
            throw .tooLong(limit: limits.maximumDuration)
        }
        return AudioFileInfo(format: format, sampleRate: sampleRate, channels: channels, frames: frames)
    }

    private func decode(_ input: SndFileVirtualInput) throws(AudioDecoderError) -> DecodedAudio {
        let file = try Self.openSndFile(input)
        let info = try Self.checkHeader(of: file, limits: limits)
        let format = info.format
        let sourceRate = info.sampleRate
        let channels = info.channels
        let maximumFrames = limits.maximumFrames(atRate: sourceRate)
        file.setClipping()

        let expectedFrames = min(info.frames ?? maximumFrames, maximumFrames)
        var output = PCM16Output(capacity: expectedFrames * outputRate / sourceRate + 1, gain: level.gain)
        let frames: Int
        if sourceRate == outputRate {
            frames = try readMono(
                file, container: format.container, channels: channels, maximumFrames: maximumFrames
            ) { mono in
                output.append(mono)
            }
        } else {
            var resampler = try makeResampler(from: sourceRate, output: &output)
            var resampled = [Float](repeating: 0, count: resampler.outputCapacity(forInput: Self.chunkSamples))
            frames = try readMono(
                file, container: format.container, channels: channels, maximumFrames: maximumFrames
            ) { mono in
                Self.resample(mono, with: &resampler, into: &resampled, output: &output)
            }
            if frames > 0 {
                let zeros = [Float](repeating: 0, count: resampler.inputLatency + 2 * sourceRate / outputRate + 2)
                zeros.withUnsafeBufferPointer { Self.resample($0, with: &resampler, into: &resampled, output: &output) }
            }
        }
        guard frames > 0 else { throw .noAudio }

        let samples = output.finish(count: (frames * outputRate + sourceRate / 2) / sourceRate)
        return DecodedAudio(
            samples: samples, sampleRate: outputRate, sourceFormat: format, sourceSampleRate: sourceRate,
            sourceChannels: channels, sourceFrames: frames)
    }

    /// Reads the whole file as float, averages each frame's channels, and hands the mono samples to
    /// `consume` a chunk at a time.
    /// - Returns: the frames read.
    private func readMono(
        _ file: borrowing SndFileReader, container: AudioFileFormat.Container, channels: Int, maximumFrames: Int,
        _ consume: (UnsafeBufferPointer<Float>) -> Void
    ) throws(AudioDecoderError) -> Int {
        // mp3 is read one mp3 frame (1152 samples) at a time: when mpg123 fails on a cut final frame,
        // libsndfile drops everything decoded in that read, so a small read loses the least.
        let chunkFrames = container == .mpeg ? 1152 : max(1, Self.chunkSamples / channels)
        var interleaved = [Float](repeating: 0, count: chunkFrames * channels)
        var mono = [Float](repeating: 0, count: chunkFrames)
        var total = 0
        while true {
            let n = interleaved.withUnsafeMutableBufferPointer { file.readFloat(into: $0, frames: chunkFrames) }
            guard n > 0 else { break }
            total += n
            guard total <= maximumFrames else { throw .tooLong(limit: limits.maximumDuration) }
            interleaved.withUnsafeBufferPointer { frame in
                mono.withUnsafeMutableBufferPointer { mono in
                    if channels == 1 {
                        _ = mono.update(fromContentsOf: frame[0..<n])
                        return
                    }
                    let scale = 1 / Float(channels)
                    for i in 0..<n {
                        var sum: Float = 0
                        for c in 0..<channels { sum += frame[i * channels + c] }
                        mono[i] = sum * scale
                    }
                }
            }
            mono.withUnsafeBufferPointer { consume(UnsafeBufferPointer(rebasing: $0[0..<n])) }
        }
        if let reason = SndFile.error(of: file.handle) {
            // mpg123 fails when an mp3 ends inside a frame, after every byte has been read: the mp3
            // was cut short, and its complete frames stand (see the type's documentation).
            let mp3CutShort = container == .mpeg && total > 0 && file.input.position >= file.input.length
            if !mp3CutShort { throw .corrupt(reason) }
        }
        return total
    }

    /// A resampler from `sourceRate` to the output rate. It delays its output by its filter latency:
    /// `output` drops that much from the start, and the caller pushes as many zeros through at the end,
    /// so the output lines up with the input.
    private func makeResampler(from sourceRate: Int, output: inout PCM16Output) throws(AudioDecoderError) -> Resampler {
        do {
            let resampler = try Resampler(from: sourceRate, to: outputRate)
            output.skip = resampler.outputLatency
            return resampler
        } catch {
            throw .unsupportedSampleRate(sourceRate)
        }
    }

    private static func resample(
        _ input: UnsafeBufferPointer<Float>, with resampler: inout Resampler, into buffer: inout [Float],
        output: inout PCM16Output
    ) {
        var consumed = 0
        while consumed < input.count {
            let (used, made) = buffer.withUnsafeMutableBufferPointer { out in
                resampler.process(UnsafeBufferPointer(rebasing: input[consumed...]), into: out)
            }
            consumed += used
            buffer.withUnsafeBufferPointer { output.append(UnsafeBufferPointer(rebasing: $0[0..<made])) }
            if used == 0 && made == 0 { break }
        }
    }
}
