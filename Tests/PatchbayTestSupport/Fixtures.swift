// What several test targets share: the fixtures folder, the real `patchbay` binary, and audio helpers.
public import Foundation
public import PatchbayDSP

public enum Fixtures {
    /// The repository's root folder.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The repository's testdata/ folder.
    public static let testdata = repository.appendingPathComponent("testdata")

    /// The `patchbay` executable built beside the tests.
    public static let patchbayBinary: URL = {
        // Tests run from the build products folder, next to the executable.
        let products = Bundle.main.bundleURL
        for candidate in [products.appendingPathComponent("patchbay"), products.deletingLastPathComponent().appendingPathComponent("patchbay")]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        return repository.appendingPathComponent(".build/debug/patchbay")
    }()

    /// Reads a raw 16-bit little-endian PCM fixture through the zero-copy view.
    public static func rawPCM(_ name: String) throws -> [Int16] {
        let data = try Data(contentsOf: testdata.appendingPathComponent(name))
        return data.withUnsafeBytes { Array(PCM16LittleEndian($0)) }
    }

    /// Runs `input` through a resampler in 20 ms frames, as a leg would.
    public static func resample(_ input: [Int16], from: Int, to: Int, quality: Int = Resampler.defaultQuality) throws -> [Int16] {
        var r = try Resampler(from: from, to: to, quality: quality)
        let frameIn = from / 50
        var out: [Int16] = []
        var buffer = [Int16](repeating: 0, count: r.outputCapacity(forInput: frameIn))
        var i = 0
        while i < input.count {
            let n = min(frameIn, input.count - i)
            let produced = input[i..<(i + n)].withUnsafeBufferPointer { src in
                buffer.withUnsafeMutableBufferPointer { r.process(src, into: $0).produced }
            }
            out.append(contentsOf: buffer[0..<produced])
            i += n
        }
        return out
    }
}
