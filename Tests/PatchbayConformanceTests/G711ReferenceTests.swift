import Foundation
import PatchbayDSP
import PatchbayTestSupport
import Testing

/// Patchbay's G.711 against another implementation: Python's `audioop` (the same reference algorithm, in C),
/// run as a child process over every 16-bit sample and every code.
@Suite struct G711ReferenceTests {
    @Test("every 16-bit sample compands to the code audioop gives, and every code expands to audioop's sample")
    func matchesAudioop() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-g711-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var pcm = [UInt8]()
        pcm.reserveCapacity(2 * 65536)
        for x in Int(Int16.min)...Int(Int16.max) {
            let u = UInt16(bitPattern: Int16(x))
            pcm += [UInt8(u & 0xFF), UInt8(u >> 8)]
        }
        let input = dir.appendingPathComponent("pcm")
        let output = dir.appendingPathComponent("out")
        try Data(pcm).write(to: input)
        let script = """
            import sys, warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
            pcm = open(sys.argv[1], "rb").read()
            codes = bytes(range(256))
            out = audioop.lin2ulaw(pcm, 2) + audioop.lin2alaw(pcm, 2) + audioop.ulaw2lin(codes, 2) + audioop.alaw2lin(codes, 2)
            open(sys.argv[2], "wb").write(out)
            """
        let exit = await ChildProcess.python(["-c", script, input.path, output.path], timeout: .seconds(60))
        try #require(exit.status == 0, "python3 with audioop failed (scripts/setup installs it): \(exit.output)")
        let reference = [UInt8](try Data(contentsOf: output))
        let expected = 2 * 65536 + 2 * 512
        try #require(reference.count == expected)
        var mismatches: [String] = []
        for (offset, law) in [(0, G711.uLaw), (65536, G711.aLaw)] {
            for x in Int(Int16.min)...Int(Int16.max) {
                let ours = law.encode(Int16(x))
                let theirs = reference[offset + x + 32768]
                if ours != theirs, mismatches.count < 10 { mismatches.append("\(law) encode \(x): \(ours) vs audioop \(theirs)") }
            }
        }
        for (offset, law) in [(2 * 65536, G711.uLaw), (2 * 65536 + 512, G711.aLaw)] {
            for code in 0..<256 {
                let theirs = Int16(bitPattern: UInt16(reference[offset + 2 * code]) | UInt16(reference[offset + 2 * code + 1]) << 8)
                let ours = law.decode(UInt8(code))
                if ours != theirs, mismatches.count < 20 { mismatches.append("\(law) decode \(code): \(ours) vs audioop \(theirs)") }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
    }
}
