import Foundation
import Logging
import PatchbayDSP
import PatchbayEngine
import PatchbaySpeech
import PatchbayVoiceAPI
import Synchronization

/// Streams and speech into a live leg, for the control API and the NCCOs it runs: fetched, decoded or
/// synthesised off the media path, then played by the engine in place of what plays there.
struct CallMedia: Sendable {
    let engine: Engine
    let streams: StreamPlayback
    let background: BackgroundTasks
    let logger: Logger

    /// Fetches and decodes a stream, then plays it into `leg` in place of any stream playing there.
    /// - Returns: the player's id.
    func startStream(_ stream: NCCOAction.Stream, on leg: Leg) async throws(APIError) -> UUID {
        do {
            return try await streams.play(stream.url, loop: stream.loop, level: Self.level(stream.level), replacing: .stream, on: leg.id)
        } catch .engine(.unknownLeg) {
            throw APIError.conflict("call \(leg.id.uuidString.lowercased()) ended")
        } catch {
            throw APIError.unprocessable("stream_url \(stream.url): \(error)")
        }
    }

    /// Starts a stream and waits up to `patience` for it: a fetch or decode that fails within that is the
    /// answer (an error); one still going then goes on in the background, and if it fails later the
    /// failure is logged and published as a `playFailed` event (a webhook), so a slow or unreachable server
    /// never holds the API's answer longer than `patience`.
    func startStream(_ stream: NCCOAction.Stream, on leg: Leg, patience: Duration) async throws(APIError) {
        let task = Task { await result(stream, on: leg) }
        let once = ResumeOnce<Result<UUID, APIError>?>()
        let early = await withCheckedContinuation { continuation in
            once.arm(continuation)
            Task {
                once.resume(with: await task.value)
            }
            Task {
                try? await Task.sleep(for: patience)
                once.resume(with: nil)
            }
        }
        switch early {
        case .success?: return
        case .failure(let error)?: throw error
        case nil:
            let engine = engine
            let logger = logger
            background.run {
                guard case .failure(let error) = await task.value else { return }
                logger.notice("stream failed after its request was answered", metadata: ["leg": "\(leg.id)", "error": "\(error.detail)"])
                engine.events.publish(
                    EngineEvent(
                        leg: leg.id, conversation: leg.conversationName, kind: .playFailed(kind: .stream, source: stream.url, reason: error.detail)))
            }
        }
    }

    private func result(_ stream: NCCOAction.Stream, on leg: Leg) async -> Result<UUID, APIError> {
        do {
            return .success(try await startStream(stream, on: leg))
        } catch {
            return .failure(error)
        }
    }

    /// Speaks `talk` into `leg` (synthesised off the media path, at the leg's rate), in place of any
    /// speech playing there.
    /// - Returns: the player's id.
    func speak(_ talk: NCCOAction.Talk, on leg: Leg) async throws(APIError) -> UUID {
        let samples: [Int16]
        do {
            let speech = try SpeechSynthesizer.shared.get()
            samples = try await speech.synthesize(talk.text, voice: talk.voice, outputRate: leg.sampleRate, level: Self.level(talk.level))
        } catch let error as SpeechError {
            logger.notice("talk not spoken", metadata: ["leg": "\(leg.id)", "error": "\(error)"])
            throw APIError.unprocessable("text could not be spoken: \(error)")
        } catch {
            throw APIError.unprocessable("text could not be spoken: \(error)")
        }
        do {
            try engine.stopPlayers(.talk, on: leg.id)
            return try engine.playClip(samples, loop: talk.loop, kind: .talk, on: leg.id)
        } catch {
            throw APIError.conflict("call \(leg.id.uuidString.lowercased()) ended")
        }
    }

    /// -1...1 (0 = unchanged) as the engine's gain; the readers have checked the range.
    static func level(_ value: Double) -> Level { (try? Level(value)) ?? .unity }

    /// What the NCCO reader needs of speech: the voice for a language and style.
    static func voice(language: String, style: Int) -> NCCORules.VoiceLookup {
        switch SpeechSynthesizer.shared {
        case .success(let speech):
            do {
                return .voice(try speech.voice(language: language, style: style))
            } catch .unsupportedStyle(_, let styles) {
                return .unsupportedStyle(styles: styles)
            } catch {
                return .unknownLanguage
            }
        case .failure(let error):
            return .unavailable(error.description)
        }
    }
}

/// Resumes a continuation with the first value given, once; later values are dropped.
final class ResumeOnce<Value: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Value, Never>?, done: Bool)>((nil, false))

    func arm(_ continuation: CheckedContinuation<Value, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func resume(with value: Value) {
        let continuation = state.withLock { s -> CheckedContinuation<Value, Never>? in
            guard !s.done, let c = s.continuation else { return nil }
            s.done = true
            s.continuation = nil
            return c
        }
        continuation?.resume(returning: value)
    }
}
