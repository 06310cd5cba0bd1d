import Foundation
import PatchbayCodecs
import PatchbayDSP
import PatchbayTestSupport
import Testing

/// Drives the real `patchbay` binary from the outside, as a user would.
@Suite struct CLITests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static let binary = Fixtures.patchbayBinary
    static let testdata = Fixtures.testdata

    static func run(_ arguments: String...) async throws -> Run {
        try await run(arguments)
    }

    /// Runs `patchbay` to completion.
    static func run(_ arguments: [String]) async throws -> Run {
        let exit = await ChildProcess.run(binary, arguments)
        return Run(status: exit.status, stdout: exit.stdout, stderr: exit.stderr)
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("generate then detect round-trips the digits at every rate", arguments: [8000, 16000, 24000])
    func generateAndDetect(rate: Int) async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("digits.wav").path
        let gen = try await Self.run("dtmf", "generate", "0123456789*#ABCD", "-o", wav, "--rate", String(rate))
        #expect(gen.status == 0, "\(gen.stderr)")
        #expect(gen.stdout.isEmpty)
        let audio = try AudioDecoder(outputRate: rate).decode(fileAtPath: wav)
        #expect(audio.sourceSampleRate == rate)
        #expect(audio.samples.count == 16 * 160 * rate / 1000)
        let detect = try await Self.run("dtmf", "detect", wav)
        #expect(detect.status == 0, "\(detect.stderr)")
        #expect(detect.stdout == "0123456789*#ABCD\n")
    }

    @Test("detect --json prints one object per digit with start and duration")
    func detectJSON() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("d.wav").path
        #expect(try await Self.run("dtmf", "generate", "1p#", "-o", wav, "--tone-ms", "50", "--gap-ms", "70", "--level", "-20").status == 0)
        let r = try await Self.run("dtmf", "detect", "--json", wav)
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 2, "\(r.stdout)\(r.stderr)")
        struct Digit: Decodable {
            let digit: String
            let start_ms: Int
            let duration_ms: Int
        }
        let digits = try lines.map { try JSONDecoder().decode(Digit.self, from: Data($0.utf8)) }
        #expect(digits.map(\.digit) == ["1", "#"])
        // 50 ms tone at 0, then 70 ms gap and a 500 ms pause: the # starts at 620 ms.
        #expect(abs(digits[0].start_ms - 0) <= 5 && abs(digits[0].duration_ms - 50) <= 5)
        #expect(abs(digits[1].start_ms - 620) <= 5 && abs(digits[1].duration_ms - 50) <= 5)
        #expect(lines[0].hasPrefix(#"{"digit":"1","start_ms":"#))
    }

    @Test("resample converts an mp3 to a 16-bit mono wav at the asked rate and level")
    func resample() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.wav").path
        let input = Self.testdata.appendingPathComponent("sine1k-xing.mp3").path
        let r = try await Self.run("resample", input, out, "--rate", "8000", "--level", "-0.5")
        #expect(r.status == 0, "\(r.stderr)")
        let original = try AudioDecoder(outputRate: 8000).decode(fileAtPath: input)
        let converted = try AudioDecoder(outputRate: 8000).decode(fileAtPath: out)
        #expect(converted.sourceSampleRate == 8000 && converted.sourceChannels == 1)
        #expect(converted.samples.count == original.samples.count)
        // -0.5 is -10 dB: the peak drops by a factor of 3.16.
        let ratio = Double(original.samples.map { abs(Int($0)) }.max()!) / Double(converted.samples.map { abs(Int($0)) }.max()!)
        #expect(abs(ratio - 3.162) < 0.02, "ratio \(ratio)")
    }

    @Test("errors go to stderr with a non-zero status")
    func errors() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [([String], String)] = [
            (["dtmf", "detect", "/nonexistent.wav"], "not found"),
            (["dtmf", "detect", Self.testdata.appendingPathComponent("broken.wav").path], "wav or mp3"),
            (["dtmf", "detect", Self.testdata.appendingPathComponent("empty.wav").path], "empty"),
            (["dtmf", "generate", "12x", "-o", dir.appendingPathComponent("x.wav").path], "invalid DTMF digit 'x'"),
            (["dtmf", "generate", "1", "-o", dir.appendingPathComponent("x.wav").path, "--rate", "11025"], "--rate"),
            (["dtmf", "generate", "1", "-o", "/nonexistent-dir/x.wav"], "/nonexistent-dir/x.wav"),
            (
                [
                    "resample", Self.testdata.appendingPathComponent("sine1k-xing.mp3").path, dir.appendingPathComponent("o.wav").path, "--rate",
                    "8000", "--level", "3",
                ], "outside -1...1"
            ),
            (
                ["resample", Self.testdata.appendingPathComponent("sine1k.flac").path, dir.appendingPathComponent("o.wav").path, "--rate", "8000"],
                "unsupported"
            ),
            (["bench", "ws://127.0.0.1:1/forward", "--service", "nowhere"], "--service must be host:port"),
            (["bench", "ws://127.0.0.1:1/forward", "--service", "127.0.0.1:9", "--probe", "tag"], "use --probe burst"),
            (["bench", "ws://127.0.0.1:1/forward", "--service", "127.0.0.1:9", "--pair-rate", "8000"], "does not combine"),
            (["bench", "ws://127.0.0.1:1/forward", "--service-burst", "200ms"], "--service-burst needs --service"),
            (["bench", "ws://127.0.0.1:1/forward", "--service", "127.0.0.1:9", "--service-burst", "30ms"], "multiple of 20ms"),
        ]
        for (arguments, message) in cases {
            let r = try await Self.run(arguments)
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stdout.isEmpty, "\(arguments): stdout \(r.stdout)")
            #expect(r.stderr.contains(message), "\(arguments): stderr \(r.stderr)")
        }
    }

    @Test("--help works on every command")
    func help() async throws {
        for command in [[], ["dtmf"], ["dtmf", "detect"], ["dtmf", "generate"], ["dtmf", "conformance"], ["resample"]] {
            let r = try await Self.run(command + ["--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("USAGE"), "\(command)")
        }
    }

    @Test("dtmf conformance passes and writes the signals with a manifest")
    func conformance() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // --write creates the folder.
        let r = try await Self.run("dtmf", "conformance", "--rate", "8000", "--write", dir.appendingPathComponent("signals").path)
        #expect(r.status == 0, "\(r.stdout)")
        #expect(!r.stdout.contains("FAIL"))
        let signals = dir.appendingPathComponent("signals")
        let manifest = try String(contentsOf: signals.appendingPathComponent("manifest.tsv"), encoding: .utf8)
        let rows = manifest.split(separator: "\n").dropFirst()
        #expect(rows.count == DTMFConformance.cases(sampleRate: 8000).count)
        // Every written signal is detected from the file exactly as from memory.
        for row in rows.prefix(3) {
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false)
            let d = try await Self.run("dtmf", "detect", signals.appendingPathComponent(String(fields[0])).path)
            #expect(d.stdout == String(fields[3]) + "\n")
        }
    }
}
