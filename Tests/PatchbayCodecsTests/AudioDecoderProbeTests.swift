import PatchbayCodecs
import Testing

@Suite struct AudioDecoderProbeTests {
    @Test(arguments: SineFixture.all)
    func probeReadsTheHeader(fixture: SineFixture) throws {
        let info = try AudioDecoder.probe(fileAtPath: Fixture.path(fixture.name))
        #expect(info == (try AudioDecoder.probe(bytes: Fixture.bytes(fixture.name))))
        #expect(info.format == fixture.format)
        #expect(info.sampleRate == fixture.sourceRate)
        #expect(info.channels == fixture.channels)
        if fixture.name == "sine1k-noxing.mp3" {
            #expect(info.frames == nil)  // no Xing header: the length is known only by decoding
            #expect(info.duration == nil)
        } else {
            #expect(info.frames == fixture.frames)
            #expect(info.duration == .seconds(Double(fixture.frames) / Double(fixture.sourceRate)))
        }
    }

    @Test func probeMakesTheHeaderChecksDecodeMakes() {
        #expect(throws: AudioDecoderError.truncated(declaredBytes: 32000, presentBytes: 12000)) {
            try AudioDecoder.probe(fileAtPath: Fixture.path("truncated.wav"))
        }
        #expect(throws: AudioDecoderError.empty) { try AudioDecoder.probe(fileAtPath: Fixture.path("empty.wav")) }
        #expect(throws: AudioDecoderError.tooLong(limit: .milliseconds(100))) {
            try AudioDecoder.probe(
                fileAtPath: Fixture.path("sine1k-xing.mp3"), limits: AudioDecoder.Limits(maximumDuration: .milliseconds(100)))
        }
        #expect(throws: AudioDecoderError.self) { try AudioDecoder.probe(fileAtPath: Fixture.path("sine1k.flac")) }
    }
}
