import Foundation
import MetricsTestKit
import PatchbayDSP
import PatchbayEngine
import Synchronization
import Testing

/// An engine that is never started: the test is its clock (`tick()`), and legs are fed and read
/// through their rings exactly as the I/O layer does, with no sockets.
final class EngineHarness {
    final class Transport: LegTransport, @unchecked Sendable {
        // @unchecked Sendable: the tests touch it from one task at a time.
        var commands: [LegCommand] = []
        var closed: String?
        func send(_ command: LegCommand) { commands.append(command) }
        func close(reason: String) { closed = reason }
    }

    /// The engine's clock: it moves only when the test says (20 ms per `tick()`).
    final class ManualClock: Sendable {
        private let nanoseconds = Atomic<Int64>(1_000_000_000)
        var now: Int64 { nanoseconds.load(ordering: .relaxed) }
        func advance(milliseconds: Int64) { nanoseconds.add(milliseconds * 1_000_000, ordering: .relaxed) }
    }

    let clock = ManualClock()
    let engine: Engine
    let events: EventLog
    /// The engine's metrics, as swift-metrics reports them.
    let metrics = TestMetrics()

    init(detectDTMF: Bool = false, shards: Int = 1) {
        let clock = clock
        engine = Engine(configuration: .init(shards: shards, detectDTMF: detectDTMF, now: { clock.now }, metricsFactory: metrics))
        events = EventLog(engine.events.subscribe())
    }

    /// What the engine has counted in the counter `label` (0 before its first increment).
    func count(_ label: String) -> Int64 {
        (try? metrics.expectCounter(label).totalValue) ?? 0
    }

    deinit {
        engine.shutdown()
    }

    /// Attaches a leg to `conversation` and waits until it has joined.
    @discardableResult
    func leg(_ conversation: String = "c", rate: Int = 16000, hearsItself: Bool = false) -> Leg {
        let leg = Leg(
            conversationName: conversation, sampleRate: rate, hearsItself: hearsItself, transport: Transport(), waker: LegWaker {})
        engine.attach(leg)
        engine.synchronize(with: leg.id)
        return leg
    }

    /// Sends one frame of `value` (every sample), as the leg's peer would.
    func send(_ value: Int16, from leg: Leg) {
        send([Int16](repeating: value, count: leg.frameSamples), from: leg)
    }

    /// Sends samples (any whole number of frames) as the leg's peer would: little-endian bytes. Returns
    /// once the shard has handled the arrival (a frame on the direct route has gone to its listener).
    func send(_ samples: [Int16], from leg: Leg) {
        let bytes = samples.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        var k = 0
        while k < samples.count {
            bytes[(2 * k)..<(2 * (k + leg.frameSamples))].withUnsafeBytes { leg.receive(PCM16LittleEndian($0)) }
            k += leg.frameSamples
        }
        engine.synchronize(with: leg.id)
    }

    /// Moves the clock on by `milliseconds` without a tick (audio arriving between ticks).
    func wait(milliseconds: Int64) {
        clock.advance(milliseconds: milliseconds)
    }

    /// Moves the clock on by 20 ms and runs one tick of the whole engine, `count` times.
    func tick(_ count: Int = 1) {
        for _ in 0..<count {
            clock.advance(milliseconds: 20)
            engine.tickNow()
        }
    }

    /// Every whole frame waiting for the leg's peer, oldest first (what the I/O layer would send).
    func heard(by leg: Leg) -> [[Int16]] {
        var frames: [[Int16]] = []
        var frame = [Int16](repeating: 0, count: leg.frameSamples)
        while leg.outbound.available >= leg.frameSamples {
            _ = frame.withUnsafeMutableBufferPointer { leg.outbound.read(into: $0) }
            frames.append(frame)
        }
        return frames
    }

    /// The one frame waiting for the leg's peer (a test failure when there is not exactly one).
    func lastHeard(by leg: Leg, sourceLocation: SourceLocation = #_sourceLocation) -> [Int16] {
        let frames = heard(by: leg)
        #expect(frames.count == 1, "\(frames.count) frames waiting", sourceLocation: sourceLocation)
        return frames.last ?? []
    }

}

/// Every event an engine published since the log was made, collected as they come.
final class EventLog: Sendable {
    private final class Store: Sendable {
        let events = Mutex<[EngineEvent]>([])
    }

    private let store: Store
    private let collector: Task<Void, Never>

    init(_ stream: EventSubscription) {
        let store = Store()
        self.store = store
        collector = Task {
            do {
                for try await event in stream { store.events.withLock { $0.append(event) } }
            } catch {
                Issue.record("the test fell behind the engine's events: \(error)")
            }
        }
    }

    deinit {
        collector.cancel()
    }

    var all: [EngineEvent] { store.events.withLock { $0 } }

    /// The first event that `matches`, waiting for it up to `seconds`: events of a tick are published
    /// before `tick()` returns and reach the log a moment later; the deadline turns a missing event into
    /// a failure that says what did arrive, not a hang.
    func first(
        within seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation,
        where matches: (EngineEvent) -> Bool
    ) async -> EngineEvent? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            if let event = all.first(where: matches) { return event }
            guard ContinuousClock.now < deadline else { break }
            try? await Task.sleep(for: .milliseconds(1))
        }
        Issue.record("no such event within \(seconds) s; seen: \(all.map(\.kind))", sourceLocation: sourceLocation)
        return nil
    }

    /// The first DTMF digit detected in a leg's audio: the leg, the digit and its duration in ms.
    func firstDetectedDigit(sourceLocation: SourceLocation = #_sourceLocation) async -> (leg: UUID, digit: Character, duration: Int)? {
        let event = await first(sourceLocation: sourceLocation) {
            if case .dtmf(_, _, _, true) = $0.kind { return true }
            return false
        }
        guard let event, case .dtmf(let digit, let duration, _, true) = event.kind else { return nil }
        return (event.leg, digit, duration)
    }
}
