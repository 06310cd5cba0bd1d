import Dispatch
import Foundation
import Logging
import PatchbayCodecs
import PatchbayEngine
import PatchbayRecords
import PatchbayVoiceAPI
import Synchronization

/// Every recording of the gateway: started by a leg's NCCO (`record`, `conversation` with `record: true`),
/// encoded off the shards on a few encoder queues, written under a temporary name and renamed when
/// complete, with a row in the records from start to end, a timeline beside it, and the record event.
///
/// The media path only copies frames into each track's ring (`RecordingTrack`); every 100 ms each
/// encoder queue drains its recordings into their files. A recording whose file cannot be written (a
/// full disk, a file size limit) fails alone: its file is removed, its row and event say why, and the
/// call goes on.
final class Recordings: Sendable {
    struct Settings: Sendable {
        /// Where the files live.
        var folder: String
        /// Recordings older than this are removed (nil: kept until deleted).
        var retentionSeconds: Double?
        /// Encoder queues (each drains its recordings every `drainInterval`).
        var encoders = min(4, max(1, ProcessInfo.processInfo.activeProcessorCount))
        var drainInterval: Duration = .milliseconds(100)
    }

    /// What to record, from the NCCO.
    struct Request: Sendable {
        var format: AudioFileWriter.Format
        var layout: Layout
        var timeOut: Double
        var endOnSilence: Double?
        var beepStart: Bool
        var eventTarget: NCCOAction.EventTarget?

        enum Layout: Sendable, Equatable {
            /// The leg and what it heard, mixed.
            case mono
            /// The leg on the first channel, what it heard on the second.
            case split
            /// The leg's conversation, a channel per leg (the leg first), `channels` in all.
            case perLeg(channels: Int)
            /// The whole conversation mixed, from now until its last leg leaves.
            case conversation
        }
    }

    /// One recording under way (touched on its encoder queue, but for the fields set at start).
    private final class Active: @unchecked Sendable {
        // @unchecked Sendable: `encoder`, `timeline`, `ending` are touched only on `queue`.
        let row: Mutex<RecordingRecord>
        let sink: RecordingSink
        let leg: UUID
        let conversation: String?
        let queue: DispatchQueue
        let encoder: RecordingEncoder
        let timelinePath: String
        let finalPath: String
        let onEnd: (@Sendable () -> Void)?
        var timeline: FileHandle?
        var stopRequested = false
        var finished = false

        init(
            row: RecordingRecord, sink: RecordingSink, leg: UUID, conversation: String?, queue: DispatchQueue, encoder: RecordingEncoder,
            timelinePath: String, finalPath: String, onEnd: (@Sendable () -> Void)?
        ) {
            self.row = Mutex(row)
            self.sink = sink
            self.leg = leg
            self.conversation = conversation
            self.queue = queue
            self.encoder = encoder
            self.timelinePath = timelinePath
            self.finalPath = finalPath
            self.onEnd = onEnd
        }
    }

    private struct State {
        var active: [UUID: Active] = [:]
        /// Conversation recordings by conversation name: one per conversation however many legs ask.
        var conversations: [String: UUID] = [:]
        var nextQueue = 0
    }

    let settings: Settings
    private let engine: Engine
    private let store: any RecordingStore
    private let ledger: CallLedger?
    private let webhooks: EventWebhooks?
    private let client: ApplicationClient
    private let applications: [String: (eventURL: String?, signer: ApplicationClient.Signer?)]
    private let background: BackgroundTasks
    private let logger: Logger
    private let queues: [DispatchQueue]
    private let timers: Mutex<[any DispatchSourceTimer]> = Mutex([])
    private let state = Mutex(State())
    private let publicBase = Mutex("http://127.0.0.1")
    private let events = Mutex<Task<Void, Never>?>(nil)
    /// Finished recordings whose row and event are being written: awaited by `shutdown`.
    private let settling = Mutex<[UUID: Task<Void, Never>]>([:])
    private let metrics: ServerMetrics

    init(
        settings: Settings, engine: Engine, store: any RecordingStore, ledger: CallLedger?, webhooks: EventWebhooks?,
        client: ApplicationClient, applications: [String: (eventURL: String?, signer: ApplicationClient.Signer?)],
        background: BackgroundTasks, metrics: ServerMetrics, logger: Logger
    ) {
        self.metrics = metrics
        self.settings = settings
        self.engine = engine
        self.store = store
        self.ledger = ledger
        self.webhooks = webhooks
        self.client = client
        self.applications = applications
        self.background = background
        self.logger = logger
        queues = (0..<settings.encoders).map { DispatchQueue(label: "patchbay.recording.\($0)") }
    }

    /// The base of every `recording_url`: `api.public_url`, else the API listener's own.
    func setPublicBase(_ base: String) {
        publicBase.withLock { $0 = base.hasSuffix("/") ? String(base.dropLast()) : base }
    }

    func url(of id: UUID) -> String {
        publicBase.withLock { $0 } + "/v1/files/" + id.uuidString.lowercased()
    }

    // MARK: Lifecycle

    /// Makes the folder, settles what a process that died left (`recover`), and starts the encoders'
    /// clocks, the timeline's event feed and the retention sweep.
    func start() async throws {
        try FileManager.default.createDirectory(atPath: settings.folder, withIntermediateDirectories: true)
        await recover()
        let interval = settings.drainInterval
        let (s, atto) = interval.components
        let nanos = Int(s) * 1_000_000_000 + Int(atto / 1_000_000_000)
        let queues = queues
        timers.withLock { timers in
            for queue in queues {
                let timer = DispatchSource.makeTimerSource(queue: queue)
                timer.schedule(deadline: .now() + .nanoseconds(nanos), repeating: .nanoseconds(nanos), leeway: .milliseconds(10))
                timer.setEventHandler { [weak self] in self?.drain(on: queue) }
                timer.resume()
                timers.append(timer)
            }
        }
        let subscription = engine.events.subscribe()
        let task = Task { [weak self] in
            var subscription = subscription
            while !Task.isCancelled {
                do {
                    for try await event in subscription { self?.timeline(event) }
                    return
                } catch {
                    guard let self else { return }
                    subscription = self.engine.events.subscribe()
                }
            }
        }
        events.withLock { $0 = task }
        if settings.retentionSeconds != nil {
            background.run { [weak self] in
                while !Task.isCancelled {
                    await self?.sweep()
                    try? await Task.sleep(for: .seconds(3600))
                }
            }
        }
    }

    /// Finishes every recording under way (the gateway is stopping): their files are complete and listed.
    func shutdown() async {
        events.withLock { $0?.cancel() }
        let all = state.withLock { Array($0.active.values) }
        for active in all { engine.stopRecording(active.sink, on: active.leg) }
        for active in all {
            let row = await withCheckedContinuation { (done: CheckedContinuation<RecordingRecord?, Never>) in
                active.queue.async { done.resume(returning: self.finish(active, final: true, settleLater: false)) }
            }
            if let row { await settle(row) }
        }
        for task in settling.withLock({ Array($0.values) }) { await task.value }
        timers.withLock { timers in
            for timer in timers { timer.cancel() }
            timers = []
        }
    }

    // MARK: Starting and stopping

    /// Starts recording `leg` as `request` asks. `onEnd` is called once it has ended (for a synchronous
    /// `record`). Returns the recording's file id, or nil when it could not start (logged; the NCCO goes on).
    @discardableResult
    func start(_ request: Request, on leg: Leg, application: String?, onEnd: (@Sendable () -> Void)? = nil) -> UUID? {
        let conversationName = leg.conversationName
        if request.layout == .conversation,
            let existing = state.withLock({ $0.conversations[conversationName] })
        {
            logger.debug("the conversation is already being recorded", metadata: ["conversation": "\(conversationName)"])
            return existing
        }
        let rate: Int
        switch request.layout {
        case .conversation, .perLeg:
            rate = engine.legs(inConversation: conversationName).map(\.sampleRate).max() ?? leg.sampleRate
        case .mono, .split:
            rate = leg.sampleRate
        }
        let id = UUID()
        let name = id.uuidString.lowercased()
        let finalPath = settings.folder + "/" + name + "." + request.format.fileExtension
        let partPath = finalPath + ".part"
        let layout: RecordingEncoder.Layout =
            switch request.layout {
            case .mono, .conversation: .mono
            case .split: .ownAndHeard
            case .perLeg(let n): .perLeg(channels: n, first: leg.id)
            }
        let sink = RecordingSink(id: id, origin: engine.now)
        let encoder: RecordingEncoder
        do {
            encoder = try RecordingEncoder(
                sink: sink, layout: layout, path: partPath, format: request.format, sampleRate: rate, limitSeconds: request.timeOut,
                endOnSilence: request.endOnSilence, silenceLeg: request.endOnSilence == nil ? nil : leg.id)
        } catch {
            logger.error("cannot start a recording", metadata: ["leg": "\(leg.id)", "error": "\(error)"])
            return nil
        }
        let record = ledger?.live(leg.id)
        var row = RecordingRecord(
            id: id, legUUID: leg.id, conversationUUID: record?.conversationUUID ?? UUID(), applicationID: application ?? record?.applicationID,
            format: request.format.rawValue, channels: layout.channels, sampleRate: rate, path: partPath, startTime: Date(),
            eventURL: request.eventTarget?.url, eventMethod: request.eventTarget?.method.rawValue)
        row.status = .recording
        let queue = state.withLock { s -> DispatchQueue in
            defer { s.nextQueue += 1 }
            return queues[s.nextQueue % queues.count]
        }
        let active = Active(
            row: row, sink: sink, leg: leg.id, conversation: request.layout == .conversation ? conversationName : nil, queue: queue,
            encoder: encoder, timelinePath: settings.folder + "/" + name + ".timeline.part", finalPath: finalPath, onEnd: onEnd)
        _ = FileManager.default.createFile(atPath: active.timelinePath, contents: nil)
        active.timeline = FileHandle(forWritingAtPath: active.timelinePath)
        let capture: RecordingCapture =
            switch request.layout {
            case .mono, .split: .leg(own: true, heard: true)
            case .perLeg: .company
            case .conversation: .conversation
            }
        let registered = state.withLock { s -> Bool in
            if let name = active.conversation {
                if s.conversations[name] != nil { return false }
                s.conversations[name] = id
            }
            s.active[id] = active
            return true
        }
        guard registered else {
            try? FileManager.default.removeItem(atPath: partPath)
            try? FileManager.default.removeItem(atPath: active.timelinePath)
            return state.withLock { $0.conversations[conversationName] }
        }
        let store = store
        let logger = logger
        let started = row
        background.run {
            do { try await store.saveRecording(started) } catch { logger.error("cannot save a recording's row", metadata: ["error": "\(error)"]) }
        }
        do {
            try engine.startRecording(sink, capture: capture, on: leg.id)
        } catch {
            logger.notice("the leg ended before its recording started", metadata: ["leg": "\(leg.id)"])
            active.queue.async {
                active.encoder.fail("the call ended before the recording started")
                active.stopRequested = true
            }
        }
        mark(id, type: "record_started", fields: ["format": .string(request.format.rawValue), "channels": .number(Double(layout.channels))])
        if request.beepStart {
            _ = try? engine.playClip(Self.beep(rate: leg.sampleRate), kind: .stream, on: leg.id)
            mark(id, type: "beep", fields: [:])
        }
        metrics.recordingsStarted.increment()
        logger.info(
            "recording",
            metadata: ["leg": "\(leg.id)", "recording": "\(name)", "format": "\(request.format.rawValue)", "channels": "\(layout.channels)"])
        return id
    }

    /// Ends a recording now (`endOnKey`, or the NCCO moved on): what its tracks hold is written first.
    func stop(_ id: UUID, reason: String) {
        guard let active = state.withLock({ $0.active[id] }) else { return }
        mark(id, type: "record_stopped", fields: ["reason": .string(reason)])
        engine.stopRecording(active.sink, on: active.leg)
        active.queue.async { active.stopRequested = true }
    }

    /// The recordings of `leg` under way now.
    func active(onLeg leg: UUID) -> [UUID] {
        state.withLock { s in s.active.values.filter { $0.leg == leg }.map { $0.row.withLock { $0.id } } }
    }

    // MARK: Timeline

    /// Notes something at this moment on every recording of the leg (and of its conversation).
    func mark(leg: UUID, type: String, fields: [String: JSONValue] = [:]) {
        let conversation = engine.leg(leg)?.conversationName
        let ids = state.withLock { s in
            s.active.values.filter { $0.leg == leg || ($0.conversation != nil && $0.conversation == conversation) }
                .map { $0.row.withLock { $0.id } }
        }
        var f = fields
        f["leg"] = .string(leg.uuidString.lowercased())
        for id in ids { mark(id, type: type, fields: f) }
    }

    /// `onQueue`: called on the recording's encoder queue (written at once, before the file may close).
    private func mark(_ id: UUID, type: String, fields: [String: JSONValue], at time: Int64? = nil, onQueue: Bool = false) {
        guard let active = state.withLock({ $0.active[id] }) else { return }
        let t = time ?? engine.now
        let offsetSeconds = max(0, Double(t - active.sink.origin) / 1e9)
        let rate = active.encoder.sampleRate
        var entry = fields
        entry["type"] = .string(type)
        entry["time"] = .number((offsetSeconds * 1000).rounded() / 1000)
        entry["offset"] = .number((offsetSeconds * Double(rate)).rounded())
        let line = JSONValue.object(entry)
        if onQueue {
            append(line, to: active)
        } else {
            active.queue.async { [self] in append(line, to: active) }
        }
    }

    /// On the recording's queue: one line of its timeline. A timeline that cannot be written (a full
    /// disk) is given up, logged once; the recording itself goes on.
    private func append(_ line: JSONValue, to active: Active) {
        guard let handle = active.timeline, let data = try? JSONEncoder().encode(line) else { return }
        do {
            try handle.write(contentsOf: data + Data([0x0a]))
        } catch {
            try? handle.close()
            active.timeline = nil
            logger.error(
                "cannot write a recording's timeline: it stops here",
                metadata: ["recording": "\(active.row.withLock { $0.id })", "error": "\(error)"])
        }
    }

    private func timeline(_ event: EngineEvent) {
        let now = engine.now
        switch event.kind {
        case .dtmf(let digit, let duration, _, let detected):
            // The press began `duration` before it was reported.
            markAll(
                leg: event.leg, conversation: event.conversation, type: "dtmf",
                fields: ["digit": .string(String(digit)), "duration_ms": .number(Double(duration)), "source": .string(detected ? "audio" : "peer")],
                at: now - Int64(duration) * 1_000_000)
        case .playerFinished(_, let kind, let stopped):
            markAll(
                leg: event.leg, conversation: event.conversation, type: stopped ? "\(kind.rawValue)_stopped" : "\(kind.rawValue)_finished",
                fields: [:], at: now)
        case .cleared:
            markAll(leg: event.leg, conversation: event.conversation, type: "cleared", fields: [:], at: now)
        case .notify(let payload):
            markAll(leg: event.leg, conversation: event.conversation, type: "notify", fields: ["payload": .string(payload)], at: now)
        case .service(.connected(let uri, _, let leg)):
            markAll(
                leg: event.leg, conversation: event.conversation, type: "service_connected",
                fields: ["uri": .string(uri), "service_leg": .string(leg.uuidString.lowercased())], at: now)
        case .service(.closed(let uri, _, let reason)), .service(.gaveUp(let uri, let reason, _)):
            markAll(
                leg: event.leg, conversation: event.conversation, type: "service_dropped", fields: ["uri": .string(uri), "reason": .string(reason)],
                at: now)
        case .legStarted:
            markAll(leg: event.leg, conversation: event.conversation, type: "leg_joined", fields: [:], at: now)
        case .transferred(let from):
            markAll(leg: event.leg, conversation: event.conversation, type: "leg_joined", fields: ["from": .string(from)], at: now)
        case .legEnded(_, let reason):
            markAll(leg: event.leg, conversation: event.conversation, type: "leg_ended", fields: ["reason": .string("\(reason)")], at: now)
            // A leg's recordings end with its call; a conversation's go on until its last leg has left.
            let ended = state.withLock { s in
                s.active.values.filter { $0.leg == event.leg && $0.conversation == nil }.map { $0.row.withLock { $0.id } }
            }
            for id in ended { stop(id, reason: "the call ended") }
        default:
            break
        }
    }

    private func markAll(leg: UUID, conversation: String, type: String, fields: [String: JSONValue], at time: Int64) {
        let ids = state.withLock { s in
            s.active.values.filter { $0.leg == leg || $0.conversation == conversation }.map { $0.row.withLock { $0.id } }
        }
        var f = fields
        f["leg"] = .string(leg.uuidString.lowercased())
        for id in ids { mark(id, type: type, fields: f, at: time) }
    }

    // MARK: Encoding

    private func drain(on queue: DispatchQueue) {
        let mine = state.withLock { s in s.active.values.filter { $0.queue === queue } }
        let now = engine.now
        for active in mine where !active.finished {
            if let end = active.encoder.drain(now: now, final: active.stopRequested) {
                // The engine lets go of the tracks (a failed recording's too, or the shards would go on
                // copying into rings nobody drains).
                if end != .sourceEnded { engine.stopRecording(active.sink, on: active.leg) }
                if end == .timeOut || end == .silence {
                    mark(
                        active.row.withLock { $0.id }, type: "record_stopped",
                        fields: ["reason": .string(end == .timeOut ? "timeOut" : "endOnSilence")], onQueue: true)
                }
                finish(active, final: false)
            }
        }
    }

    /// On the recording's queue: closes the file and settles the row, the timeline and the event.
    @discardableResult
    private func finish(_ active: Active, final: Bool, settleLater: Bool = true) -> RecordingRecord? {
        guard !active.finished else { return nil }
        if final { _ = active.encoder.drain(now: engine.now, final: true) }
        active.finished = true
        let closeError = active.encoder.close()
        try? active.timeline?.close()
        active.timeline = nil
        let lostFrames = active.encoder.framesLost
        if lostFrames > 0 { metrics.recordingFramesLost.increment(by: lostFrames) }
        var row = active.row.withLock { $0 }
        row.endTime = Date()
        row.lostMilliseconds = lostFrames * 20
        let fm = FileManager.default
        if let failure = active.encoder.failure ?? closeError {
            row.status = .failed
            row.error = failure
            try? fm.removeItem(atPath: row.path)
            try? fm.removeItem(atPath: active.timelinePath)
            metrics.recordingsFailed.increment()
            logger.error("a recording failed: its file is removed; the call goes on", metadata: ["recording": "\(row.id)", "error": "\(failure)"])
        } else {
            do {
                try fm.moveItem(atPath: row.path, toPath: active.finalPath)
                row.path = active.finalPath
                row.size = (try? fm.attributesOfItem(atPath: row.path)[.size] as? Int) ?? nil
                row.status = .completed
                metrics.recordingsCompleted.increment()
                metrics.recordingBytesWritten.increment(by: row.size ?? 0)
                if lostFrames > 0 { row.error = "\(lostFrames * 20) ms of audio lost (the encoder fell behind): silence in its place" }
                Self.writeTimeline(from: active.timelinePath, for: row)
            } catch {
                row.status = .failed
                row.error = "cannot rename the finished file: \(error)"
                try? fm.removeItem(atPath: row.path)
            }
        }
        active.row.withLock { $0 = row }
        state.withLock { s in
            s.active[row.id] = nil
            if let name = active.conversation, s.conversations[name] == row.id { s.conversations[name] = nil }
        }
        let finished = row
        if settleLater {
            // Not a background task: those are cancelled at shutdown, and a row must not be left half-written.
            settling.withLock { tasks in
                tasks[finished.id] = Task { [self] in
                    await self.settle(finished)
                    _ = self.settling.withLock { $0.removeValue(forKey: finished.id) }
                }
            }
        }
        active.onEnd?()
        return finished
    }

    /// Writes a finished recording's row, then sends its event (awaited: `shutdown` waits for it).
    private func settle(_ row: RecordingRecord) async {
        do {
            try await store.saveRecording(row)
        } catch {
            logger.error("cannot save a recording's row", metadata: ["recording": "\(row.id)", "error": "\(error)"])
        }
        await sendEvent(row)
    }

    /// The timeline's lines (JSON objects) as one document beside the recording.
    private static func writeTimeline(from partPath: String, for row: RecordingRecord) {
        let lines = (try? String(contentsOfFile: partPath, encoding: .utf8)) ?? ""
        var entries: [JSONValue] = []
        for line in lines.split(separator: "\n") {
            if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)) { entries.append(value) }
        }
        let document = JSONValue.object([
            "recording_uuid": .string(row.recordingUUID.uuidString.lowercased()), "sample_rate": .number(Double(row.sampleRate)),
            "channels": .number(Double(row.channels)), "start_time": .string(VoiceAPITime.format(row.startTime)), "events": .array(entries),
        ])
        if let data = try? JSONEncoder().encode(document) {
            FileManager.default.createFile(atPath: timelinePath(of: row), contents: data)
        }
        try? FileManager.default.removeItem(atPath: partPath)
    }

    static func timelinePath(of row: RecordingRecord) -> String {
        URL(fileURLWithPath: row.path).deletingLastPathComponent().path + "/" + row.id.uuidString.lowercased() + ".timeline.json"
    }

    // MARK: The record event

    /// The Voice API's record event, to the record's `eventUrl` (returning when it has been answered or
    /// given up) or the application's event URL (queued with the other webhooks, which a drain flushes).
    private func sendEvent(_ row: RecordingRecord) async {
        var fields: [String: JSONValue] = [
            "start_time": .string(VoiceAPITime.format(row.startTime)),
            "end_time": .string(VoiceAPITime.format(row.endTime ?? Date())),
            "recording_uuid": .string(row.recordingUUID.uuidString.lowercased()),
            "conversation_uuid": .string("CON-" + row.conversationUUID.uuidString.lowercased()),
            "uuid": .string(row.legUUID.uuidString.lowercased()),
            "timestamp": .string(VoiceAPITime.format(Date())),
        ]
        if row.status == .completed {
            fields["recording_url"] = .string(url(of: row.id))
            fields["size"] = .number(Double(row.size ?? 0))
        } else {
            fields["status"] = .string("failed")
        }
        if let error = row.error { fields["error"] = .string(error) }
        if row.lostMilliseconds > 0 { fields["lost_ms"] = .number(Double(row.lostMilliseconds)) }
        let app = row.applicationID.flatMap { applications[$0] }
        if let url = row.eventURL {
            let target = NCCOAction.EventTarget(url: url, method: NCCOAction.EventTarget.Method(rawValue: row.eventMethod ?? "POST") ?? .post)
            _ = await client.event(fields, to: target, timeout: .seconds(10), signer: app?.signer) { _ in .success([]) }
        } else if let webhooks {
            var object: [String: Any] = [:]
            for (key, value) in fields where key != "timestamp" { object[key] = value.foundationObject }
            webhooks.send(application: row.applicationID, call: row.legUUID, timestamp: Date(), object)
        }
    }

    // MARK: After a restart

    /// Rows a process that died left `recording`: a temporary file that decodes becomes the recording
    /// (its row says it was finished at the restart); one that does not is removed and the row failed.
    func recover() async {
        guard let left = try? await store.recordings(status: .recording), !left.isEmpty else { return }
        let fm = FileManager.default
        for var row in left {
            let finalPath = row.path.hasSuffix(".part") ? String(row.path.dropLast(5)) : row.path
            let timelinePart =
                URL(fileURLWithPath: finalPath).deletingLastPathComponent().path + "/" + row.id.uuidString.lowercased()
                + ".timeline.part"
            let frames = AudioFileWriter.readable(atPath: row.path)?.frames ?? 0
            if !fm.fileExists(atPath: row.path), fm.fileExists(atPath: finalPath), (AudioFileWriter.readable(atPath: finalPath)?.frames ?? 0) > 0 {
                // It was complete and renamed; the process died before its row said so.
                row.path = finalPath
                row.status = .completed
                row.size = (try? fm.attributesOfItem(atPath: finalPath)[.size] as? Int) ?? nil
                if !fm.fileExists(atPath: Self.timelinePath(of: row)) { Self.writeTimeline(from: timelinePart, for: row) }
            } else if fm.fileExists(atPath: row.path), frames > 0 {
                do {
                    try fm.moveItem(atPath: row.path, toPath: finalPath)
                    row.path = finalPath
                    row.status = .completed
                    row.size = (try? fm.attributesOfItem(atPath: finalPath)[.size] as? Int) ?? nil
                    row.error = "finished at the next start: the gateway stopped while recording"
                    Self.writeTimeline(from: timelinePart, for: row)
                } catch {
                    row.status = .failed
                    row.error = "the gateway stopped while recording, and the file could not be kept: \(error)"
                }
            } else {
                try? fm.removeItem(atPath: row.path)
                try? fm.removeItem(atPath: timelinePart)
                row.status = .failed
                row.error = "the gateway stopped while recording: nothing playable was written"
            }
            if row.endTime == nil {
                let modified = (try? fm.attributesOfItem(atPath: row.path)[.modificationDate] as? Date) ?? nil
                row.endTime = modified ?? Date()
            }
            do {
                try await store.saveRecording(row)
                logger.notice(
                    "settled a recording a previous process left", metadata: ["recording": "\(row.id)", "status": "\(row.status.rawValue)"])
                let settled = row
                background.run { [self] in await sendEvent(settled) }
            } catch {
                logger.error("cannot settle a recording's row", metadata: ["recording": "\(row.id)", "error": "\(error)"])
            }
        }
    }

    /// A recording's row.
    func row(_ id: UUID) async throws -> RecordingRecord? { try await store.recording(id) }

    /// A leg's recordings.
    func rows(ofLeg leg: UUID) async throws -> [RecordingRecord] { try await store.recordings(ofLeg: leg) }

    // MARK: Retention

    private func sweep() async {
        guard let seconds = settings.retentionSeconds else { return }
        let cutoff = Date().addingTimeInterval(-seconds)
        while !Task.isCancelled, let old = try? await store.recordings(endedBefore: cutoff, limit: 100), !old.isEmpty {
            var deleted = 0
            for row in old where await delete(row) { deleted += 1 }
            // Rows that cannot be deleted now (the database refuses) wait for the next sweep.
            if deleted < old.count { return }
        }
    }

    /// Removes a recording's file, timeline and row; false when the row could not be deleted.
    @discardableResult
    func delete(_ row: RecordingRecord) async -> Bool {
        try? FileManager.default.removeItem(atPath: row.path)
        try? FileManager.default.removeItem(atPath: Self.timelinePath(of: row))
        do {
            try await store.deleteRecording(row.id)
            return true
        } catch {
            logger.error("cannot delete a recording's row", metadata: ["recording": "\(row.id)", "error": "\(error)"])
            return false
        }
    }

    // MARK: The beep

    /// `beepStart`: 400 ms of 1 kHz at −12 dBFS, with 5 ms ramps.
    static func beep(rate: Int) -> [Int16] {
        let n = rate * 2 / 5
        let ramp = rate / 200
        return (0..<n).map { i in
            let envelope = min(1, Double(min(i, n - 1 - i)) / Double(ramp))
            return Int16(8231 * envelope * sin(2 * .pi * 1000 * Double(i) / Double(rate)))
        }
    }
}

extension AudioFileWriter.Format {
    init(_ format: NCCOAction.Record.Format) {
        switch format {
        case .mp3: self = .mp3
        case .wav: self = .wav
        case .ogg: self = .ogg
        }
    }
}
