internal import CEspeakNG
import Dispatch
import Foundation
public import PatchbayCodecs
public import PatchbayDSP

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Why speech could not be made.
public enum SpeechError: Error, Equatable, CustomStringConvertible {
    /// espeak-ng could not start (its data files are missing, say).
    case unavailable(String)
    /// No voice speaks this language.
    case unsupportedLanguage(String)
    /// The language has no such style.
    case unsupportedStyle(style: Int, styles: Int)
    case emptyText
    case textTooLong(characters: Int, limit: Int)
    /// The speech would be longer than the limit (seconds).
    case speechTooLong(limit: Int)
    case synthesisFailed(String)

    public var description: String {
        switch self {
        case .unavailable(let reason): "speech synthesis is unavailable: \(reason)"
        case .unsupportedLanguage(let code): "no voice for language \(code)"
        case .unsupportedStyle(let style, let styles): "style \(style) does not exist (0...\(styles - 1))"
        case .emptyText: "text is empty"
        case .textTooLong(let n, let limit): "text is \(n) characters, more than \(limit)"
        case .speechTooLong(let limit): "the speech would last more than \(limit) seconds"
        case .synthesisFailed(let reason): "speech synthesis failed: \(reason)"
        }
    }
}

/// Text to speech with espeak-ng (Debian's `libespeak-ng1`, through its C library), on the box.
///
/// espeak-ng keeps one global state per process, so there is one synthesizer (`shared`), and every call
/// into the library runs on its own serial queue at utility priority: synthesis never runs on a media
/// shard, an event loop or Swift's cooperative threads, and one long text waits behind another rather
/// than competing with the media path for the cores.
///
/// Languages are the Voice API's codes (`en-US`, `de-DE`, `cmn-CN`, ...), matched to espeak-ng's voices:
/// the whole code, then a known alias (`zh-CN` → `cmn`, `es-MX` → `es-419`, ...), then the code's primary
/// language (`de-AT` → `de`). A style picks one of espeak-ng's voice variants (`styles`).
public final class SpeechSynthesizer: Sendable {
    /// The longest text accepted, in characters (as the Voice API's talk action).
    public static let maximumTextCharacters = 1500
    /// The longest speech made, in seconds.
    public static let maximumSeconds = 600
    /// Style n > 0 speaks with espeak-ng's variant `styles[n]`; style 0 with the language's own voice.
    public static let styles = ["", "f1", "m1", "f2", "m2", "f3", "m3", "f4", "m4", "f5", "m5"]
    static let aliases = [
        "zh": "cmn", "zh-cn": "cmn", "zh-tw": "cmn", "cmn-cn": "cmn", "cmn-tw": "cmn", "zh-hk": "yue", "yue-cn": "yue",
        "yue-hk": "yue", "es-mx": "es-419", "es-us": "es-419", "nb-no": "nb", "no-no": "nb", "no": "nb", "fil-ph": "fil",
    ]

    /// The one synthesizer of the process, or why espeak-ng could not start.
    public static let shared: Result<SpeechSynthesizer, SpeechError> = start()

    private static func start() -> Result<SpeechSynthesizer, SpeechError> {
        do throws(SpeechError) {
            return .success(try SpeechSynthesizer())
        } catch {
            return .failure(error)
        }
    }

    /// The rate espeak-ng speaks at (22050 Hz).
    public let sampleRate: Int
    /// Every language a voice speaks (espeak-ng's lower-case codes), with the voice that speaks it best
    /// (espeak-ng's identifier, such as `gmw/en-US`).
    public let languages: [String: String]
    private let queue = DispatchQueue(label: "patchbay.speech", qos: .utility)

    private init() throws(SpeechError) {
        let queue = queue
        let started: Result<(Int, [String: String]), SpeechError> = queue.sync {
            let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, espeakINITIALIZE_DONT_EXIT)
            guard rate > 0 else { return .failure(.unavailable("espeak_Initialize failed (is espeak-ng-data installed?)")) }
            espeak_SetSynthCallback(collectSamples)
            return .success((Int(rate), Self.listLanguages()))
        }
        (sampleRate, languages) = try started.get()
        guard !languages.isEmpty else { throw .unavailable("espeak-ng lists no voices") }
    }

    /// The espeak-ng voice for a Voice API language code and style, or why there is none.
    public func voice(language code: String, style: Int = 0) throws(SpeechError) -> String {
        let tag = code.lowercased().replacingOccurrences(of: "_", with: "-")
        let primary = tag.split(separator: "-").first.map(String.init) ?? tag
        let candidates = [tag, Self.aliases[tag], primary, Self.aliases[primary]].compactMap { $0 }
        guard !tag.isEmpty, let voice = candidates.lazy.compactMap({ self.languages[$0] }).first else {
            throw .unsupportedLanguage(code)
        }
        guard Self.styles.indices.contains(style) else { throw .unsupportedStyle(style: style, styles: Self.styles.count) }
        return style == 0 ? voice : "\(voice)+\(Self.styles[style])"
    }

    /// Speaks `text` (SSML when it starts with `<speak`) with `voice` (from `voice(language:style:)`).
    /// - Returns: mono PCM16 at `sampleRate`.
    public func synthesize(_ text: String, voice: String) async throws(SpeechError) -> [Int16] {
        let characters = text.count
        guard characters <= Self.maximumTextCharacters else {
            throw .textTooLong(characters: characters, limit: Self.maximumTextCharacters)
        }
        guard text.contains(where: { !$0.isWhitespace }) else { throw .emptyText }
        let limit = Self.maximumSeconds * sampleRate
        let result: Result<[Int16], SpeechError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Self.run(text, voice: voice, limit: limit))
            }
        }
        return try result.get()
    }

    /// Speaks `text` and converts it to `outputRate` at `level` (see `synthesize(_:voice:)`).
    public func synthesize(_ text: String, voice: String, outputRate: Int, level: Level = .unity) async throws -> [Int16] {
        let samples = try await synthesize(text, voice: voice)
        return try AudioDecoder(outputRate: outputRate, level: level).convert(samples, from: sampleRate)
    }

    /// One synthesis, on the queue.
    private static func run(_ text: String, voice: String, limit: Int) -> Result<[Int16], SpeechError> {
        guard espeak_SetVoiceByName(voice) == EE_OK else { return .failure(.unsupportedLanguage(voice)) }
        collected = Collected(limit: limit)
        defer { collected = Collected(limit: 0) }
        var flags = UInt32(espeakCHARS_UTF8)
        if text.drop(while: \.isWhitespace).hasPrefix("<speak") { flags |= UInt32(espeakSSML) }
        let status = text.withCString { chars in
            espeak_Synth(chars, strlen(chars) + 1, 0, POS_CHARACTER, 0, flags, nil, nil)
        }
        if collected.overflowed { return .failure(.speechTooLong(limit: maximumSeconds)) }
        guard status == EE_OK else { return .failure(.synthesisFailed("espeak_Synth returned \(status.rawValue)")) }
        guard !collected.samples.isEmpty else { return .failure(.emptyText) }
        return .success(collected.samples)
    }

    /// The languages of every installed voice, each with the voice that has it at the best priority
    /// (the lowest number): a voice's `languages` is a list of (priority byte, NUL-terminated name)
    /// pairs ending with a zero byte.
    private static func listLanguages() -> [String: String] {
        var best: [String: (priority: UInt8, identifier: String)] = [:]
        guard let list = espeak_ListVoices(nil) else { return [:] }
        var i = 0
        while let voice = list[i] {
            i += 1
            guard var p = voice.pointee.languages, let identifier = voice.pointee.identifier.map({ String(cString: $0) }) else {
                continue
            }
            while p.pointee != 0 {
                let priority = UInt8(bitPattern: p.pointee)
                p += 1
                let name = String(cString: p).lowercased()
                if best[name].map({ priority < $0.priority }) ?? true { best[name] = (priority, identifier) }
                p += strlen(p) + 1
            }
        }
        return best.mapValues(\.identifier)
    }
}

/// The samples of the synthesis in progress. Touched only on the synthesizer's queue (espeak-ng calls
/// its callback synchronously from `espeak_Synth`), which is what makes the global safe.
private struct Collected {
    var samples: [Int16] = []
    let limit: Int
    var overflowed = false

    init(limit: Int) {
        self.limit = limit
    }
}

nonisolated(unsafe) private var collected = Collected(limit: 0)

/// espeak-ng's synthesis callback: appends each buffer; returning 1 aborts (over the length limit).
private func collectSamples(_ wav: UnsafeMutablePointer<Int16>?, _ count: Int32, _ events: UnsafeMutablePointer<espeak_EVENT>?) -> Int32 {
    guard let wav, count > 0 else { return 0 }
    guard collected.samples.count + Int(count) <= collected.limit else {
        collected.overflowed = true
        return 1
    }
    collected.samples.append(contentsOf: UnsafeBufferPointer(start: wav, count: Int(count)))
    return 0
}
