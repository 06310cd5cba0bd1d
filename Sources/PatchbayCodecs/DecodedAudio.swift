/// Audio decoded from a file: mono PCM16 at the rate the decoder was asked for, and what the file held.
public struct DecodedAudio: Sendable, Equatable {
    /// Mono 16-bit samples at `sampleRate`.
    public let samples: [Int16]
    /// The rate of `samples`, in Hz.
    public let sampleRate: Int
    /// The file's container and encoding.
    public let sourceFormat: AudioFileFormat
    /// The file's sample rate, in Hz.
    public let sourceSampleRate: Int
    /// The file's channel count (all were averaged into one).
    public let sourceChannels: Int
    /// The frames decoded from the file, at `sourceSampleRate`.
    public let sourceFrames: Int

    public init(
        samples: [Int16], sampleRate: Int, sourceFormat: AudioFileFormat, sourceSampleRate: Int,
        sourceChannels: Int, sourceFrames: Int
    ) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.sourceFormat = sourceFormat
        self.sourceSampleRate = sourceSampleRate
        self.sourceChannels = sourceChannels
        self.sourceFrames = sourceFrames
    }

    /// How long the decoded audio plays.
    public var duration: Duration { .seconds(Double(samples.count) / Double(sampleRate)) }

    /// How long the file's audio is.
    public var sourceDuration: Duration { .seconds(Double(sourceFrames) / Double(sourceSampleRate)) }
}
