import Synchronization

/// Fans engine events out to any number of subscribers (the control API, webhooks, tests).
///
/// Publishing takes a lock and may allocate: events are rare (a digit, a leg starting), so a shard may
/// publish from a tick; audio never goes through here.
public final class EventHub: Sendable {
    private struct State {
        var next = 0
        var subscribers: [Int: AsyncStream<EngineEvent>.Continuation] = [:]
    }

    private let state = Mutex(State())
    /// Events buffered per subscriber before the oldest are dropped (a slow subscriber never blocks).
    public let bufferLimit: Int

    public init(bufferLimit: Int = 1024) {
        self.bufferLimit = bufferLimit
    }

    /// A new stream of every event published from now on; it ends when the hub is finished.
    public func subscribe() -> AsyncStream<EngineEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: EngineEvent.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = state.withLock { state in
            defer { state.next += 1 }
            state.subscribers[state.next] = continuation
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public func publish(_ event: EngineEvent) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for s in subscribers { s.yield(event) }
    }

    /// Ends every subscriber's stream.
    public func finish() {
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for s in subscribers { s.finish() }
    }
}
