import Foundation
import PatchbayDSP
import Testing

@Suite struct G711Tests {
    @Test("μ-law and A-law codes of the standard's landmarks: silence, full scale, the smallest steps")
    func landmarks() {
        #expect(G711.uLaw.encode(0) == 0xFF && G711.uLaw.decode(0xFF) == 0 && G711.uLaw.decode(0x7F) == 0)
        #expect(G711.uLaw.decode(0x80) == 32124 && G711.uLaw.decode(0x00) == -32124)
        #expect(G711.uLaw.encode(.max) == 0x80 && G711.uLaw.encode(.min) == 0x00)
        #expect(G711.aLaw.encode(0) == 0xD5 && G711.aLaw.decode(0xD5) == 8 && G711.aLaw.decode(0x55) == -8)
        #expect(G711.aLaw.decode(0xAA) == 32256 && G711.aLaw.decode(0x2A) == -32256)
        #expect(G711.aLaw.encode(.max) == 0xAA && G711.aLaw.encode(.min) == 0x2A)
    }

    @Test("every code survives decoding and encoding again (μ-law's negative zero becomes zero)", arguments: G711.allCases)
    func codesRoundTrip(law: G711) {
        for code in UInt8.min...UInt8.max {
            let again = law.encode(law.decode(code))
            if law == .uLaw, code == 0x7F {
                #expect(again == 0xFF)
            } else {
                #expect(again == code, "code \(code) -> \(law.decode(code)) -> \(again)")
            }
        }
    }

    @Test("companding is monotonic and its error grows with the level, as a logarithmic quantiser's does", arguments: G711.allCases)
    func monotonicAndBounded(law: G711) {
        var previous = Int.min
        for x in Int(Int16.min)...Int(Int16.max) {
            let y = Int(law.decode(law.encode(Int16(x))))
            #expect(y >= previous, "\(x) -> \(y) after \(previous)")
            previous = y
            // Steps grow from 8 (μ-law) or 16 (A-law) near zero to 1024 at full scale.
            let bound = max(16, abs(x) / 16 + 8)
            if abs(y - x) > bound { Issue.record("\(law) \(x) -> \(y): error \(abs(y - x)) > \(bound)") }
        }
    }

    @Test("a 1 kHz sine comes back with G.711's signal-to-noise ratio (over 35 dB from -20 to -3 dBFS)", arguments: G711.allCases)
    func sineSNR(law: G711) {
        for amplitude in [3277.0, 10_000, 23_000] {
            let x = (0..<8000).map { Int16((amplitude * sin(2 * Double.pi * 1000 * Double($0) / 8000 + 0.1)).rounded()) }
            var codes = [UInt8](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { s in codes.withUnsafeMutableBytes { law.encode(s, into: $0) } }
            var pcm = [UInt8](repeating: 0, count: 2 * x.count)
            codes.withUnsafeBytes { c in pcm.withUnsafeMutableBytes { law.decode(c, into: $0) } }
            var signal = 0.0
            var noise = 0.0
            for i in 0..<x.count {
                let y = Int16(bitPattern: UInt16(pcm[2 * i]) | UInt16(pcm[2 * i + 1]) << 8)
                signal += Double(x[i]) * Double(x[i])
                noise += (Double(y) - Double(x[i])) * (Double(y) - Double(x[i]))
            }
            let snr = 10 * log10(signal / noise)
            #expect(snr > 35, "\(law) at amplitude \(amplitude): \(snr) dB")
        }
    }
}
