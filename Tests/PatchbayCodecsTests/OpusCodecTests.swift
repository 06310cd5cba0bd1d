import Foundation
import PatchbayCodecs
import PatchbayTestSupport
import Testing

@Suite struct OpusCodecTests {
    /// One second of a 1 kHz sine at `amplitude` of full scale.
    static func sine(sampleRate: Int, amplitude: Double = 0.3, seconds: Double = 1) -> [Int16] {
        (0..<Int(Double(sampleRate) * seconds)).map {
            Int16((amplitude * 32767 * sin(2 * Double.pi * 1000 * Double($0) / Double(sampleRate))).rounded())
        }
    }

    @Test(arguments: OpusEncoder.supportedSampleRates)
    func roundTripKeepsTheTone(sampleRate: Int) throws {
        var encoder = try OpusEncoder(sampleRate: sampleRate)
        var decoder = try OpusDecoder(sampleRate: sampleRate)
        let frameSamples = sampleRate / 50
        #expect(encoder.frameSamples == frameSamples && decoder.frameSamples == frameSamples)

        let input = Self.sine(sampleRate: sampleRate)
        var output: [Int16] = []
        var packetBytes: [Int] = []
        for start in stride(from: 0, to: input.count, by: frameSamples) {
            let packet = try encoder.encode(Array(input[start..<(start + frameSamples)]))
            packetBytes.append(packet.count)
            let frame = try decoder.decode(packet)
            #expect(frame.count == frameSamples)
            output += frame
        }
        #expect(output.count == input.count)
        #expect(packetBytes.allSatisfy { $0 > 0 && $0 <= OpusEncoder.maximumPacketBytes })

        // Skip the first 100 ms: the encoder's look-ahead and start-up.
        let skip = sampleRate / 10
        let original = ToneMeasurement(input[skip...], sampleRate: sampleRate)
        let decoded = ToneMeasurement(output[skip...], sampleRate: sampleRate)
        let levelChange = decoded.decibels(relativeTo: original.amplitude)
        let mean = packetBytes.reduce(0, +) / packetBytes.count
        print("Opus \(sampleRate) Hz: \(mean) bytes/packet, tone \(String(format: "%+.2f", levelChange)) dB, \(decoded)")
        #expect(abs(levelChange) < 1, "tone level changed by \(levelChange) dB")
        #expect(abs(decoded.frequency - 1000) < 1, "frequency \(decoded.frequency) Hz")
        #expect(decoded.purity > 0.95, "purity \(decoded.purity)")
    }

    @Test(arguments: OpusEncoder.supportedSampleRates)
    func lostPacketIsConcealedWithAFullFrame(sampleRate: Int) throws {
        var encoder = try OpusEncoder(sampleRate: sampleRate)
        var decoder = try OpusDecoder(sampleRate: sampleRate)
        let frameSamples = sampleRate / 50
        let input = Self.sine(sampleRate: sampleRate, seconds: 0.2)
        for start in stride(from: 0, to: input.count, by: frameSamples) {
            _ = try decoder.decode(encoder.encode(Array(input[start..<(start + frameSamples)])))
        }
        let concealed = try decoder.decode(nil)
        #expect(concealed.count == frameSamples)
        // Concealment continues the tone rather than going silent.
        let tone = ToneMeasurement(concealed[...], sampleRate: sampleRate)
        #expect(tone.amplitude > 0.05, "concealed amplitude \(tone.amplitude)")

        // Into a caller's buffer, and with an empty packet (also a loss to libopus).
        var frame = [Int16](repeating: 0, count: frameSamples)
        let count = try frame.withUnsafeMutableBufferPointer { try decoder.decode(nil, into: $0) }
        #expect(count == frameSamples)
        #expect(try decoder.decode([]).count == frameSamples)
    }

    @Test func encodingIntoACallersBuffer() throws {
        var encoder = try OpusEncoder(sampleRate: 16000)
        let frame = Self.sine(sampleRate: 16000, seconds: 0.02)
        var packet = [UInt8](repeating: 0, count: OpusEncoder.maximumPacketBytes)
        let length = try frame.withUnsafeBufferPointer { frame in
            try packet.withUnsafeMutableBufferPointer { try encoder.encode(frame, into: $0) }
        }
        #expect(length > 0 && length <= packet.count)
    }

    @Test(arguments: [11025, 22050, 32000, 44100, 0])
    func unsupportedRates(rate: Int) {
        #expect(throws: OpusCodecError.unsupportedSampleRate(rate)) { _ = try OpusEncoder(sampleRate: rate) }
        #expect(throws: OpusCodecError.unsupportedSampleRate(rate)) { _ = try OpusDecoder(sampleRate: rate) }
    }

    @Test func framesMustBeExactly20Milliseconds() throws {
        var encoder = try OpusEncoder(sampleRate: 8000)
        #expect(throws: OpusCodecError.wrongFrameSize(samples: 159, expected: 160)) {
            try encoder.encode([Int16](repeating: 0, count: 159))
        }
        #expect(throws: OpusCodecError.wrongFrameSize(samples: 320, expected: 160)) {
            try encoder.encode([Int16](repeating: 0, count: 320))
        }
        var decoder = try OpusDecoder(sampleRate: 8000)
        var small = [Int16](repeating: 0, count: 100)
        #expect(throws: OpusCodecError.wrongFrameSize(samples: 100, expected: 160)) {
            try small.withUnsafeMutableBufferPointer { try decoder.decode(nil, into: $0) }
        }
    }

    @Test func corruptPacketIsRefused() throws {
        var decoder = try OpusDecoder(sampleRate: 16000)
        // TOC code 3 (an arbitrary number of frames) followed by a frame count of zero: not a valid packet.
        guard
            case .invalidPacket(let reason) = #expect(
                throws: OpusCodecError.self,
                performing: {
                    try decoder.decode([0x03, 0x00])
                })
        else {
            Issue.record("expected .invalidPacket")
            return
        }
        #expect(reason.contains("corrupted"), "\(reason)")
    }
}
