/// The arithmetic of a shard's absolute 20 ms clock: which ticks a wake-up must run, which it must skip.
///
/// Tick k is due at `epoch + k × period`, whatever happened to earlier ticks, so a clock driven by it
/// never drifts. A wake-up runs every tick that has fallen due (up to `maximumCatchUp` of them; a clock
/// further behind skips the oldest and counts them), so legs still get one frame per 20 ms of wall time
/// after a late wake-up. A wake-up more than `earlyTolerance` before the next due tick is spurious and
/// runs nothing. A value with no clock of its own: the shard passes it the time, tests pass any time.
struct TickSchedule: Equatable, Sendable {
    /// What one wake-up must do.
    struct Wake: Equatable, Sendable {
        /// Ticks to run now, oldest first.
        var ticks: Int
        /// Ticks that fell too far behind and are skipped (not run).
        var skipped: Int
        /// How late the first tick to run started against its due time, in nanoseconds (0 when on time).
        var latenessNanoseconds: UInt64
    }

    static let periodNanoseconds: UInt64 = 20_000_000
    /// The most ticks one wake-up runs to catch up (100 ms of audio).
    static let maximumCatchUp: UInt64 = 5
    /// A tick this close to due counts as due (timers may fire a hair early on some kernels).
    static let earlyToleranceNanoseconds: UInt64 = 1_000_000

    /// When tick 0 was due (the clock's start), in the clock's nanoseconds.
    let epoch: UInt64
    /// Ticks run or skipped so far.
    private(set) var ticksDone: UInt64 = 0

    init(epoch: UInt64) {
        self.epoch = epoch
    }

    /// When the next tick is due.
    var nextDue: UInt64 { epoch + (ticksDone + 1) * Self.periodNanoseconds }

    /// Accounts for a wake-up at `now`: the ticks returned are taken as run.
    mutating func wake(at now: UInt64) -> Wake {
        guard now + Self.earlyToleranceNanoseconds >= nextDue else {
            return Wake(ticks: 0, skipped: 0, latenessNanoseconds: 0)
        }
        var skipped: UInt64 = 0
        if now > nextDue {
            let behind = (now - nextDue) / Self.periodNanoseconds
            if behind > Self.maximumCatchUp {
                skipped = behind - Self.maximumCatchUp
                ticksDone += skipped
            }
        }
        let lateness = now > nextDue ? now - nextDue : 0
        var ticks = 0
        while nextDue <= now + Self.earlyToleranceNanoseconds {
            ticks += 1
            ticksDone += 1
        }
        return Wake(ticks: ticks, skipped: Int(skipped), latenessNanoseconds: lateness)
    }
}
