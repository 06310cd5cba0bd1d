import NIOCore
import NIOWebSocket
import PatchbayEngine

/// The legs one event loop writes for, and the waker the media shards use to tell it frames are ready.
///
/// Touched only on its event loop, except `waker`, which shards signal from their queues.
final class LoopOutbound: @unchecked Sendable {
    // @unchecked Sendable: `handlers` is read and written only on `eventLoop` (checked with
    // preconditionInEventLoop); `waker` is Sendable itself.
    let eventLoop: any EventLoop
    private(set) var waker: OutboundWaker!
    private var handlers: [ObjectIdentifier: LegHandler] = [:]

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        waker = OutboundWaker { [unowned self] in
            // One task per tick per event loop, however many legs it holds.
            self.eventLoop.execute { self.drain() }
        }
    }

    func register(_ handler: LegHandler) {
        eventLoop.preconditionInEventLoop()
        handlers[ObjectIdentifier(handler)] = handler
    }

    func unregister(_ handler: LegHandler) {
        eventLoop.preconditionInEventLoop()
        handlers[ObjectIdentifier(handler)] = nil
    }

    /// Closes every websocket on this loop with 1001 (the drain deadline has passed).
    func closeAll() {
        eventLoop.execute { [self] in
            for handler in Array(handlers.values) {
                handler.drainDeadline()
            }
        }
    }

    private func drain() {
        waker.acknowledge()
        for handler in handlers.values {
            handler.writeOutbound()
        }
    }
}
