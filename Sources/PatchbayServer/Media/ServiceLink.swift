import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
import PatchbayAuth
import PatchbayEngine
import PatchbayVoiceAPI
import PatchbayWebSocketClient
import Synchronization

/// One speech or AI service dialled for one caller, in the Voice API's role.
///
/// It dials (TCP, TLS for `wss://`, the websocket upgrade with the endpoint's `Authorization`), hands the
/// websocket to a `LegChannelHandler` in the client role — whose `ServiceLeg` sends the dialect's first
/// message, joins the caller's conversation and plays what the service sends — and, when an attempt
/// fails, tries again with exponential backoff and jitter until the endpoint's `retry_deadline`. When the
/// service drops the connection mid-call it dials again (`reconnect`); when there is nothing more to try, `on_failure`
/// applies: the caller stays (`continue`) or is hung up (`hangup`). Every attempt, failure and close is
/// an event on the caller's leg and a metric. A service that is down never holds a media tick: all of
/// this runs on the caller's event loop, and the engine only ever sees a leg that is streaming.
final class ServiceLink: @unchecked Sendable {
    // @unchecked Sendable: the mutable state is touched only on `eventLoop`.
    let endpoint: WebSocketEndpoint
    let caller: any ServiceAnchor
    let rate: Int
    /// The record's application and `from` (the caller's).
    private let application: String?
    private let from: String
    let eventLoop: any EventLoop
    private let dialing: ServiceDialing
    private var logger: Logger

    private var attempt = 0
    /// Connections that reached streaming (a second one is a reconnect).
    private var connections = 0
    private var windowStart = NIODeadline.now()
    private var channel: (any Channel)?
    private var timeout: Scheduled<Void>?
    private var retry: Scheduled<Void>?
    private var stopped = false
    private var handler: NIOLoopBound<LegChannelHandler>?
    /// The leg (and call record) the current series of attempts is for: a reconnect is a new leg.
    private(set) var legID: UUID

    /// - Parameters:
    ///   - application: the application the service's legs belong to (nil: the caller's).
    ///   - from: the record's `from` (nil: the caller's, from its headers).
    init(
        endpoint: WebSocketEndpoint, caller: any ServiceAnchor, eventLoop: any EventLoop, dialing: ServiceDialing,
        application: String? = nil, from: String? = nil, legID: UUID = UUID()
    ) {
        self.endpoint = endpoint
        self.caller = caller
        self.application = application ?? dialing.records?.live(caller.id)?.applicationID
        self.from = from ?? CallLedger.caller(caller.headers)
        self.legID = legID
        rate = endpoint.sampleRate ?? 16000
        self.eventLoop = eventLoop
        self.dialing = dialing
        var logger = dialing.logger
        logger[metadataKey: "caller"] = "\(caller.id.uuidString.lowercased())"
        logger[metadataKey: "service"] = "\(endpoint.uri)"
        self.logger = logger
    }

    /// Starts dialling (on the caller's event loop); the service's leg is recorded as `started` now.
    func start() {
        dialing.records?.outboundStarted(
            legID, endpoint: endpoint, conversation: caller.conversationName, application: application, from: from)
        eventLoop.execute { [self] in
            windowStart = .now()
            dial()
        }
    }

    /// The caller has gone: no more attempts, and the service's leg is closed (1000).
    func stop(reason: String) {
        eventLoop.execute { [self] in
            guard !stopped else { return }
            stopped = true
            retry?.cancel()
            timeout?.cancel()
            if let handler {
                handler.value.hangUp(reason: reason)  // its end is recorded as it ends
            } else {
                channel?.close(promise: nil)
                dialing.records?.ended(legID, reason: reason)
            }
        }
    }

    // MARK: Dialling

    private func publish(_ event: EngineEvent.ServiceEvent) {
        dialing.engine.events.publish(EngineEvent(leg: caller.id, conversation: caller.conversationName, kind: .service(event)))
    }

    private func dial() {
        guard !stopped, caller.isLive, !dialing.draining.isSet else { return }
        attempt += 1
        let attempt = attempt
        if attempt == 1, connections > 0 {
            // A reconnect: its new leg's record starts here.
            dialing.records?.outboundStarted(
                legID, endpoint: endpoint, conversation: caller.conversationName, application: application, from: from)
        }
        let started = NIODeadline.now()
        publish(.attempt(uri: endpoint.uri, attempt: attempt))
        dialing.metrics.serviceAttempts.increment()
        guard let url = URLComponents(string: endpoint.uri), let host = url.host else { return }
        let secure = url.scheme?.lowercased() == "wss"
        let port = url.port ?? (secure ? 443 : 80)
        let path = (url.percentEncodedPath.isEmpty ? "/" : url.percentEncodedPath) + (url.percentEncodedQuery.map { "?" + $0 } ?? "")
        let tls: NIOSSLContext?
        do {
            tls = secure ? try dialing.tlsContext(for: endpoint) : nil
        } catch {
            failed(attempt, reason: "TLS configuration: \(error)", retryable: false)
            return
        }
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        let upgraded = eventLoop.makePromise(of: Void.self)
        let headers = upgradeHeaders()
        let limits = dialing.limits
        let link = self
        let timeoutAmount = TimeAmount.nanoseconds(Int64(endpoint.connectTimeout * 1e9))
        timeout = eventLoop.scheduleTask(in: timeoutAmount) { [self] in
            upgraded.fail(ServiceLinkError.timedOut(endpoint.connectTimeout))
            channel?.close(promise: nil)
        }
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeoutAmount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                WebSocketClient.configure(
                    channel, tls: tls, serverHostname: isAddress ? nil : host, maxFrameSize: limits.maxServiceMessageBytes,
                    upgraded: upgraded
                ) { pipeline in
                    try pipeline.addHandler(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1024,
                            maxAccumulatedFrameSize: limits.maxServiceMessageBytes))
                    try pipeline.addHandler(LegChannelHandler(setup: link.handlerSetup()))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    self.channel = channel
                    guard !stopped else {
                        channel.close(promise: nil)
                        return
                    }
                    WebSocketClient.requestUpgrade(on: channel, host: host, port: port, path: path, headers: headers)
                        .cascadeFailure(to: upgraded)
                case .failure(let error):
                    upgraded.fail(error)
                }
            }
        upgraded.futureResult.whenComplete { [self] result in
            timeout?.cancel()
            switch result {
            case .success:
                let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
                dialing.metrics.serviceConnectTime.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
                logger.info("service connected", metadata: ["attempt": "\(attempt)", "seconds": "\(seconds)"])
            case .failure(let error):
                channel?.close(promise: nil)
                channel = nil
                let retryable: Bool
                if case WebSocketClientError.refused(let status) = error {
                    retryable = status >= 500 || status == 429 || status == 408
                } else {
                    retryable = true
                }
                failed(attempt, reason: Self.describe(error), retryable: retryable)
            }
        }
    }

    /// The upgrade's extra headers: the endpoint's `Authorization`.
    private func upgradeHeaders() -> [(String, String)] {
        switch endpoint.authorization?.type {
        case .custom?:
            return [("authorization", endpoint.authorization?.value ?? "")]
        case .vonage?:
            guard let secret = dialing.jwtSecret else { return [] }
            let claims: [String: Any] = [
                "iat": Int(Date().timeIntervalSince1970), "jti": UUID().uuidString.lowercased(), "iss": "patchbay",
            ]
            return [("authorization", "Bearer " + HS256JWT.sign(claims: claims, secret: secret))]
        case nil:
            return []
        }
    }

    /// An attempt failed: retry within the deadline (backoff 250 ms doubling to 5 s, ±50 % jitter), or give up.
    private func failed(_ attempt: Int, reason: String, retryable: Bool) {
        dialing.metrics.serviceAttemptsFailed.increment()
        let elapsed = Double((NIODeadline.now() - windowStart).nanoseconds) / 1e9
        let backoff = min(5, 0.25 * pow(2, Double(min(attempt - 1, 10)))) * Double.random(in: 0.5...1.5)
        let retryIn: Double? = retryable && !stopped && elapsed + backoff <= endpoint.retryDeadline ? backoff : nil
        publish(.attemptFailed(uri: endpoint.uri, attempt: attempt, reason: reason, retryIn: retryIn))
        logger.warning(
            "service attempt failed",
            metadata: ["attempt": "\(attempt)", "reason": "\(reason)", "retry_in": "\(retryIn.map { "\($0)" } ?? "none")"])
        guard !stopped else { return }
        guard let retryIn else {
            giveUp(reason: reason)
            return
        }
        retry = eventLoop.scheduleTask(in: .nanoseconds(Int64(retryIn * 1e9))) { [self] in dial() }
    }

    private func giveUp(reason: String) {
        guard !stopped, caller.isLive else { return }
        stopped = true
        dialing.metrics.serviceGaveUp.increment()
        dialing.records?.ended(legID, reason: "unreachable: \(reason)")
        let hangUp = endpoint.onFailure == .hangup
        publish(.gaveUp(uri: endpoint.uri, reason: reason, hungUp: hangUp))
        logger.error("service unreachable", metadata: ["reason": "\(reason)", "on_failure": "\(endpoint.onFailure.rawValue)"])
        if hangUp { caller.hangUp(reason: "service \(endpoint.uri) unreachable") }
    }

    private static func describe(_ error: any Error) -> String {
        if let e = error as? ServiceLinkError { return e.description }
        if let e = error as? WebSocketClientError { return e.description }
        if let e = error as? NIOSSLError { return "TLS: \(e)" }
        if let e = error as? BoringSSLError { return "TLS: \(e)" }
        if error is ChannelError, case ChannelError.connectTimeout = error { return "connect timed out" }
        return "\(error)"
    }

    // MARK: The service's leg

    private func handlerSetup() -> LegChannelHandler.Setup {
        LegChannelHandler.Setup(
            engine: dialing.engine, limits: dialing.limits, metrics: dialing.metrics,
            outbound: dialing.outbound(eventLoop), logger: logger, peer: .service(self))
    }

    /// The service's leg is streaming (called by its handler, on the event loop).
    func serviceStarted(_ leg: Leg, handler: LegChannelHandler) {
        self.handler = NIOLoopBound(handler, eventLoop: eventLoop)
        connections += 1
        if connections > 1 { dialing.metrics.serviceReconnects.increment() }
        dialing.records?.outboundAnswered(leg.id)
        publish(.connected(uri: endpoint.uri, attempt: attempt, leg: leg.id))
    }

    /// The service's leg has ended (called by its handler, on the event loop): dial again after a drop,
    /// or apply `on_failure`.
    func serviceEnded(_ reason: LegEndReason) {
        handler = nil
        channel = nil
        let code: UInt16? =
            switch reason {
            case .peerClosed(let code), .policy(let code, _): code
            case .hungUp: 1000
            case .shutdown: 1001
            case .transportLost: nil
            }
        dialing.metrics.serviceCloses(code: code).increment()
        dialing.records?.ended(legID, reason: reason.description)
        legID = UUID()  // a reconnect is a new leg
        publish(.closed(uri: endpoint.uri, code: code, reason: reason.description))
        switch reason {
        case .hungUp, .shutdown:
            return  // Patchbay closed it: the caller is going, or the gateway is
        case .peerClosed(1000):
            // The service ended the session itself: no reconnect; the caller goes too if it must.
            guard !stopped, caller.isLive else { return }
            stopped = true
            if endpoint.onFailure == .hangup { caller.hangUp(reason: "service \(endpoint.uri) closed the session") }
        case .peerClosed, .transportLost, .policy:
            guard !stopped, caller.isLive else { return }
            guard endpoint.reconnect else {
                giveUp(reason: reason.description)
                return
            }
            logger.notice("service dropped, reconnecting", metadata: ["reason": "\(reason)"])
            attempt = 0
            windowStart = .now()
            dial()
        }
    }
}

enum ServiceLinkError: Error, CustomStringConvertible {
    case timedOut(Double)

    var description: String {
        switch self {
        case .timedOut(let seconds): "no websocket within the connect timeout (\(seconds) s)"
        }
    }
}
