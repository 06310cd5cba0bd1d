import ArgumentParser
import PatchbayCodecs
import PatchbayDSP

/// `patchbay resample`: convert a wav or mp3 file to a 16-bit mono wav at another rate.
struct ResampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resample",
        abstract: "Convert a wav or mp3 file to a 16-bit mono wav file at a chosen rate.",
        discussion: """
            Channels are mixed to mono; the level (-1...1, gain 10^level: -1 = -20 dB, 0 = unchanged, 1 = +20 dB)
            is applied before the conversion to 16 bits, which clips instead of wrapping.
            """
    )

    @Argument(help: "The wav or mp3 file to read.")
    var input: String

    @Argument(help: "The wav file to write.")
    var output: String

    @Option(help: "The output sample rate in Hz (1000...192000).")
    var rate: Int

    @Option(parsing: .unconditional, help: "Level from -1 to 1 (0 = unchanged; e.g. --level -0.5).")
    var level = 0.0

    func run() throws {
        let audio = try AudioDecoder(outputRate: rate, level: try Level(level)).decode(fileAtPath: input)
        try AudioFileWriter.write(audio.samples, sampleRate: rate, to: output)
    }
}
