/// Paces audio that goes straight from one leg to another (a two-leg bridge) without a mixing tick.
///
/// Frames leave as they arrive from the source, so they follow the source's own 20 ms cadence, but never
/// faster than real time: a send costs 20 ms of credit, credit accrues with time up to two frames' worth,
/// so a frame that came a little late may be followed at once by the next, and a burst from the source
/// leaves one frame per 20 ms (the rest wait in the source's ring). Toward a Voice API leg that keeps its
/// playout buffer where it was: never more than one frame ahead of a strict 20 ms schedule.
///
/// When the source misses frames, silence stands in once a frame is `grace` overdue, and then once per
/// 20 ms while the source stays silent, so the destination still hears one frame per 20 ms. The grace is
/// long on purpose: silence that stands in for a frame that was only late puts the listener one frame
/// ahead, and the late frame then waits for credit at every turn (20 ms more delay until the trim). A
/// jittery source rarely leaves 40 ms unfilled; one that has stopped is covered 60 ms after its last
/// frame (the listener's own playout covers the gap meanwhile, as for any network jitter).
///
/// A source that starts — its first frame, or its first after `restartAfter` of silence standing in (a
/// speech service between two answers) — sets the schedule afresh: its frame goes at once with full
/// credit. Without that the silence's phase would be the schedule, and a source whose frames come just
/// after it would have almost no credit to spare: the first frame a little early would be held, a
/// period late for the rest of the call. A value with no clock of its own: callers pass the time
/// (nanoseconds of a monotonic clock).
public struct DirectPacer: Equatable, Sendable {
    public static let period: Int64 = 20_000_000
    /// Credit beyond this is not kept: at most two frames back to back.
    public static let maximumCredit: Int64 = 2 * period
    /// A frame up to this early against its credit still goes (timers and arrivals jitter).
    public static let tolerance: Int64 = 2_000_000
    /// How long past its due time a missing frame is waited for before silence stands in.
    public static let grace: Int64 = 40_000_000
    /// A source whose last real frame is older than this (with silence standing in since) starts afresh.
    public static let restartAfter: Int64 = 200_000_000

    public init() {}

    private var credit: Int64 = maximumCredit
    private var creditTime: Int64?
    /// When the last frame (audio or silence) was sent.
    public private(set) var lastSent: Int64?
    /// Whether that frame was silence standing in for a missing one.
    public private(set) var lastWasSilence = false
    /// When the last real frame was sent.
    private var lastAudio: Int64?

    private func credit(at now: Int64) -> Int64 {
        guard let creditTime else { return credit }
        return min(Self.maximumCredit, credit + max(0, now - creditTime))
    }

    /// Whether a frame may be sent now.
    public func maySend(at now: Int64) -> Bool {
        restarts(at: now) || credit(at: now) + Self.tolerance >= Self.period
    }

    /// Whether a real frame sent now starts the source afresh: silence has stood in since its last real
    /// frame, which is long gone (or there was none).
    private func restarts(at now: Int64) -> Bool {
        guard lastWasSilence || lastSent == nil else { return false }
        guard let lastAudio else { return true }
        return now - lastAudio >= Self.restartAfter
    }

    /// When a timer should send the next frame: once a whole period of credit has accrued (`now` if it
    /// has). Not earlier by the tolerance, which is for arrivals that jitter: a timer that fired at the
    /// first moment allowed would send every 18 ms.
    public func nextAllowed(at now: Int64) -> Int64 {
        let missing = Self.period - credit(at: now)
        return missing <= 0 ? now : now + missing
    }

    /// Whether the next frame is overdue, so that silence should stand in for it: always before the first
    /// frame, `period + grace` after a real frame, and one period after silence.
    public func isOverdue(at now: Int64) -> Bool {
        guard let lastSent else { return true }
        let wait = lastWasSilence ? Self.period - Self.tolerance : Self.period + Self.grace
        return now - lastSent >= wait
    }

    /// Full credit again, when the listener's audio starts to come straight from its source (it came
    /// from the mixing tick until now). Without it the credit left by the tick's sends would be spent
    /// at a phase of its own: a source whose frames arrive a little before that phase would find its
    /// frames held back for credit, each until the next arrival, a period late for the rest of the call.
    /// With full credit the pacer allows one frame ahead, so arrival jitter never holds a frame back.
    public mutating func refill() {
        credit = Self.maximumCredit
        creditTime = nil
    }

    /// Records a frame sent at `now` (`silence` when it stood in for a missing one).
    public mutating func sent(at now: Int64, silence: Bool) {
        if !silence, restarts(at: now) {
            // The source's own cadence is the schedule from here.
            credit = Self.maximumCredit
            creditTime = now
        }
        if !silence { lastAudio = now }
        credit = max(0, credit(at: now) - Self.period)
        creditTime = now
        lastSent = now
        lastWasSilence = silence
    }
}
