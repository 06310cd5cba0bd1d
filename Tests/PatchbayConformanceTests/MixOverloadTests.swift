import Foundation
import PatchbayCodecs
import PatchbayDSP
import PatchbayEngine
import PatchbayTestSupport
import Synchronization
import Testing

/// A conversation mixed past full scale: three or more legs send the same DTMF digits at full scale
/// (each leg's two tones at -3 dBm0, so each leg alone peaks near 32767: a tone reaching a conference
/// through several bridged lines), and one more leg hears them summed — three to six times full scale.
/// The mix must reach it limited, not hard-clipped: each 20 ms frame the true sum scaled by one gain
/// (what is left is under -40 dB), the digits detected by Patchbay's detector and by spandsp's (Debian's
/// libspandsp, the telephony reference), and not one sample wrapped (its sign is the true sum's wherever
/// the sum is clearly away from zero).
@Suite struct MixOverloadTests {
    static let digits = "1590#*"

    /// The engine's handle on a leg with no peer.
    final class NoPeer: LegTransport {
        func send(_ command: LegCommand) {}
        func close(reason: String) {}
    }

    @Test(
        "legs at full scale sending the same digits, and a listener: heard limited, not clipped; the digits survive; nothing wraps",
        arguments: [3, 4, 6])
    func fullScaleLegs(_ speakers: Int) async throws {
        let rate = 8000
        let tones = try DTMFGenerator.samples(digits: Self.digits, configuration: .init(sampleRate: rate, levelDBm0: -3))
        let frame = rate / 50
        let frames = (tones.count + frame - 1) / frame + 10
        let signal = tones + [Int16](repeating: 0, count: frames * frame - tones.count)
        let heard = try mix(signal, speakers: speakers, rate: rate, frames: frames)

        // Limited, each 20 ms frame is the true sum scaled by one gain: fit that gain per frame and measure
        // what is left (clipping leaves its harmonics and intermodulation there).
        var residual = 0.0
        var total = 0.0
        var wrapped = 0
        for k in 0..<frames {
            let range = (k * frame)..<((k + 1) * frame)
            let truth = range.map { Double(speakers) * Double(signal[$0]) }
            let got = range.map { Double(heard[$0]) }
            let energy = truth.reduce(0) { $0 + $1 * $1 }
            guard energy > 0 else { continue }
            let gain = zip(truth, got).reduce(0) { $0 + $1.0 * $1.1 } / energy
            residual += zip(truth, got).reduce(0) { $0 + ($1.1 - gain * $1.0) * ($1.1 - gain * $1.0) }
            total += got.reduce(0) { $0 + $1 * $1 }
            wrapped += zip(truth, got).filter { abs($0.0) > 3000 && ($0.0 > 0) != ($0.1 > 0) }.count
        }
        let distortion = 10 * log10(max(residual, 1e-9) / total)
        let ours = String(DTMFConformance.detect(heard, sampleRate: rate).map(\.digit))
        let theirs = try await Self.spandsp(heard, rate: rate)
        print(
            "\(speakers) legs at full scale: distortion \(String(format: "%.1f", distortion)) dB; Patchbay heard \"\(ours)\", spandsp \"\(theirs)\"")
        #expect(wrapped == 0, "\(wrapped) samples with the wrong sign: wrapped around")
        #expect(distortion < -40, "what is not the scaled sum: \(distortion) dB (hard clipping)")
        #expect(ours == Self.digits, "Patchbay's detector heard \"\(ours)\"")
        #expect(theirs == Self.digits, "spandsp heard \"\(theirs)\"")
    }

    /// Runs a conversation of `speakers` legs sending `signal` and one listener, tick by tick on a manual
    /// clock (the mixing tick: more than two legs), and returns what the listener heard.
    private func mix(_ signal: [Int16], speakers: Int, rate: Int, frames: Int) throws -> [Int16] {
        let clock = Atomic<Int64>(1_000_000_000)
        let engine = Engine(configuration: .init(shards: 1, detectDTMF: false, now: { clock.load(ordering: .relaxed) }))
        defer { engine.shutdown() }
        func leg() -> Leg {
            let leg = Leg(conversationName: "conference", sampleRate: rate, transport: NoPeer(), waker: LegWaker {})
            engine.attach(leg)
            engine.synchronize(with: leg.id)
            return leg
        }
        let talkers = (0..<speakers).map { _ in leg() }
        let listener = leg()
        let n = rate / 50
        var heard: [Int16] = []
        var out = [Int16](repeating: 0, count: n)
        var bytes = [UInt8](repeating: 0, count: 2 * n)
        for k in 0..<frames {
            for i in 0..<n {
                let s = signal[k * n + i]
                bytes[2 * i] = UInt8(truncatingIfNeeded: s)
                bytes[2 * i + 1] = UInt8(truncatingIfNeeded: s >> 8)
            }
            for talker in talkers {
                bytes.withUnsafeBytes { talker.receive(PCM16LittleEndian($0)) }
            }
            clock.add(20_000_000, ordering: .relaxed)
            engine.tickNow()
            while listener.outbound.available >= n {
                _ = out.withUnsafeMutableBufferPointer { listener.outbound.read(into: $0) }
                heard += out
            }
        }
        return heard
    }

    /// The digits spandsp's detector (dtmf_rx, default settings) finds: benchmarks/dtmf-compare's
    /// spandsp_detect, built here with Debian's libspandsp-dev (scripts/setup installs it).
    static func spandsp(_ samples: [Int16], rate: Int) async throws -> String {
        let folder = Fixtures.repository.appendingPathComponent("benchmarks/dtmf-compare")
        let make = await ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"), ["make", "-s", "-C", folder.path, "spandsp_detect"], mergingOutput: true)
        try #require(make.status == 0, "building spandsp_detect (needs make, cc and libspandsp-dev: scripts/setup): \(make.output)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-mix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wav = directory.appendingPathComponent("heard.wav").path
        try AudioFileWriter.write(samples, sampleRate: rate, to: wav)
        let run = await ChildProcess.run(folder.appendingPathComponent("spandsp_detect"), [wav])
        try #require(run.status == 0, "spandsp_detect failed: \(run.output)")
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
