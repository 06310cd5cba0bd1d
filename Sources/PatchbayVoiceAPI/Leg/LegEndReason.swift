/// Why a leg ended: the one reason its "leg ended" event carries.
public enum LegEndReason: Sendable, Equatable, CustomStringConvertible {
    /// The peer closed the websocket, with this close code (1005 when its close frame had none).
    case peerClosed(code: UInt16)
    /// The connection went away without a close handshake (reset, TLS failure, process gone).
    case transportLost
    /// Patchbay closed the leg for breaking the protocol or a limit, with this close code.
    case policy(code: UInt16, reason: String)
    /// Patchbay closed the leg on request (a hang-up from the engine or the control API).
    case hungUp(reason: String)
    /// The server was shutting down and the drain deadline passed.
    case shutdown

    public var description: String {
        switch self {
        case .peerClosed(let code): "peer closed (\(code))"
        case .transportLost: "connection lost"
        case .policy(let code, let reason): "closed by policy (\(code)): \(reason)"
        case .hungUp(let reason): "hung up: \(reason)"
        case .shutdown: "server shutting down"
        }
    }
}
