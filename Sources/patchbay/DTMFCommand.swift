import ArgumentParser
import PatchbayCodecs
import PatchbayDSP
import PatchbayVoiceAPI

/// `patchbay dtmf`: detect, generate and self-test DTMF.
struct DTMFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dtmf",
        abstract: "Detect or generate DTMF tones.",
        subcommands: [Detect.self, Generate.self, Conformance.self]
    )
}

extension DTMFCommand {
    struct Detect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the DTMF digits in a wav or mp3 file.",
            discussion: """
                Prints the digits as one line (e.g. 123#), or with --json one JSON object per digit:
                {"digit":"1","start_ms":120,"duration_ms":50}. Files at 8, 16, 24 or 48 kHz are analysed at
                their own rate; others are resampled to 16 kHz first. Stereo is mixed to mono.
                """
        )

        @Argument(help: "A wav or mp3 file.")
        var file: String

        @Flag(help: "Print one JSON object per digit instead of the digits on one line.")
        var json = false

        func run() throws {
            let info = try AudioDecoder.probe(fileAtPath: file)
            let rate = L16.rates.contains(info.sampleRate) ? info.sampleRate : 16000
            let audio = try AudioDecoder(outputRate: rate).decode(fileAtPath: file)
            let found = DTMFConformance.detect(audio.samples, sampleRate: rate)
            if json {
                for d in found {
                    print(#"{"digit":"\#(d.digit)","start_ms":\#(d.startMilliseconds),"duration_ms":\#(d.durationMilliseconds)}"#)
                }
            } else {
                print(String(found.map(\.digit)))
            }
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write DTMF digits to a 16-bit mono wav file.",
            discussion: "Digits: 0-9 * # A-D; p is a pause (500 ms by default)."
        )

        @Argument(help: "The digits to generate, e.g. 123#p9.")
        var digits: String

        @Option(name: .shortAndLong, help: "The wav file to write.")
        var output: String

        @Option(help: "Sample rate in Hz (\(L16.list(L16.rates))).")
        var rate = 8000

        @Option(parsing: .unconditional, help: "Level of each tone in dBm0 (e.g. --level -10).")
        var level = -10.0

        @Option(parsing: .unconditional, help: "High-group level relative to the low group, in dB.")
        var twist = 0.0

        @Option(name: .customLong("tone-ms"), help: "Tone length in milliseconds.")
        var toneMilliseconds = 100

        @Option(name: .customLong("gap-ms"), help: "Silence after each tone in milliseconds.")
        var gapMilliseconds = 60

        @Option(name: .customLong("pause-ms"), help: "Length of a p pause in milliseconds.")
        var pauseMilliseconds = 500

        func validate() throws {
            guard L16.rates.contains(rate) else {
                throw ValidationError("--rate must be \(L16.list(L16.rates)) (got \(rate))")
            }
        }

        func run() throws {
            let config = DTMFGenerator.Configuration(
                sampleRate: rate, levelDBm0: level, twistDB: twist, toneMilliseconds: toneMilliseconds,
                gapMilliseconds: gapMilliseconds, pauseMilliseconds: pauseMilliseconds)
            let samples = try DTMFGenerator.samples(digits: digits, configuration: config)
            try AudioFileWriter.write(samples, sampleRate: rate, to: output)
        }
    }

    struct Conformance: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run docs/QUALITY.md's DTMF detection table against the built-in detector.",
            discussion: """
                Synthesises every condition (frequency offset, level, twist, duration, pause, dropout, white
                noise, talk-off) and prints one line per signal with what was expected and detected. With
                --write DIR it also writes each signal as a wav file and a manifest.tsv (file, condition,
                signal, expected digits) so other detectors can be run on the same audio. Exits non-zero if
                any case fails.
                """
        )

        @Option(help: "Sample rate in Hz.")
        var rate = 8000

        @Option(help: "Also write the signals as wav files and manifest.tsv into this folder.")
        var write: String?

        @Option(help: "A speech recording (wav or mp3) to add as a talk-off case.")
        var speech: String?

        func validate() throws {
            guard L16.rates.contains(rate) else {
                throw ValidationError("--rate must be \(L16.list(L16.rates)) (got \(rate))")
            }
        }

        func run() throws {
            var cases = DTMFConformance.cases(sampleRate: rate)
            if let speech {
                let audio = try AudioDecoder(outputRate: rate).decode(fileAtPath: speech)
                cases.append(
                    DTMFConformanceCase(condition: "talk-off", name: "speech (\(speech))", expected: "", sampleRate: rate, samples: audio.samples))
            }
            if let write { try TextFile.createDirectory(write) }
            var manifest = "file\tcondition\tsignal\texpected\n"
            var failed = 0
            for (i, c) in cases.enumerated() {
                let result = DTMFConformance.run(c)
                if !result.passed { failed += 1 }
                print(
                    "\(result.passed ? "pass" : "FAIL") | \(c.condition) | \(c.name) | expected \"\(c.expected)\" | detected \"\(result.detected)\"")
                if let write {
                    let name = String(format3(i)) + ".wav"
                    try AudioFileWriter.write(c.samples, sampleRate: rate, to: write + "/" + name)
                    manifest += "\(name)\t\(c.condition)\t\(c.name)\t\(c.expected)\n"
                }
            }
            if let write {
                try TextFile.write(manifest, to: write + "/manifest.tsv")
            }
            print("\(cases.count - failed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode.failure }
        }

        private func format3(_ i: Int) -> String {
            let s = String(i)
            return String(repeating: "0", count: max(0, 3 - s.count)) + s
        }
    }
}
