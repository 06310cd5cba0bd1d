/// A service's audio on its way into the service's leg: the playout buffer (`Playout`), released one
/// 20 ms frame at a time on a strict schedule of Patchbay's own clock: never faster than real time, and
/// never ahead of the schedule (a release that comes late is followed sooner, so the average stays
/// 20 ms, but only one frame a period goes unless it fell a whole period behind). The listener's own
/// direct-route pacing then always has a frame of credit in hand, so a frame that reaches it a few
/// milliseconds late is never held for the next tick.
///
/// Once the service's audio has begun, a frame leaves every 20 ms whatever the service does: when nothing
/// is queued, silence — at once, for here it is known that nothing is coming, unlike a caller's frame that
/// may only be late — so the listener's stream has no hole after an answer has played (the engine would
/// otherwise wait out its grace for a late frame before silence stood in). A final partial frame (a
/// service may split its byte stream anywhere) waits for the rest of its bytes, silence standing in
/// meanwhile, and is played zero-padded once no audio has come for `partialFrameWait`.
///
/// A value with no clock of its own: callers pass the time (nanoseconds of a monotonic clock). Releasing
/// allocates nothing.
public struct PacedPlayout: Sendable {
    /// A partial last frame is played (zero-padded) once no audio has come for this long.
    public static let partialFrameWait: Int64 = 40_000_000

    public static let period: Int64 = 20_000_000
    /// A release this early against the schedule still goes (timers jitter).
    public static let tolerance: Int64 = 2_000_000

    public private(set) var playout: Playout
    /// When the next frame is due (nil: at once — before the first frame, or when nothing has flowed).
    private var due: Int64?
    /// When the service's audio last came.
    public private(set) var lastAudio: Int64 = 0
    /// When a frame of the service's own audio was last released (nil before the first).
    public private(set) var lastAudioReleased: Int64?
    /// The service's audio has begun: from now on a frame leaves every 20 ms.
    public private(set) var started = false

    public init(frameBytes: Int, capacityFrames: Int) {
        playout = Playout(frameBytes: frameBytes, capacityFrames: capacityFrames)
    }

    public var frameBytes: Int { playout.frameBytes }

    /// Queues the service's audio bytes (16-bit little-endian PCM). Returns how many did not fit and were
    /// dropped.
    @discardableResult
    public mutating func append(_ bytes: UnsafeRawBufferPointer, at now: Int64) -> Int {
        lastAudio = now
        if !bytes.isEmpty { started = true }
        return playout.append(bytes)
    }

    /// Queues a `notify` marker after the audio queued so far.
    public mutating func appendMarker(_ payload: String) {
        playout.appendMarker(payload)
    }

    /// The payloads of the markers playout has reached, oldest first.
    public mutating func reachedMarkers() -> [String] {
        playout.reachedMarkers()
    }

    /// Drops what waits: how many bytes, and the payloads of the markers that were pending.
    public mutating func clear() -> (droppedBytes: Int, markers: [String]) {
        playout.clear()
    }

    /// Releases every frame due at `now` into `frame` (`frameBytes` long), calling `deliver` for each
    /// (`silence`: nothing was queued for it).
    /// - Returns: when the next frame is due, or nil when none is until audio comes.
    public mutating func release(
        at now: Int64, into frame: UnsafeMutableRawBufferPointer, _ deliver: (_ silence: Bool) -> Void
    ) -> Int64? {
        while due.map({ now >= $0 - Self.tolerance }) ?? true {
            let stale = now - lastAudio >= Self.partialFrameWait
            if playout.takeFrame(into: frame, padding: stale) {
                lastAudioReleased = now
                deliver(false)
            } else if started {
                frame.initializeMemory(as: UInt8.self, repeating: 0)
                deliver(true)
            } else {
                break
            }
            // The next one a period after this one's due time; a schedule more than a period behind starts
            // again from now (no burst to catch up).
            let next = (due ?? now) + Self.period
            due = next < now ? now + Self.period : next
        }
        return started ? due : nil
    }
}
