import CoreMetrics
import Foundation
import MetricsTestKit
import PatchbayEngine
import Testing

/// The engine's events reach a control-plane subscriber whole and in order, however slow it is, or it is
/// told exactly how many it missed (and the miss is counted): never a silent gap.
@Suite struct EventHubTests {
    static func events(_ count: Int, leg: UUID = UUID()) -> [EngineEvent] {
        (0..<count).map {
            EngineEvent(leg: leg, conversation: "c", kind: .dtmf(digit: "5", durationMilliseconds: $0, startMilliseconds: nil, detected: true))
        }
    }

    static func duration(_ event: EngineEvent) -> Int? {
        if case .dtmf(_, let duration, _, _) = event.kind { return duration }
        return nil
    }

    @Test("a burst of 10 000 events to a subscriber that reads slowly: every one arrives, in order")
    func slowSubscriberGetsEverything() async throws {
        let hub = EventHub()
        let subscription = hub.subscribe()
        // The whole burst is published before the subscriber reads anything, then it reads one at a time,
        // yielding between each.
        for event in Self.events(10_000) { hub.publish(event) }
        hub.finish()
        var seen: [Int] = []
        for try await event in subscription {
            seen.append(Self.duration(event) ?? -1)
            if seen.count % 100 == 0 { await Task.yield() }
        }
        #expect(seen.count == 10_000)
        #expect(seen == Array(0..<10_000), "out of order or missing")
    }

    @Test("a subscriber that falls its limit behind gets every event up to the gap, then the overflow with the count it missed")
    func overflowIsTold() async throws {
        let metrics = TestMetrics()
        let missed = CoreMetrics.Counter(label: "missed", dimensions: [], factory: metrics)
        let hub = EventHub(missed: missed)
        let subscription = hub.subscribe(limit: 100)
        for event in Self.events(10_000) { hub.publish(event) }
        var seen: [Int] = []
        var overflow: EventOverflow?
        do {
            for try await event in subscription { seen.append(Self.duration(event) ?? -1) }
        } catch {
            overflow = error
        }
        #expect(seen == Array(0..<100))
        #expect(overflow?.missed == 9_900)
        #expect(try metrics.expectCounter("missed").totalValue == 9_900)
    }

    @Test("a subscriber of one leg gets that leg's events only; another subscriber still gets all")
    func oneLeg() async throws {
        let hub = EventHub()
        let a = UUID()
        let b = UUID()
        let mine = hub.subscribe(leg: a)
        let all = hub.subscribe()
        for (x, y) in zip(Self.events(50, leg: a), Self.events(50, leg: b)) {
            hub.publish(x)
            hub.publish(y)
        }
        hub.finish()
        var legs: [UUID] = []
        for try await event in mine { legs.append(event.leg) }
        var count = 0
        for try await _ in all { count += 1 }
        #expect(legs.count == 50 && legs.allSatisfy { $0 == a })
        #expect(count == 100)
    }

    @Test("a waiting subscriber whose task is cancelled ends its loop; a subscription made after finish ends at once")
    func cancellationAndFinish() async throws {
        let hub = EventHub()
        let subscription = hub.subscribe()
        let reader = Task {
            var n = 0
            for try await _ in subscription { n += 1 }
            return n
        }
        hub.publish(Self.events(1)[0])
        // Whenever the reader runs, it takes the event that is queued, then finds itself cancelled.
        reader.cancel()
        #expect(try await reader.value == 1)
        hub.finish()
        var after = 0
        for try await _ in hub.subscribe() { after += 1 }
        #expect(after == 0)
    }
}
