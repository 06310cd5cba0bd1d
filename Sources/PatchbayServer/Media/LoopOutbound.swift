import NIOCore
import NIOWebSocket
import PatchbayEngine

/// The websockets one event loop serves, and the waker the media shards use to tell it which legs have
/// frames ready.
///
/// Touched only on its event loop, except `waker`, which shards signal from their queues.
final class LoopOutbound: @unchecked Sendable {
    // @unchecked Sendable: `handlers` and `writers` are read and written only on `eventLoop` (checked
    // with preconditionInEventLoop); `waker` is Sendable itself.
    let eventLoop: any EventLoop
    private(set) var waker: LegWaker!
    /// Every websocket on the loop (the drain deadline closes them all, streaming or not).
    private var handlers: [ObjectIdentifier: LegChannelHandler] = [:]
    /// The handler writing for each streaming leg.
    private var writers: [ObjectIdentifier: LegChannelHandler] = [:]

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        waker = LegWaker { [unowned self] in
            // One task per batch of ready legs, however many legs the loop holds.
            self.eventLoop.execute { self.drain() }
        }
    }

    func register(_ handler: LegChannelHandler) {
        eventLoop.preconditionInEventLoop()
        handlers[ObjectIdentifier(handler)] = handler
    }

    func unregister(_ handler: LegChannelHandler) {
        eventLoop.preconditionInEventLoop()
        handlers[ObjectIdentifier(handler)] = nil
    }

    /// `handler` writes `leg`'s frames from now on.
    func write(_ leg: Leg, with handler: LegChannelHandler) {
        eventLoop.preconditionInEventLoop()
        writers[ObjectIdentifier(leg)] = handler
    }

    /// `leg` has ended: nothing more is written for it.
    func stopWriting(_ leg: Leg) {
        eventLoop.preconditionInEventLoop()
        writers[ObjectIdentifier(leg)] = nil
    }

    /// Closes every websocket on this loop with 1001 (the drain deadline has passed).
    func closeAll() {
        eventLoop.execute { [self] in
            for handler in Array(handlers.values) {
                handler.drainDeadline()
            }
        }
    }

    /// Writes for the legs the shards have produced frames for since the last drain.
    private func drain() {
        waker.drain { leg in
            writers[ObjectIdentifier(leg)]?.writeOutbound()
        }
    }
}
