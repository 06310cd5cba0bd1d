/// The protocol life of one websocket audio leg, in either role, as a value: events go in, the action to
/// take comes out, and the I/O layer performs it. No sockets, no clock of its own (events carry the time,
/// in nanoseconds of a monotonic clock), so every transition is tested without a network.
///
/// ```
/// server role: awaitingConnected --websocket:connected--> streaming --close/lost/timeout--> ended
/// client role: dialling --upgraded--> streaming (it sends websocket:connected) --...--> ended
/// ```
/// A leg ends exactly once, on the first of: the peer's close, the connection's loss, a policy close
/// (bad input, a timeout), a hang-up, the drain deadline. Every later event is answered with `.none`.
/// The bad-input policy (README "Bad input") lives here: audio before `websocket:connected` closes 1008,
/// an unusable `websocket:connected` closes 1003, no `websocket:connected` in time closes 1008, silence
/// past the idle timeout closes 1001, a frame of the wrong size or over the message rate is dropped. In the
/// client role the peer is a service: its audio may come in messages of any length and faster than real
/// time (its playout buffer bounds it), and only its text messages count against the message rate.
public struct LegLifecycle: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        /// The peer connected to Patchbay and must send `websocket:connected` first (the Voice API).
        case server
        /// Patchbay dials the peer and sends `websocket:connected` itself at this rate (outbound legs).
        case client(rate: Int)
    }

    public struct Limits: Sendable, Equatable {
        /// For `websocket:connected` after the upgrade (server role); 0 = no limit.
        public var connectTimeoutNanoseconds: Int64
        /// With nothing received at all; 0 = no limit.
        public var idleTimeoutNanoseconds: Int64
        /// Between pings; 0 = none.
        public var pingIntervalNanoseconds: Int64
        /// Messages a second the peer may send (one second's worth may come at once).
        public var maxMessagesPerSecond: Int

        public init(
            connectTimeoutNanoseconds: Int64 = 10_000_000_000, idleTimeoutNanoseconds: Int64 = 30_000_000_000,
            pingIntervalNanoseconds: Int64 = 10_000_000_000, maxMessagesPerSecond: Int = 150
        ) {
            self.connectTimeoutNanoseconds = connectTimeoutNanoseconds
            self.idleTimeoutNanoseconds = idleTimeoutNanoseconds
            self.pingIntervalNanoseconds = pingIntervalNanoseconds
            self.maxMessagesPerSecond = maxMessagesPerSecond
        }
    }

    public enum State: Sendable, Equatable {
        /// Client role: the connection is being made.
        case dialling
        /// Server role: upgraded, waiting for the peer's `websocket:connected`.
        case awaitingConnected
        /// Audio flows at this rate; the leg is in the engine.
        case streaming(rate: Int)
        /// Over, for this reason.
        case ended(LegEndReason)
    }

    public enum Event: Sendable, Equatable {
        /// The websocket is up.
        case upgraded(at: Int64)
        /// The peer's `websocket:connected` named this usable rate (server role).
        case connected(rate: Int, at: Int64)
        /// The peer's `websocket:connected` had no usable rate, for this reason (server role).
        case unusableConnected(reason: String, at: Int64)
        /// A binary message of this many bytes.
        case audio(bytes: Int, at: Int64)
        /// Any other text message, valid or not.
        case text(at: Int64)
        /// A ping or pong (liveness only).
        case control(at: Int64)
        /// Housekeeping: timeouts and pings fall due.
        case timer(at: Int64)
        /// The transport failed the peer's input and has answered it itself (e.g. a message over the size
        /// limit: the websocket decoder sends 1009 and closes).
        case protocolError(code: UInt16, reason: String)
        /// The peer's close frame, with its code (nil when it had none).
        case peerClosed(code: UInt16?)
        /// A local hang-up: the engine or the control API ends the leg.
        case hangUp(reason: String)
        /// The server's drain deadline passed.
        case drainDeadline
        /// The connection is gone (closed by either side, or lost).
        case transportClosed
    }

    /// Why a message was dropped (counted and logged by the I/O layer).
    public enum Drop: Sendable, Equatable {
        /// A binary message that was not one 20 ms frame at the leg's rate.
        case wrongSize(bytes: Int, expected: Int)
        /// Over the per-leg message rate.
        case overRate
        /// A text message before `websocket:connected` that was not `websocket:connected`.
        case beforeConnected
        /// A second `websocket:connected`, or an unusable one while streaming.
        case repeatedConnected
    }

    public enum Action: Sendable, Equatable {
        /// Nothing to do.
        case none
        /// The leg starts streaming at this rate: attach it to the engine (client role: and send
        /// `websocket:connected` first).
        case start(rate: Int)
        /// The message is acceptable: hand the audio to the leg, or the text to its parser.
        case accept
        /// Drop the message: count it and log it.
        case drop(Drop)
        /// Send a ping.
        case ping
        /// Send a close frame with this code and reason, close the connection, and end the leg.
        case close(code: UInt16, reason: String, ended: LegEndReason, wasStreaming: Bool)
        /// End the leg (the connection is already closing or gone).
        case end(LegEndReason, wasStreaming: Bool)
    }

    public let role: Role
    public let limits: Limits
    public private(set) var state: State
    private var upgradedAt: Int64 = 0
    private var lastReceived: Int64 = 0
    private var lastPing: Int64 = 0
    /// Message-rate token bucket, in messages (a second's allowance in reserve).
    private var tokens: Double
    private var lastRefill: Int64 = 0

    public init(role: Role, limits: Limits = Limits()) {
        self.role = role
        self.limits = limits
        switch role {
        case .server: state = .awaitingConnected
        case .client: state = .dialling
        }
        tokens = Double(limits.maxMessagesPerSecond)
    }

    /// Audio flows (the leg is in the engine).
    public var isStreaming: Bool {
        if case .streaming = state { return true }
        return false
    }

    /// The leg is over.
    public var hasEnded: Bool {
        if case .ended = state { return true }
        return false
    }

    /// Bytes in one 20 ms frame at the streaming rate (0 before streaming).
    public var frameBytes: Int {
        if case .streaming(let rate) = state { return 2 * rate / 50 }
        return 0
    }

    public mutating func handle(_ event: Event) -> Action {
        if case .ended = state { return .none }
        switch event {
        case .upgraded(let now):
            upgradedAt = now
            lastReceived = now
            lastPing = now
            lastRefill = now
            if case .client(let rate) = role, state == .dialling {
                state = .streaming(rate: rate)
                return .start(rate: rate)
            }
            return .none

        case .connected(let rate, let now):
            received(at: now)
            guard takeToken(at: now) else { return .drop(.overRate) }
            guard state == .awaitingConnected else { return .drop(.repeatedConnected) }
            state = .streaming(rate: rate)
            return .start(rate: rate)

        case .unusableConnected(let reason, let now):
            received(at: now)
            guard takeToken(at: now) else { return .drop(.overRate) }
            guard state == .awaitingConnected else { return .drop(.repeatedConnected) }
            // Without a usable rate there is no leg to stream: say why and close.
            return end(closing: 1003, reason, as: .policy(code: 1003, reason: reason))

        case .audio(let bytes, let now):
            received(at: now)
            if case .client = role, isStreaming {
                // A service's audio: any length, as fast as it likes; the playout buffer re-frames it
                // and bounds it (what overflows there is dropped and counted).
                return bytes > 0 ? .accept : .drop(.wrongSize(bytes: 0, expected: frameBytes))
            }
            guard takeToken(at: now) else { return .drop(.overRate) }
            switch state {
            case .streaming:
                let expected = frameBytes
                return bytes == expected ? .accept : .drop(.wrongSize(bytes: bytes, expected: expected))
            case .awaitingConnected, .dialling:
                let reason = "binary audio before websocket:connected"
                return end(closing: 1008, reason, as: .policy(code: 1008, reason: reason))
            case .ended:
                return .none
            }

        case .text(let now):
            received(at: now)
            guard takeToken(at: now) else { return .drop(.overRate) }
            return isStreaming ? .accept : .drop(.beforeConnected)

        case .control(let now):
            received(at: now)
            return .none

        case .timer(let now):
            return timers(at: now)

        case .protocolError(let code, let reason):
            let wasStreaming = isStreaming
            state = .ended(.policy(code: code, reason: reason))
            return .end(.policy(code: code, reason: reason), wasStreaming: wasStreaming)

        case .peerClosed(let code):
            // Answer with the peer's code (RFC 6455 5.5.1), then close.
            let code = code ?? 1005
            return end(closing: code == 1005 ? 1000 : code, "", as: .peerClosed(code: code))

        case .hangUp(let reason):
            return end(closing: 1000, reason, as: .hungUp(reason: reason))

        case .drainDeadline:
            return end(closing: 1001, "server shutting down", as: .shutdown)

        case .transportClosed:
            let wasStreaming = isStreaming
            state = .ended(.transportLost)
            return .end(.transportLost, wasStreaming: wasStreaming)
        }
    }

    private mutating func received(at now: Int64) {
        lastReceived = max(lastReceived, now)
    }

    private mutating func end(closing code: UInt16, _ reason: String, as ended: LegEndReason) -> Action {
        let wasStreaming = isStreaming
        state = .ended(ended)
        return .close(code: code, reason: reason, ended: ended, wasStreaming: wasStreaming)
    }

    /// Takes a token from the message-rate bucket: false when there is none.
    private mutating func takeToken(at now: Int64) -> Bool {
        let rate = Double(limits.maxMessagesPerSecond)
        tokens = min(rate, tokens + Double(max(0, now - lastRefill)) / 1e9 * rate)
        lastRefill = max(lastRefill, now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    private mutating func timers(at now: Int64) -> Action {
        if state == .awaitingConnected, limits.connectTimeoutNanoseconds > 0, now - upgradedAt > limits.connectTimeoutNanoseconds {
            let reason = "no websocket:connected within \(Double(limits.connectTimeoutNanoseconds) / 1e9) s"
            return end(closing: 1008, reason, as: .policy(code: 1008, reason: reason))
        }
        if state == .dialling { return .none }
        if limits.idleTimeoutNanoseconds > 0, now - lastReceived > limits.idleTimeoutNanoseconds {
            let reason = "idle for \(Double(limits.idleTimeoutNanoseconds) / 1e9) s"
            return end(closing: 1001, reason, as: .policy(code: 1001, reason: reason))
        }
        if limits.pingIntervalNanoseconds > 0, now - lastPing >= limits.pingIntervalNanoseconds {
            lastPing = now
            return .ping
        }
        return .none
    }
}
