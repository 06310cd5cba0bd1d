import Foundation
import PatchbayCodecs
import Testing

/// Whole mono WAV files, as the command-line tools write them (`AudioFileWriter.write`).
@Suite final class WAVFileTests {
    /// A fresh directory per test, removed afterwards.
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "patchbay-wav-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Every PCM16 value appears, including both extremes, in a scrambled order.
    static func allValues() -> [Int16] {
        var generator = SplitMix64(seed: 42)
        return (Int(Int16.min)...Int(Int16.max)).map { Int16($0) }.shuffled(using: &generator)
    }

    @Test(arguments: [8000, 16000, 44100])
    func writeThenReadIsBitExact(sampleRate: Int) throws {
        let samples = Self.allValues()
        let path = "\(directory)/round-trip-\(sampleRate).wav"
        try AudioFileWriter.write(samples, sampleRate: sampleRate, to: path)

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attributes[.size] as? Int == 44 + 2 * samples.count)
        let audio = try AudioDecoder(outputRate: sampleRate).decode(fileAtPath: path)
        #expect(audio.sourceFormat == AudioFileFormat(container: .wav, encoding: .pcm16))
        #expect(audio.sourceChannels == 1)
        #expect(audio.sourceSampleRate == sampleRate)
        #expect(audio.samples == samples)
    }

    @Test func framesAppendedOneByOneMakeOneFile() throws {
        let samples = Self.allValues().prefix(16000 * 2).map { $0 }
        let path = "\(directory)/frames.wav"
        var writer = try AudioFileWriter(path: path, format: .wav, sampleRate: 16000, channels: 1)
        for start in stride(from: 0, to: samples.count, by: 320) {
            try samples[start..<(start + 320)].withUnsafeBufferPointer { try writer.write(interleaved: $0) }
        }
        #expect(writer.framesWritten == samples.count)
        try writer.close()
        let audio = try AudioDecoder(outputRate: 16000).decode(fileAtPath: path)
        #expect(audio.samples == samples)
    }

    @Test func missingDirectory() {
        let path = "\(directory)/no/such/dir/out.wav"
        do {
            try AudioFileWriter.write([1, 2, 3], sampleRate: 8000, to: path)
            Issue.record("expected an error")
        } catch {
            guard case .cannotCreate(let errorPath, let reason) = error else {
                Issue.record("expected .cannotCreate, got \(error)")
                return
            }
            #expect(errorPath == path)
            #expect(reason.contains("No such file or directory"), "\(reason)")
        }
    }

    @Test(arguments: [0, -8000])
    func unsupportedSampleRate(rate: Int) {
        #expect(throws: AudioFileWriterError.unsupported("wav at \(rate) Hz")) {
            try AudioFileWriter.write([1], sampleRate: rate, to: "\(directory)/bad-rate.wav")
        }
    }
}

/// A small seeded generator, so shuffled test data is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
