import Foundation
import Testing

@testable import PatchbayServer

/// The per-application event queue: bounded, one event per call in flight, each call's in order.
@Suite struct WebhookQueueTests {
    static func event(_ call: UUID, _ n: Int) -> WebhookQueue.Event {
        .init(call: call, body: Array("\(n)".utf8), queued: .now)
    }

    @Test("a call's events come out one at a time, in order; other calls' go in between; a full queue refuses")
    func order() async {
        let q = WebhookQueue(limit: 5)
        let a = UUID(), b = UUID()
        #expect(q.enqueue(Self.event(a, 1)) && q.enqueue(Self.event(a, 2)) && q.enqueue(Self.event(b, 3)))
        #expect(q.enqueue(Self.event(a, 4)) && q.enqueue(Self.event(b, 5)))
        #expect(!q.enqueue(Self.event(b, 6)), "the sixth does not fit")
        let first = await q.take()
        let second = await q.take()
        // a's first and b's first; a's second waits until a's first is done.
        #expect(first?.body == Array("1".utf8) && second?.body == Array("3".utf8))
        #expect(q.count == 3)
        q.done(a)
        let third = await q.take()
        #expect(third?.body == Array("2".utf8))
        q.done(b)
        let fourth = await q.take()
        #expect(fourth?.body == Array("5".utf8))
        q.done(a)
        #expect(await q.take()?.body == Array("4".utf8))
        q.done(b)
        q.done(a)
        #expect(q.count == 0)
    }

    @Test("a waiting worker gets the next event; close ends idle workers; discard drops what is left")
    func workers() async {
        let q = WebhookQueue(limit: 10)
        let call = UUID()
        async let waiting = q.take()
        try? await Task.sleep(for: .milliseconds(50))
        #expect(q.enqueue(Self.event(call, 1)))
        #expect(await waiting?.body == Array("1".utf8))
        #expect(q.enqueue(Self.event(call, 2)))
        async let idle = q.take()  // call's next waits for its first to be done
        try? await Task.sleep(for: .milliseconds(50))
        q.close()
        #expect(await idle == nil)
        #expect(!q.enqueue(Self.event(call, 3)), "closed")
        q.done(call)
        #expect(await q.take()?.body == Array("2".utf8), "what was queued still goes after close")
        #expect(q.enqueue(Self.event(call, 4)) == false)
        #expect(q.discard() == 0)
        #expect(await q.take() == nil)
    }
}
