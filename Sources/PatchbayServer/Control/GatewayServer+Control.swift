import Foundation
import PatchbayCodecs
import PatchbayEngine
import PatchbaySpeech
import Synchronization

/// What the control API asks of the gateway: audio and speech into a leg, and NCCOs run on it.
extension GatewayServer {
    /// Fetches and decodes a stream, then plays it into `leg` in place of any stream playing there.
    /// - Returns: the player's id.
    @discardableResult
    func startStream(_ stream: ControlAPI.Stream, on leg: Leg) async throws(APIError) -> UUID {
        do {
            let player = try await playStream(stream.url, loop: stream.loop, level: stream.level, replacing: .stream, on: leg.id)
            return player
        } catch .engine(.unknownLeg) {
            throw APIError.conflict("call \(leg.id.uuidString.lowercased()) ended")
        } catch {
            throw APIError.unprocessable("stream_url \(stream.url): \(error)")
        }
    }

    /// Starts a stream and waits up to `patience` for it: a fetch or decode that fails within that is
    /// the answer (an error); one still going then goes on in the background, and if it fails later the
    /// failure is logged and published as a `playFailed` event (a webhook), so a slow or unreachable
    /// server never holds the API's answer longer than `patience`.
    func startStream(_ stream: ControlAPI.Stream, on leg: Leg, patience: Duration) async throws(APIError) {
        let task = Task { await self.streamResult(stream, on: leg) }
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

    private func streamResult(_ stream: ControlAPI.Stream, on leg: Leg) async -> Result<UUID, APIError> {
        do {
            return .success(try await startStream(stream, on: leg))
        } catch {
            return .failure(error)
        }
    }

    /// Speaks `talk` into `leg` (synthesised off the media path, at the leg's rate), in place of any
    /// speech playing there.
    /// - Returns: the player's id.
    @discardableResult
    func startTalk(_ talk: ControlAPI.Talk, on leg: Leg) async throws(APIError) -> UUID {
        let samples: [Int16]
        do {
            let speech = try SpeechSynthesizer.shared.get()
            samples = try await speech.synthesize(talk.text, voice: talk.voice, outputRate: leg.sampleRate, level: talk.level)
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

    /// Runs an NCCO on a leg (`transfer`), in the background: the actions in order, `talk` and `stream`
    /// to their end before the next (a looping one forever), `conversation` moving the leg, `connect`
    /// dialling services into the leg's conversation. A transfer replaces the NCCO running on the leg.
    func run(_ ncco: [NCCOAction], on leg: Leg) async throws(APIError) {
        let id = leg.id
        let task = Task { [self] in
            for action in ncco {
                guard !Task.isCancelled, engine.leg(id) != nil else { return }
                do {
                    try await perform(action, on: leg)
                } catch {
                    logger.notice("NCCO action failed", metadata: ["leg": "\(id)", "error": "\(error)"])
                    return
                }
            }
        }
        nccoTasks.withLock { tasks in
            tasks[id]?.cancel()
            tasks[id] = task
        }
        background.run { [self] in
            await withTaskCancellationHandler {
                await task.value
            } onCancel: {
                task.cancel()
            }
            nccoTasks.withLock { tasks in
                if tasks[id] == task { tasks[id] = nil }
            }
        }
    }

    /// Dials `endpoint` as a new outbound leg of `application` (`POST /v1/calls`): it joins the NCCO's
    /// `conversation` (else one of its own), and the NCCO's other actions run once it answers. It is
    /// not redialled when it drops (the application dials again if it wants to).
    /// - Returns: the leg's UUID and its conversation's.
    func dial(
        _ endpoint: WebSocketEndpoint, ncco: [NCCOAction], application: String, from: String, headers: [String: String]
    ) -> (leg: UUID, conversation: UUID) {
        let id = UUID()
        var conversation = id.uuidString.lowercased()
        for case .conversation(let name) in ncco {
            conversation = name
            break
        }
        let rest = ncco.filter { if case .conversation = $0 { false } else { true } }
        var endpoint = endpoint
        endpoint.reconnect = false
        let anchor = DialledConversation(id: id, conversationName: conversation, headers: headers)
        let link = ServiceLink(
            endpoint: endpoint, caller: anchor, eventLoop: group.next(), dialing: dialing, application: application, from: from,
            legID: id)
        let events = engine.events.subscribe()
        links.withLock { $0[id] = [link] }
        link.start()
        let conversationUUID = records?.live(id)?.conversationUUID ?? UUID()
        background.run { [self] in
            // Until the leg has ended (or was never reached): its NCCO runs once it answers.
            for await event in events where event.leg == id {
                switch event.kind {
                case .legStarted:
                    if !rest.isEmpty, let leg = engine.leg(id) { try? await run(rest, on: leg) }
                    continue
                case .legEnded, .service(.gaveUp):
                    break
                default:
                    continue
                }
                break
            }
            anchor.hangUp(reason: "ended")
            _ = links.withLock { $0.removeValue(forKey: id) }
        }
        return (id, conversationUUID)
    }

    private func perform(_ action: NCCOAction, on leg: Leg) async throws {
        switch action {
        case .conversation(let name):
            let from = leg.conversationName
            guard from != name else { return }
            // The record first: the engine's `transferred` event (and its webhook) reads the new UUID.
            records?.moved(leg.id, from: from, to: name)
            try engine.move(leg.id, toConversation: name)
            logger.info("leg transferred", metadata: ["leg": "\(leg.id)", "from": "\(from)", "to": "\(name)"])
        case .talk(let talk):
            let events = engine.events.subscribe()
            try await waitForPlayer(try await startTalk(talk, on: leg), of: leg.id, in: events)
        case .stream(let stream):
            let events = engine.events.subscribe()
            try await waitForPlayer(try await startStream(stream, on: leg), of: leg.id, in: events)
        case .connect(let endpoints):
            connect(endpoints, for: leg)
        }
    }

    /// Returns once `player` has finished (or was stopped), or its leg ended.
    private func waitForPlayer(_ player: UUID, of leg: UUID, in events: AsyncStream<EngineEvent>) async throws {
        for await event in events {
            switch event.kind {
            case .playerFinished(let finished, _, _) where finished == player: return
            case .legEnded where event.leg == leg: return
            default: continue
            }
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
