import Foundation
import PatchbayDSP
import PatchbayTestSupport
import Testing

@Suite struct LevelTests {
    @Test("level 0 is a bit-exact passthrough")
    func unity() throws {
        var x = (0..<65536).map { Int16(truncatingIfNeeded: $0) }
        let original = x
        x.withUnsafeMutableBufferPointer { try! Level(0).apply(to: $0) }
        #expect(x == original)
    }

    @Test("the curve is 20 dB per unit: gain = 10^level")
    func curve() throws {
        for (level, db) in [(-1.0, -20.0), (-0.5, -10.0), (-0.1, -2.0), (0.1, 2.0), (0.5, 10.0), (1.0, 20.0)] {
            let l = try Level(level)
            #expect(abs(l.decibels - db) < 1e-9)
            var x: [Int16] = [1000, -1000, 3000]
            x.withUnsafeMutableBufferPointer { l.apply(to: $0) }
            let expected = 1000 * pow(10, db / 20)
            #expect(abs(Double(x[0]) - expected) <= 0.5 + expected * 1e-4, "\(level): \(x[0]) vs \(expected)")
            #expect(x[1] == -x[0])
        }
    }

    @Test("boosts saturate instead of wrapping")
    func saturation() throws {
        var x: [Int16] = [20000, -20000, .max, .min]
        x.withUnsafeMutableBufferPointer { try! Level(0.5).apply(to: $0) }
        #expect(x == [.max, .min, .max, .min])
    }

    @Test("levels outside -1...1 are refused")
    func errors() {
        #expect(throws: LevelError.outOfRange(1.5)) { try Level(1.5) }
        #expect(throws: (any Error).self) { try Level(.nan) }
    }
}

@Suite struct MixBusTests {
    @Test("sums sources exactly while they fit")
    func sum() {
        var bus = MixBus(frameSize: 4)
        let a: [Int16] = [100, -200, 300, 0]
        let b: [Int16] = [1, 2, 3]
        a.withUnsafeBufferPointer { bus.add($0) }
        b.withUnsafeBufferPointer { bus.add($0, level: .unity) }
        var out = [Int16](repeating: 7, count: 4)
        out.withUnsafeMutableBufferPointer { bus.render(into: $0) }
        #expect(out == [101, -198, 303, 0])
        // The bus is cleared after each render.
        out.withUnsafeMutableBufferPointer { bus.render(into: $0) }
        #expect(out == [0, 0, 0, 0])
    }

    @Test("never wraps: without the limiter the sum saturates")
    func saturates() {
        var bus = MixBus(frameSize: 3, limiter: false)
        let hot: [Int16] = [30000, -30000, 30000]
        for _ in 0..<5 { hot.withUnsafeBufferPointer { bus.add($0) } }
        var out = [Int16](repeating: 0, count: 3)
        out.withUnsafeMutableBufferPointer { bus.render(into: $0) }
        #expect(out == [.max, .min, .max])
        #expect(bus.saturatedSamples == 3)
    }

    @Test("the limiter scales a hot frame instead of clipping it, then recovers")
    func limiter() {
        var bus = MixBus(frameSize: 160)
        let loud = Tone.sine(1000, rate: 8000, count: 160, amplitude: 30000)
        loud.withUnsafeBufferPointer { bus.add($0) }
        loud.withUnsafeBufferPointer { bus.add($0) }
        var out = [Int16](repeating: 0, count: 160)
        out.withUnsafeMutableBufferPointer { bus.render(into: $0) }
        #expect(bus.saturatedSamples == 0)
        // The shape is kept: the output is the 60000-peak sum scaled into range, not a clipped sine.
        let peak = out.map { abs(Int($0)) }.max()!
        #expect(peak >= 32700 && peak <= 32767)
        let ratio = Double(out[10]) / (2 * Double(loud[10]))
        for i in 0..<160 where abs(loud[i]) > 1000 {
            #expect(abs(Double(out[i]) / (2 * Double(loud[i])) - ratio) < 0.001)
        }
        // Quiet frames afterwards come back to unity within a second.
        let quiet: [Int16] = [Int16](repeating: 1000, count: 160)
        for _ in 0..<50 {
            quiet.withUnsafeBufferPointer { bus.add($0) }
            out.withUnsafeMutableBufferPointer { bus.render(into: $0) }
        }
        #expect(out[0] == 1000)
    }

    @Test("a DTMF tone mixed over a hot stream stays detectable")
    func dtmfOverHotStream() throws {
        let rate = 8000
        // The tones at 0 dBm0 each (together they already exceed full scale) over a 150 Hz hum at -6 dBFS:
        // the sum peaks near 62,000, almost twice full scale.
        let tones = try DTMFGenerator.samples(digits: "1793", configuration: .init(sampleRate: rate, levelDBm0: 0))
        let hum = Tone.sine(150, rate: rate, count: tones.count, amplitude: 16000)
        func mix(limiter: Bool) -> [Int16] {
            var bus = MixBus(frameSize: 160, limiter: limiter)
            var out: [Int16] = []
            var frame = [Int16](repeating: 0, count: 160)
            for start in stride(from: 0, to: tones.count - 159, by: 160) {
                tones[start..<(start + 160)].withUnsafeBufferPointer { bus.add($0) }
                hum[start..<(start + 160)].withUnsafeBufferPointer { bus.add($0) }
                frame.withUnsafeMutableBufferPointer { bus.render(into: $0) }
                out += frame
            }
            return out
        }
        let limited = String(DTMFConformance.detect(mix(limiter: true), sampleRate: rate).map(\.digit))
        let clipped = String(DTMFConformance.detect(mix(limiter: false), sampleRate: rate).map(\.digit))
        print("DTMF at 0 dBm0 over hum: limiter \"\(limited)\", hard clip \"\(clipped)\"")
        #expect(limited == "1793")
        // Hard clipping is reported for comparison only: whether it survives depends on the signal.
    }
}
