import Foundation
import PatchbayCodecs
import PatchbayDSP
import PatchbayTestSupport
import Testing

/// A fixture holding a 1 kHz sine whose mono downmix peaks at 0.5 (-6 dBFS).
struct SineFixture: Sendable, CustomStringConvertible {
    let name: String
    let format: AudioFileFormat
    let sourceRate: Int
    let channels: Int
    /// The frames the file holds; for an mp3 without a Xing header, the least it may decode to.
    let frames: Int
    /// The most frames it may decode to (an mp3 without Xing adds encoder delay and padding).
    let maximumFrames: Int
    /// How far the tone's level may be from 0.5, in dB.
    let levelTolerance: Double
    /// The least share of the power the tone must hold.
    let purity: Double

    init(
        _ name: String, _ container: AudioFileFormat.Container, _ encoding: AudioFileFormat.Encoding, rate: Int,
        channels: Int, frames: Int, maximumFrames: Int? = nil, levelTolerance: Double = 0.05, purity: Double = 0.999
    ) {
        self.name = name
        format = AudioFileFormat(container: container, encoding: encoding)
        sourceRate = rate
        self.channels = channels
        self.frames = frames
        self.maximumFrames = maximumFrames ?? frames
        self.levelTolerance = levelTolerance
        self.purity = purity
    }

    var description: String { name }

    static let all: [SineFixture] = [
        SineFixture("sine1k-s16-mono-16k.wav", .wav, .pcm16, rate: 16000, channels: 1, frames: 16000),
        SineFixture("sine1k-s24-stereo-44k1.wav", .wavex, .pcm24, rate: 44100, channels: 2, frames: 8820),
        SineFixture("sine1k-u8-mono-8k.wav", .wav, .pcmU8, rate: 8000, channels: 1, frames: 8000, purity: 0.99),
        SineFixture("sine1k-ulaw-mono-8k.wav", .wav, .uLaw, rate: 8000, channels: 1, frames: 8000, purity: 0.99),
        SineFixture("sine1k-f32-3ch-16k.wav", .wav, .float32, rate: 16000, channels: 3, frames: 4000),
        SineFixture("sine1k-s16-mono-8k-rf64.wav", .rf64, .pcm16, rate: 8000, channels: 1, frames: 2000),
        SineFixture(
            "sine1k-xing.mp3", .mpeg, .mpegLayerIII, rate: 44100, channels: 1, frames: 44100, levelTolerance: 0.5,
            purity: 0.99),
        // Without the header the decoder keeps lame's encoder delay and padding: up to 3 extra mp3 frames.
        SineFixture(
            "sine1k-noxing.mp3", .mpeg, .mpegLayerIII, rate: 44100, channels: 1, frames: 44100,
            maximumFrames: 44100 + 3 * 1152, levelTolerance: 0.5, purity: 0.99),
    ]
}

@Suite struct AudioDecoderTests {
    static let outputRates = [8000, 16000, 24000]

    @Test(arguments: SineFixture.all, outputRates)
    func decodesTheToneAtTheRightLevelFrequencyAndDuration(fixture: SineFixture, outputRate: Int) throws {
        let decoder = try AudioDecoder(outputRate: outputRate)
        let audio = try decoder.decode(fileAtPath: Fixture.path(fixture.name))

        #expect(audio.sourceFormat == fixture.format)
        #expect(audio.sourceSampleRate == fixture.sourceRate)
        #expect(audio.sourceChannels == fixture.channels)
        #expect((fixture.frames...fixture.maximumFrames).contains(audio.sourceFrames))
        #expect(audio.sampleRate == outputRate)
        let expectedCount = (audio.sourceFrames * outputRate + fixture.sourceRate / 2) / fixture.sourceRate
        #expect(audio.samples.count == expectedCount)

        // Measure away from the edges (mp3 fades in over its first frame).
        let edge = outputRate / 20
        let tone = ToneMeasurement(audio.samples[edge..<(audio.samples.count - edge)], sampleRate: outputRate)
        print("\(fixture.name) -> \(outputRate) Hz: \(audio.samples.count) samples, \(tone)")
        #expect(abs(tone.frequency - 1000) < 1, "frequency \(tone.frequency) Hz")
        #expect(abs(tone.decibels(relativeTo: 0.5)) < fixture.levelTolerance, "level \(tone.amplitude)")
        #expect(tone.purity > fixture.purity, "purity \(tone.purity)")
    }

    @Test(arguments: SineFixture.all.map(\.name) + ["square1k-hot.mp3", "truncated.mp3", "noise-then-sine1k-vbr-noxing.mp3"])
    func decodingFromMemoryMatchesDecodingTheFileBitForBit(name: String) throws {
        let decoder = try AudioDecoder(outputRate: 16000)
        let fromFile = try decoder.decode(fileAtPath: Fixture.path(name))
        let fromMemory = try decoder.decode(bytes: Fixture.bytes(name))
        #expect(fromMemory == fromFile)
        #expect(!fromMemory.samples.isEmpty)
    }

    @Test func sixteenBitWAVAtItsOwnRateComesOutAsStored() throws {
        let bytes = Fixture.bytes("sine1k-s16-mono-16k.wav")
        let stored = stride(from: 44, to: bytes.count, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
        let audio = try AudioDecoder(outputRate: 16000).decode(fileAtPath: Fixture.path("sine1k-s16-mono-16k.wav"))
        #expect(audio.samples == stored)
    }

    @Test func stereoIsAveragedToMono() throws {
        // Left 0.8, right 0.2: the average is 0.5; left alone 0.8, the sum 1.0.
        let audio = try AudioDecoder(outputRate: 16000).decode(fileAtPath: Fixture.path("sine1k-s24-stereo-44k1.wav"))
        let tone = ToneMeasurement(audio.samples[800..<2400], sampleRate: 16000)
        #expect(audio.sourceChannels == 2)
        #expect(abs(tone.amplitude - 0.5) < 0.005, "mono amplitude \(tone.amplitude)")
    }

    @Test(arguments: outputRates)
    func hotMP3ClipsInsteadOfWrapping(outputRate: Int) throws {
        let audio = try AudioDecoder(outputRate: outputRate).decode(fileAtPath: Fixture.path("square1k-hot.mp3"))
        let samples = audio.samples
        let atMaximum = samples.count(where: { $0 == .max })
        let atMinimum = samples.count(where: { $0 == .min })
        print("square1k-hot.mp3 -> \(outputRate) Hz: \(atMaximum) samples at +full scale, \(atMinimum) at -full scale")
        #expect(atMaximum > samples.count / 10)
        #expect(atMinimum > samples.count / 10)

        // Inside every half period of the square (where its fundamental is above half its peak) the
        // decoded samples must be loud and of the fundamental's sign. A wrapped over would show up
        // there as a sample of the opposite sign.
        let body = samples[(outputRate / 20)..<(samples.count - outputRate / 20)]
        let tone = ToneMeasurement(body, sampleRate: outputRate)
        let w = 2 * Double.pi * 1000 / Double(outputRate)
        var checked = 0
        var wrong: [Int] = []
        for (i, s) in body.enumerated() {
            let reference = cos(w * Double(i) + tone.phase)
            guard abs(reference) > 0.5 else { continue }
            checked += 1
            if (reference > 0) != (s > 0) || abs(Int(s)) < 30000 { wrong.append(i) }
        }
        #expect(checked >= body.count / 3)
        #expect(wrong.count == 0, "\(wrong.count) plateau samples of the wrong sign or too quiet, first at \(wrong.first ?? -1)")
    }

    /// The level is applied before the one conversion to 16 bits: turning a hot mp3 down by 4 dB brings
    /// its overs (up to about 1.3) back inside full scale instead of clipping them first.
    @Test func levelIsAppliedBeforeTheOverClipping() throws {
        let quieter = try AudioDecoder(outputRate: 16000, level: Level(-0.2))
        let audio = try quieter.decode(fileAtPath: Fixture.path("square1k-hot.mp3"))
        let clipped = audio.samples.count(where: { $0 == .max || $0 == .min })
        let peak = audio.samples.reduce(0) { max($0, abs(Int($1))) }
        print("square1k-hot.mp3 at level -0.2: peak \(peak), \(clipped) samples at full scale")
        #expect(clipped == 0)
        #expect(peak > 24000 && peak < 32767, "peak \(peak)")  // about 1.3 x 0.63 of full scale
    }

    @Test func mp3WithoutXingHeaderHasNoTagAndDecodes() throws {
        let bytes = Fixture.bytes("sine1k-noxing.mp3")
        #expect(bytes.firstRange(of: Array("Xing".utf8)) == nil && bytes.firstRange(of: Array("Info".utf8)) == nil)
        let withTag = Fixture.bytes("sine1k-xing.mp3")
        #expect(withTag.firstRange(of: Array("Xing".utf8)) != nil)

        let audio = try AudioDecoder(outputRate: 8000).decode(fileAtPath: Fixture.path("sine1k-noxing.mp3"))
        #expect(audio.sourceFrames > 44100)  // encoder delay and padding stay in without the header
        let tone = ToneMeasurement(audio.samples[400..<7600], sampleRate: 8000)
        #expect(abs(tone.frequency - 1000) < 1 && tone.purity > 0.99, "\(tone)")
        let tagged = try AudioDecoder(outputRate: 8000).decode(fileAtPath: Fixture.path("sine1k-xing.mp3"))
        #expect(tagged.sourceFrames == 44100)  // the LAME header's gapless info trims them exactly
    }

    /// libsndfile stops reading an mp3 at the length mpg123 reports; for a VBR file without a Xing header
    /// that is an estimate from the file size and the first frame's bitrate (here about 0.7 s of 3 s).
    @Test(arguments: outputRates)
    func vbrMP3WithoutXingHeaderDecodesToItsRealEnd(outputRate: Int) throws {
        let name = "noise-then-sine1k-vbr-noxing.mp3"
        let audio = try AudioDecoder(outputRate: outputRate).decode(fileAtPath: Fixture.path(name))
        #expect(try AudioDecoder(outputRate: outputRate).decode(bytes: Fixture.bytes(name)) == audio)
        // 3 s, plus the decoder delay and padding a file without the LAME header keeps (576-sample frames).
        #expect((48000...(48000 + 4 * 576)).contains(audio.sourceFrames), "\(audio.sourceFrames) frames")
        // The last 2 s are the sine (the noise ends at 0.5 s, plus the decoder delay).
        let tail = audio.samples[(audio.samples.count - 2 * outputRate)..<(audio.samples.count - outputRate / 20)]
        let tone = ToneMeasurement(tail, sampleRate: outputRate)
        print("\(name) -> \(outputRate) Hz: \(audio.sourceFrames) source frames, tail \(tone)")
        #expect(abs(tone.frequency - 1000) < 1)
        #expect(abs(tone.decibels(relativeTo: 0.5)) < 0.5)
        #expect(tone.purity > 0.99)
    }

    @Test func levelScalesTheDecodedSamples() throws {
        let quieter = try AudioDecoder(outputRate: 16000, level: Level(-0.5))
        let audio = try quieter.decode(fileAtPath: Fixture.path("sine1k-s16-mono-16k.wav"))
        let tone = ToneMeasurement(audio.samples[800...], sampleRate: 16000)
        #expect(abs(tone.decibels(relativeTo: 0.5) - -10) < 0.05, "level \(tone.decibels(relativeTo: 0.5)) dB")
    }

    /// An mp3 cut in the middle of a frame is not an error: its complete frames decode, the partial
    /// last frame is dropped.
    @Test func mp3CutMidFrameDecodesItsCompleteFrames() throws {
        let audio = try AudioDecoder(outputRate: 16000).decode(fileAtPath: Fixture.path("truncated.mp3"))
        print("truncated.mp3: \(audio.sourceFrames) of 44100 frames decoded")
        #expect(audio.sourceFrames < 44100 && audio.sourceFrames > 44100 - 3 * 1152, "\(audio.sourceFrames) frames")
        let tone = ToneMeasurement(audio.samples[800..<(audio.samples.count - 800)], sampleRate: 16000)
        #expect(abs(tone.frequency - 1000) < 1)
        #expect(abs(tone.decibels(relativeTo: 0.5)) < 0.5)
    }

    @Test func headerSaysHowLongBeforeDecoding() throws {
        let audio = try AudioDecoder(outputRate: 8000).decode(fileAtPath: Fixture.path("sine1k-s16-mono-16k.wav"))
        #expect(audio.duration == .seconds(1))
        #expect(audio.sourceDuration == .seconds(1))
    }
}
