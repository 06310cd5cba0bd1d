/// A service's audio on its way into the service's leg: the playout buffer (`Playout`), released one
/// 20 ms frame at a time, never faster than real time. A service that streams in real time has its frames
/// go as they arrive, paced as a caller's are (`DirectPacer`).
///
/// A service that sends ahead of real time (an answer in one message, a prompt in bursts: two frames or
/// more were queued behind the one released) is played on a strict schedule of Patchbay's own clock: a
/// release that comes late is followed sooner, so the average stays 20 ms, and never two at once, so the
/// listener's own pacing always has a frame of credit in hand. Such a service has said what it will say:
/// when its queue runs dry, nothing more is coming, and silence goes at once, every 20 ms, so the
/// listener's stream has no hole after the answer (the engine would otherwise wait out its grace for a
/// late frame). Its next answer goes at once after that silence (one frame ahead, once) and sets the
/// schedule afresh. A service that streams in real time gets no such silence: its next frame may only be
/// late, and the engine covers it as it covers a caller's. A final partial frame (a service may split its
/// byte stream anywhere) waits for the rest of its bytes and is played zero-padded once no audio has come
/// for `partialFrameWait`.
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
    /// When the next frame is due (nil: at once — before the first frame).
    private var due: Int64?
    /// When the service's audio last came.
    public private(set) var lastAudio: Int64 = 0
    /// When a frame of the service's own audio was last released (nil before the first).
    public private(set) var lastAudioReleased: Int64?
    /// The service has sent ahead of real time since its last pause: silence stands in at once when its
    /// queue runs dry.
    public private(set) var sendsAhead = false
    /// The last frame released was silence standing in.
    private var lastWasSilence = false
    /// Paces a service streaming in real time, as a caller's frames are paced on the direct route.
    private var pacer = DirectPacer()

    public init(frameBytes: Int, capacityFrames: Int) {
        playout = Playout(frameBytes: frameBytes, capacityFrames: capacityFrames)
    }

    public var frameBytes: Int { playout.frameBytes }

    /// Queues the service's audio bytes (16-bit little-endian PCM). Returns how many did not fit and were
    /// dropped.
    @discardableResult
    public mutating func append(_ bytes: UnsafeRawBufferPointer, at now: Int64) -> Int {
        lastAudio = now
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
    /// (`silence`: it stood in for audio that is not coming).
    /// - Returns: when to call again, or nil when nothing is due until audio comes.
    public mutating func release(
        at now: Int64, into frame: UnsafeMutableRawBufferPointer, _ deliver: (_ silence: Bool) -> Void
    ) -> Int64? {
        while true {
            let stale = now - lastAudio >= Self.partialFrameWait
            if !sendsAhead {
                // Streaming in real time: frames go as they come, paced as a caller's are (`DirectPacer`:
                // never faster than real time, a frame of credit for jitter).
                guard pacer.maySend(at: now), playout.takeFrame(into: frame, padding: stale) else { break }
                pacer.sent(at: now, silence: false)
                lastAudioReleased = now
                due = now + Self.period
                // Two frames or more behind this one: the service sends ahead of real time (one could be two
                // frames the network delivered together).
                if playout.count >= 2 * playout.frameBytes { sendsAhead = true }
                deliver(false)
                continue
            }
            // Ahead of real time: a strict schedule, and silence at once when the queue runs dry.
            let onTime = due.map { now >= $0 - Self.tolerance } ?? true
            let partial = playout.count < playout.frameBytes
            // The first frame after silence stood in goes at once: the silence took its place.
            if onTime || lastWasSilence, playout.takeFrame(into: frame, padding: stale) {
                if lastWasSilence, !partial {
                    // Audio again (a padded partial frame is the late tail of the same answer): the schedule
                    // from it; alone, the service may stream in real time now, and its frames set the pace.
                    due = now + Self.period
                    if playout.count < 2 * playout.frameBytes {
                        sendsAhead = false
                        pacer.refill()
                    }
                } else {
                    advance(now)
                }
                lastWasSilence = false
                lastAudioReleased = now
                pacer.sent(at: now, silence: false)
                deliver(false)
            } else if onTime {
                frame.initializeMemory(as: UInt8.self, repeating: 0)
                lastWasSilence = true
                advance(now)
                pacer.sent(at: now, silence: false)
                deliver(true)
            } else {
                break
            }
        }
        if sendsAhead { return due }
        guard playout.count > 0 else { return nil }
        let next = pacer.nextAllowed(at: now)
        // A partial frame of a service streaming in real time: played padded when it has gone stale.
        return playout.count < playout.frameBytes ? max(next, lastAudio + Self.partialFrameWait) : next
    }

    /// The schedule after a frame released at `now`: a period after this one's due time, or — more than a
    /// period behind (a stall) — a period from now, with no burst to catch up.
    private mutating func advance(_ now: Int64) {
        let next = (due ?? now) + Self.period
        due = next < now ? now + Self.period : next
    }
}
