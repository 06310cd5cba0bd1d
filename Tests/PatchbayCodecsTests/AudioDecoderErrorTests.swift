import Foundation
import PatchbayCodecs
import Testing

@Suite struct AudioDecoderErrorTests {
    let decoder: AudioDecoder

    init() throws {
        decoder = try AudioDecoder(outputRate: 16000)
    }

    /// Decodes the fixture from its path and from its bytes, expecting the same error from both.
    func error(decoding name: String, with decoder: AudioDecoder? = nil) -> AudioDecoderError? {
        let decoder = decoder ?? self.decoder
        var fromFile: AudioDecoderError?
        var fromMemory: AudioDecoderError?
        do { _ = try decoder.decode(fileAtPath: Fixture.path(name)) } catch { fromFile = error }
        do { _ = try decoder.decode(bytes: Fixture.bytes(name)) } catch { fromMemory = error }
        #expect(fromFile == fromMemory, "file: \(String(describing: fromFile)), memory: \(String(describing: fromMemory))")
        if let fromFile { print("\(name): \(fromFile)") }
        return fromFile
    }

    func error(decoding bytes: [UInt8]) -> AudioDecoderError? {
        do { _ = try decoder.decode(bytes: bytes) } catch { return error }
        return nil
    }

    @Test func missingFile() {
        let path = Fixture.path("no-such-file.wav")
        #expect(throws: AudioDecoderError.fileNotFound(path: path)) { try decoder.decode(fileAtPath: path) }
    }

    @Test func directoryIsUnreadable() {
        #expect(throws: AudioDecoderError.unreadable(path: Fixture.directory, reason: "not a regular file")) {
            try decoder.decode(fileAtPath: Fixture.directory)
        }
    }

    @Test func emptyFile() {
        #expect(error(decoding: "empty.wav") == .empty)
        #expect(error(decoding: []) == .empty)
    }

    @Test func randomBytesAreCorrupt() {
        guard case .corrupt(let reason) = error(decoding: "broken.wav") else {
            Issue.record("expected .corrupt")
            return
        }
        #expect(reason.contains("not recognised"), "\(reason)")
    }

    @Test func textFileNamedMP3IsCorrupt() {
        guard case .corrupt = error(decoding: "not-audio.mp3") else {
            Issue.record("expected .corrupt")
            return
        }
    }

    @Test func headerWithoutDataChunkIsCorrupt() {
        let header = Array(Fixture.bytes("sine1k-s16-mono-16k.wav").prefix(30))
        guard case .corrupt(let reason) = error(decoding: header) else {
            Issue.record("expected .corrupt")
            return
        }
        #expect(reason.contains("data"), "\(reason)")
    }

    @Test func flacIsUnsupported() {
        guard case .unsupportedFormat(let name) = error(decoding: "sine1k.flac") else {
            Issue.record("expected .unsupportedFormat")
            return
        }
        #expect(name.contains("FLAC"))
    }

    @Test func truncatedWAV() {
        #expect(error(decoding: "truncated.wav") == .truncated(declaredBytes: 32000, presentBytes: 12000))
    }

    @Test func truncatedWAVEX() {
        // 24-bit stereo WAVEX: 80-byte header, 52920 bytes of data declared.
        let cut = Array(Fixture.bytes("sine1k-s24-stereo-44k1.wav").prefix(20000))
        #expect(error(decoding: cut) == .truncated(declaredBytes: 52920, presentBytes: 20000 - 80))
    }

    @Test func truncatedRF64() {
        // RF64: 80-byte header, 4000 bytes of data declared in the ds64 chunk.
        let cut = Array(Fixture.bytes("sine1k-s16-mono-8k-rf64.wav").prefix(2080))
        #expect(error(decoding: cut) == .truncated(declaredBytes: 4000, presentBytes: 2000))
    }

    @Test func headerOnlyWAVIsTruncated() {
        let header = Array(Fixture.bytes("sine1k-s16-mono-16k.wav").prefix(44))
        #expect(error(decoding: header) == .truncated(declaredBytes: 32000, presentBytes: 0))
    }

    @Test func streamedWAVWithUnknownLengthIsNotTruncated() throws {
        // Streaming writers leave 0xFFFFFFFF as the RIFF and data sizes: what is present is the audio.
        var bytes = Fixture.bytes("sine1k-s16-mono-16k.wav")
        for offset in [4, 40] { bytes.replaceSubrange(offset..<(offset + 4), with: [0xFF, 0xFF, 0xFF, 0xFF]) }
        let audio = try decoder.decode(bytes: bytes)
        #expect(audio.sourceFrames == 16000)
    }

    @Test func wavWithEmptyDataChunkHasNoAudio() {
        var header = Array(Fixture.bytes("sine1k-s16-mono-16k.wav").prefix(44))
        header.replaceSubrange(4..<8, with: [36, 0, 0, 0])  // RIFF size: the header alone
        header.replaceSubrange(40..<44, with: [0, 0, 0, 0])  // data size 0
        #expect(error(decoding: header) == .noAudio)
    }

    @Test func sampleRateOutsideTheResamplersRange() {
        var bytes = Fixture.bytes("sine1k-s16-mono-16k.wav")
        bytes.replaceSubrange(24..<28, with: [0xF4, 0x01, 0, 0])  // 500 Hz
        bytes.replaceSubrange(28..<32, with: [0xE8, 0x03, 0, 0])  // 1000 bytes/s
        #expect(error(decoding: bytes) == .unsupportedSampleRate(500))
    }

    /// WAV and mp3 with a Xing header are refused from the header's length before decoding; an mp3
    /// without one has no known length and is stopped once decoding passes the limit.
    @Test(arguments: ["sine1k-s16-mono-16k.wav", "sine1k-xing.mp3", "sine1k-noxing.mp3", "noise-then-sine1k-vbr-noxing.mp3"])
    func tooLong(name: String) throws {
        let limits = AudioDecoder.Limits(maximumDuration: .milliseconds(500))
        let strict = try AudioDecoder(outputRate: 16000, limits: limits)
        #expect(error(decoding: name, with: strict) == .tooLong(limit: .milliseconds(500)))
    }

    @Test func tooLarge() throws {
        let strict = try AudioDecoder(outputRate: 16000, limits: AudioDecoder.Limits(maximumInputBytes: 32000))
        #expect(error(decoding: "sine1k-s16-mono-16k.wav", with: strict) == .tooLarge(bytes: 32044, limit: 32000))
    }

    @Test func defaultLimits() {
        let limits = AudioDecoder.Limits()
        #expect(limits.maximumDuration == .seconds(1800))
        #expect(limits.maximumInputBytes == 256 * 1024 * 1024)
    }

    @Test(arguments: [0, 999, 192_001])
    func unsupportedOutputRate(rate: Int) {
        #expect(throws: AudioDecoderError.unsupportedOutputRate(rate)) { try AudioDecoder(outputRate: rate) }
    }

    @Test func everyErrorDescribesItself() {
        let errors: [AudioDecoderError] = [
            .fileNotFound(path: "/x.wav"), .unreadable(path: "/x.wav", reason: "Permission denied"), .empty,
            .tooLarge(bytes: 2, limit: 1), .corrupt("Format not recognised."), .unsupportedFormat("FLAC"),
            .truncated(declaredBytes: 2, presentBytes: 1), .noAudio, .tooLong(limit: .seconds(1)),
            .unsupportedSampleRate(500), .unsupportedOutputRate(500),
        ]
        for error in errors {
            #expect(error.description.count > 10, "\(error)")
        }
        #expect(Set(errors.map(\.description)).count == errors.count)
    }
}
