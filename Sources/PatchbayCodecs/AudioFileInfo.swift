/// What a wav or mp3 file holds, read from its header without decoding the audio.
public struct AudioFileInfo: Sendable, Equatable {
    /// The container and encoding.
    public let format: AudioFileFormat
    /// The sample rate, in Hz.
    public let sampleRate: Int
    /// The channel count.
    public let channels: Int
    /// Frames per channel, or nil when the file does not say: an mp3 without a Xing header, whose
    /// length is only known once it has been decoded.
    public let frames: Int?

    public init(format: AudioFileFormat, sampleRate: Int, channels: Int, frames: Int?) {
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
        self.frames = frames
    }

    /// How long the audio lasts, when the header says.
    public var duration: Duration? {
        frames.map { .seconds(Double($0) / Double(sampleRate)) }
    }
}
