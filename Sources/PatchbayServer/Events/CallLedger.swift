import Foundation
import PatchbayConfiguration
import PatchbayEngine
import PatchbayRecords
import PatchbayVoiceAPI
import Synchronization

/// Keeps a call record for every leg, from its first moment to its end, in the gateway's `CallStore`:
/// what the control API lists and the webhooks describe. Called from the legs' event loops at each
/// change; the store writes in batches off that path.
///
/// A record's conversation is a UUID the conversation keeps while it has legs (a conversation that
/// empties and is used again later is a new one, as in the Voice API).
final class CallLedger: Sendable {
    private struct State {
        var live: [UUID: CallRecord] = [:]
        var conversations: [String: (uuid: UUID, legs: Int)] = [:]
        /// Legs being closed because their call could not go on (no NCCO): they end `failed`, with this.
        var failing: [UUID: String] = [:]
    }

    let store: any CallStore
    private let api: ServerConfiguration.API
    /// `ws://host:port` or `wss://...`: the base of the `to` of inbound legs (set once bound).
    private let baseURL = Mutex("ws://127.0.0.1")
    private let state = Mutex(State())

    /// Told of the outbound legs' `started` and of those that `failed` before they were answered (the
    /// events of attached legs come from the engine's events, in their order).
    let webhooks: EventWebhooks?

    init(store: any CallStore, api: ServerConfiguration.API, webhooks: EventWebhooks? = nil) {
        self.store = store
        self.api = api
        self.webhooks = webhooks
    }

    func setBase(_ base: String) { baseURL.withLock { $0 = base } }

    private var base: String { baseURL.withLock { $0 } }

    /// A caller's leg is streaming on `route` (it said `websocket:connected`): started and answered.
    func inboundAnswered(_ leg: Leg, route: ServerConfiguration.Route) {
        let to = Self.json(["type": "websocket", "uri": base + route.path, "content-type": "audio/l16;rate=\(leg.sampleRate)"])
        let start = Date()
        var record = CallRecord(
            uuid: leg.id, conversationUUID: join(leg.conversationName), conversationName: leg.conversationName,
            applicationID: api.application(of: route), direction: .inbound, to: to, from: Self.caller(leg.headers), startTime: start)
        record.status = .answered
        record.answerTime = start
        keep(record)
        webhooks?.track(record)
    }

    /// Patchbay starts dialling `endpoint` into `conversation`: the service's leg will be `id`.
    func outboundStarted(_ id: UUID, endpoint: WebSocketEndpoint, conversation: String, application: String?, from: String) {
        let to = Self.json(["type": "websocket", "uri": endpoint.uri, "content-type": endpoint.contentType])
        let record = CallRecord(
            uuid: id, conversationUUID: join(conversation), conversationName: conversation, applicationID: application,
            direction: .outbound, to: to, from: from, startTime: Date())
        keep(record)
        webhooks?.track(record)
        webhooks?.status("started", of: record, at: record.startTime)
    }

    /// The service answered: its leg `id` is streaming.
    func outboundAnswered(_ id: UUID) {
        update(id) { r in
            r.status = .answered
            r.answerTime = Date()
        }
    }

    /// The leg `id` is being closed because its call cannot go on (its NCCO could not be had): it ends
    /// `failed`, its `failed` event naming `reason`.
    func markFailed(_ id: UUID, reason: String) {
        state.withLock { $0.failing[id] = reason }
        webhooks?.markFailed(id, reason: reason)
    }

    /// The leg `id` has ended (answered: completed; never answered, or marked failed: failed).
    func ended(_ id: UUID, reason: String) {
        guard
            let record = state.withLock({ s -> CallRecord? in
                guard var r = s.live.removeValue(forKey: id) else { return nil }
                let failure = s.failing.removeValue(forKey: id)
                r.status = r.answerTime == nil || failure != nil ? .failed : .completed
                r.endTime = Date()
                r.endReason = failure ?? reason
                Self.leave(r.conversationName, in: &s)
                return r
            })
        else { return }
        store.save(record)
        if record.status == .failed, record.answerTime == nil {
            // Never answered, so never in the engine: its end is the ledger's to tell.
            webhooks?.forget(id)
            webhooks?.status("failed", of: record, at: record.endTime ?? Date(), detail: reason)
        }
    }

    /// The leg `id` was moved from conversation `from` to `to` (a transfer): it takes the new
    /// conversation's UUID.
    func moved(_ id: UUID, from: String, to: String) {
        guard
            let record = state.withLock({ s -> CallRecord? in
                guard var r = s.live[id], r.conversationName == from, from != to else { return nil }
                Self.leave(from, in: &s)
                let c = s.conversations[to] ?? (UUID(), 0)
                s.conversations[to] = (c.uuid, c.legs + 1)
                r.conversationName = to
                r.conversationUUID = c.uuid
                s.live[id] = r
                return r
            })
        else { return }
        store.save(record)
        webhooks?.track(record)
    }

    private static func leave(_ conversation: String, in s: inout State) {
        if let c = s.conversations[conversation], c.legs > 1 {
            s.conversations[conversation] = (c.uuid, c.legs - 1)
        } else {
            s.conversations[conversation] = nil
        }
    }

    /// The live record of leg `id` (nil once it has ended).
    func live(_ id: UUID) -> CallRecord? { state.withLock { $0.live[id] } }

    private func join(_ conversation: String) -> UUID {
        state.withLock { s in
            let c = s.conversations[conversation] ?? (UUID(), 0)
            s.conversations[conversation] = (c.uuid, c.legs + 1)
            return c.uuid
        }
    }

    private func keep(_ record: CallRecord) {
        state.withLock { $0.live[record.uuid] = record }
        store.save(record)
    }

    private func update(_ id: UUID, _ change: (inout CallRecord) -> Void) {
        guard
            let record = state.withLock({ s -> CallRecord? in
                guard var r = s.live[id] else { return nil }
                change(&r)
                s.live[id] = r
                return r
            })
        else { return }
        store.save(record)
    }

    /// The caller as an endpoint: the number its `websocket:connected` names (`from`), a SIP URI, or
    /// an unknown phone.
    static func caller(_ headers: [String: String]) -> String {
        guard let from = headers["from"], !from.isEmpty else { return json(["type": "phone", "number": "unknown"]) }
        if from.hasPrefix("sip:") || from.hasPrefix("sips:") { return json(["type": "sip", "uri": from]) }
        return json(["type": "phone", "number": from])
    }

    /// A recorded endpoint (a flat object of strings, as `json` writes them) as its fields.
    static func endpointFields(_ json: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
    }

    static func json(_ object: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
