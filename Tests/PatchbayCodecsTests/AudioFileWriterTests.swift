import Foundation
import PatchbayCodecs
import Testing

/// The recordings' writer: each format written through libsndfile and read back by the decoder.
@Suite struct AudioFileWriterTests {
    static func path(_ ext: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-writer-\(UUID().uuidString).\(ext)").path
    }

    /// One second of a 1 kHz tone on the first channel, silence on the second, in 20 ms frames.
    static func write(_ format: AudioFileWriter.Format, rate: Int, to path: String) throws {
        var writer = try AudioFileWriter(path: path, format: format, sampleRate: rate, channels: 2)
        let n = rate / 50
        var frame = [Int16](repeating: 0, count: 2 * n)
        for k in 0..<50 {
            for i in 0..<n {
                let t = Double(k * n + i) / Double(rate)
                frame[2 * i] = Int16(10000 * sin(2 * .pi * 1000 * t))
            }
            try frame.withUnsafeBufferPointer { try writer.write(interleaved: $0) }
        }
        #expect(writer.framesWritten == rate)
        try writer.close()
    }

    @Test(arguments: [(AudioFileWriter.Format.wav, 16000), (.mp3, 16000), (.ogg, 16000), (.wav, 8000), (.mp3, 24000), (.ogg, 24000)])
    func roundTrip(format: AudioFileWriter.Format, rate: Int) throws {
        let path = Self.path(format.fileExtension)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.write(format, rate: rate, to: path)
        let read = try #require(AudioFileWriter.readable(atPath: path))
        #expect(read.channels == 2 && read.sampleRate == rate, "\(read)")
        // Lossy codecs add their encoder delay and padding: within 100 ms of one second.
        let seconds = Double(read.frames) / Double(rate)
        #expect(format == .wav ? seconds == 1 : abs(seconds - 1) < 0.1, "\(format) at \(rate): \(seconds) s")
        // The players' decoder takes wav and mp3 (not Ogg): the tone survives there, mixed down to mono.
        if format != .ogg {
            let audio = try AudioDecoder(outputRate: rate).decode(fileAtPath: path)
            let peak = audio.samples.dropFirst(rate / 5).prefix(rate / 2).map { abs(Int($0)) }.max() ?? 0
            #expect(peak > 3000, "\(peak)")
        }
    }

    @Test("a WAV's header is kept up to date as it is written: a writer that never closes leaves a file that reads")
    func headerAlwaysCurrent() throws {
        let path = Self.path("wav")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var writer = try AudioFileWriter(path: path, format: .wav, sampleRate: 8000, channels: 2)
        let frame = [Int16](repeating: 1000, count: 320)
        for _ in 0..<10 { try frame.withUnsafeBufferPointer { try writer.write(interleaved: $0) } }
        // The file as a process killed now would leave it (the writer is still open).
        let copy = Self.path("wav")
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let read = try #require(AudioFileWriter.readable(atPath: copy))
        #expect(read.frames == 1600 && read.channels == 2, "\(read)")
        try writer.close()
    }

    @Test("formats, rates and channel counts the encoders do not take are refused by name")
    func refusals() {
        #expect(throws: AudioFileWriterError.unsupported("ogg at 44100 Hz")) {
            _ = try AudioFileWriter(path: Self.path("ogg"), format: .ogg, sampleRate: 44100, channels: 1)
        }
        #expect(throws: AudioFileWriterError.unsupported("33 channels")) {
            _ = try AudioFileWriter(path: Self.path("wav"), format: .wav, sampleRate: 8000, channels: 33)
        }
        #expect(throws: AudioFileWriterError.self) {
            _ = try AudioFileWriter(path: "/nonexistent-dir/x.wav", format: .wav, sampleRate: 8000, channels: 1)
        }
    }
}
