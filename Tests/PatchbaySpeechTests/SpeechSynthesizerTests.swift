import Foundation
import PatchbayCodecs
import PatchbayDSP
import PatchbaySpeech
import Testing

@Suite struct SpeechSynthesizerTests {
    let speech: SpeechSynthesizer

    init() throws {
        speech = try SpeechSynthesizer.shared.get()
    }

    @Test func voicesForTheVoiceAPILanguageCodes() throws {
        #expect(speech.sampleRate == 22050)
        // espeak-ng's voices (their files): en-GB is its plain English voice.
        #expect(try speech.voice(language: "en-US") == "gmw/en-US")
        #expect(try speech.voice(language: "en-GB") == "gmw/en")
        #expect(try speech.voice(language: "de-DE") == "gmw/de")
        #expect(try speech.voice(language: "fr-FR") == "roa/fr")
        #expect(try speech.voice(language: "fr-CA") == "roa/fr", "no Canadian voice: French")
        #expect(try speech.voice(language: "es-MX") == "roa/es-419")
        #expect(try speech.voice(language: "pt-BR") == "roa/pt-BR")
        #expect(try speech.voice(language: "cmn-CN") == "sit/cmn")
        #expect(try speech.voice(language: "ja-JP") == "jpx/ja")
        #expect(try speech.voice(language: "en-US", style: 2) == "gmw/en-US+m1")
        #expect(throws: SpeechError.unsupportedLanguage("xx-YY")) { try speech.voice(language: "xx-YY") }
        #expect(throws: SpeechError.unsupportedLanguage("")) { try speech.voice(language: "") }
        #expect(throws: SpeechError.unsupportedStyle(style: 99, styles: SpeechSynthesizer.styles.count)) {
            try speech.voice(language: "en-US", style: 99)
        }
    }

    @Test func speaksTextAsSpeech() async throws {
        let short = try await speech.synthesize("Hello.", voice: speech.voice(language: "en-US"))
        let long = try await speech.synthesize(
            "Hello. Your call is important to us; please hold while we connect you to an agent.", voice: speech.voice(language: "en-US"))
        let seconds = Double(long.count) / 22050
        #expect(seconds > 2 && seconds < 10, "\(seconds) s")
        #expect(long.count > 3 * short.count)
        // Speech, not silence or a tone: loud enough, with pauses between words (a fifth of 20 ms blocks
        // well below the loudest) and energy mostly in the voice band.
        let blocks = stride(from: 0, to: long.count - 441, by: 441).map { Self.rms(long[$0..<($0 + 441)]) }
        let loudest = blocks.max() ?? 0
        #expect(loudest > 1000)
        #expect(blocks.filter { $0 < loudest / 20 }.count > blocks.count / 10)
        let voiceBand = Self.bandEnergy(long, rate: 22050, from: 100, to: 4000)
        let all = Self.bandEnergy(long, rate: 22050, from: 0, to: 11025)
        #expect(voiceBand / all > 0.8)
    }

    /// espeak-ng varies its output a little from one run to the next (a few milliseconds): lengths are
    /// compared within 10 %, voices by their pitch.
    @Test func languagesAndStylesSoundDifferent() async throws {
        let text = "Seven hundred and twenty three."
        let a = try await speech.synthesize(text, voice: speech.voice(language: "en-US"))
        let b = try await speech.synthesize(text, voice: speech.voice(language: "en-US"))
        let german = try await speech.synthesize(text, voice: speech.voice(language: "de-DE"))
        let female = try await speech.synthesize(text, voice: speech.voice(language: "en-US", style: 1))
        #expect(abs(Double(a.count) / Double(b.count) - 1) < 0.1)
        #expect(german.count > 22050 / 2, "the German voice speaks it too")
        // The f1 variant is a higher voice: its median pitch over the voiced blocks is well above the
        // default (male) voice's.
        let (high, low) = (Self.medianPitch(female), Self.medianPitch(a))
        #expect(high > 1.3 * low, "f1 at \(high) Hz, the default voice at \(low) Hz")
        #expect((70...200).contains(low), "\(low) Hz")
    }

    @Test func concurrentRequestsAreSerialisedAndComplete() async throws {
        let voice = try speech.voice(language: "en-GB")
        let one = try await speech.synthesize("one two three", voice: voice)
        let speech = speech
        try await withThrowingTaskGroup(of: [Int16].self) { group in
            for _ in 0..<6 { group.addTask { try await speech.synthesize("one two three", voice: voice) } }
            for try await result in group { #expect(abs(Double(result.count) / Double(one.count) - 1) < 0.1) }
        }
    }

    @Test func convertsToTheLegRate() async throws {
        let voice = try speech.voice(language: "en-US")
        let native = try await speech.synthesize("Testing the rate.", voice: voice)
        for rate in [8000, 16000, 24000] {
            let converted = try AudioDecoder(outputRate: rate).convert(native, from: 22050)
            #expect(converted.count == (native.count * rate + 11025) / 22050)
            #expect(Self.bandEnergy(converted, rate: rate, from: 100, to: 4000) > 0)
            let spoken = try await speech.synthesize("Testing the rate.", voice: voice, outputRate: rate)
            #expect(abs(Double(spoken.count) / Double(converted.count) - 1) < 0.1)
        }
        let quieter = try AudioDecoder(outputRate: 16000, level: Level(-0.5)).convert(native, from: 22050)
        let unity = try AudioDecoder(outputRate: 16000).convert(native, from: 22050)
        let ratio = Self.rms(quieter[...]) / Self.rms(unity[...])
        #expect(abs(ratio - (try Level(-0.5)).gain) < 0.01)
    }

    @Test func refusesBadText() async throws {
        let voice = try speech.voice(language: "en-US")
        await #expect(throws: SpeechError.emptyText) { try await speech.synthesize("  \n", voice: voice) }
        let long = String(repeating: "a", count: SpeechSynthesizer.maximumTextCharacters + 1)
        await #expect(throws: SpeechError.textTooLong(characters: long.count, limit: SpeechSynthesizer.maximumTextCharacters)) {
            try await speech.synthesize(long, voice: voice)
        }
        // SSML is spoken, its tags are not.
        let ssml = try await speech.synthesize("<speak>Hello <break time=\"1s\"/> world</speak>", voice: voice)
        let plain = try await speech.synthesize("Hello world", voice: voice)
        #expect(ssml.count > plain.count + 15000)
    }

    /// The median pitch (Hz) of the loud, voiced 40 ms blocks: each block's strongest normalised
    /// autocorrelation between 70 and 400 Hz, kept when it is clearly periodic (> 0.5).
    static func medianPitch(_ x: [Int16], rate: Int = 22050) -> Double {
        let n = rate / 25
        let loud = stride(from: 0, to: x.count - n, by: n).map { rms(x[$0..<($0 + n)]) }.max() ?? 0
        var pitches: [Double] = []
        for start in stride(from: 0, to: x.count - n, by: n) where rms(x[start..<(start + n)]) > loud / 4 {
            let block = x[start..<(start + n)].map(Double.init)
            let energy = block.reduce(0) { $0 + $1 * $1 }
            var best = (lag: 0, score: 0.0)
            for lag in (rate / 400)...(rate / 70) {
                var sum = 0.0
                for i in 0..<(n - lag) { sum += block[i] * block[i + lag] }
                let score = sum / energy
                if score > best.score { best = (lag, score) }
            }
            if best.score > 0.5 { pitches.append(Double(rate) / Double(best.lag)) }
        }
        return pitches.sorted().dropFirst(pitches.count / 2).first ?? 0
    }

    static func rms(_ x: ArraySlice<Int16>) -> Double {
        guard !x.isEmpty else { return 0 }
        return (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)).squareRoot()
    }

    /// Energy between `from` and `to` Hz: a plain DFT over ten 50 ms blocks spread over the clip.
    static func bandEnergy(_ x: [Int16], rate: Int, from: Double, to: Double) -> Double {
        let n = rate / 20
        var total = 0.0
        for start in stride(from: 0, to: x.count - n, by: max(n, x.count / 10)) {
            for k in 0...(n / 2) {
                let f = Double(k) * Double(rate) / Double(n)
                guard f >= from, f <= to else { continue }
                var re = 0.0
                var im = 0.0
                for i in 0..<n {
                    let phase = 2 * Double.pi * Double(k * i) / Double(n)
                    re += Double(x[start + i]) * cos(phase)
                    im -= Double(x[start + i]) * sin(phase)
                }
                total += re * re + im * im
            }
        }
        return total
    }
}
