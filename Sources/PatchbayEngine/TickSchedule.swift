/// The arithmetic of an absolute periodic clock: which ticks a wake-up must run, which it must skip.
///
/// Tick n (n ≥ 1) is due at `epoch + n × period`, whatever happened to earlier ticks, so a clock driven
/// by it never drifts. A wake-up runs every tick that has fallen due (up to `maximumCatchUp` of them; a
/// clock further behind skips the oldest and counts them), so legs still get one frame per 20 ms of wall
/// time after a late wake-up. A wake-up more than `earlyTolerance` before the next due tick is spurious
/// and runs nothing. A value with no clock of its own: the shard passes it the time, tests pass any time.
///
/// The media shard runs it with a 1 ms period: each conversation ticks at one of the 20 millisecond
/// slots of the 20 ms frame period (`TickPhase`), so that its tick follows its legs' arrivals.
struct TickSchedule: Equatable, Sendable {
    /// What one wake-up must do.
    struct Wake: Equatable, Sendable {
        /// Ticks to run now, oldest first.
        var ticks: Int
        /// Ticks that fell too far behind and are skipped (not run).
        var skipped: Int
        /// How late the first tick to run started against its due time, in nanoseconds (0 when on time).
        var latenessNanoseconds: UInt64
        /// The number of the first tick to run (tick n is due at `epoch + n × period`).
        var first: UInt64
    }

    /// When tick 0 was due (the clock's start), in the clock's nanoseconds.
    let epoch: UInt64
    let period: UInt64
    /// The most ticks one wake-up runs to catch up.
    let maximumCatchUp: UInt64
    /// A tick this close to due counts as due (timers may fire a hair early on some kernels).
    let earlyTolerance: UInt64
    /// Ticks run or skipped so far.
    private(set) var ticksDone: UInt64 = 0

    /// A 20 ms clock by default, catching up at most 100 ms, a tick due within 1 ms counting as due.
    init(epoch: UInt64, period: UInt64 = 20_000_000, maximumCatchUp: UInt64 = 5, earlyTolerance: UInt64 = 1_000_000) {
        self.epoch = epoch
        self.period = period
        self.maximumCatchUp = maximumCatchUp
        self.earlyTolerance = earlyTolerance
    }

    /// When tick `n` is due.
    func due(_ n: UInt64) -> UInt64 { epoch + n * period }

    /// When the next tick is due.
    var nextDue: UInt64 { due(ticksDone + 1) }

    /// Accounts for a wake-up at `now`: the ticks returned are taken as run.
    mutating func wake(at now: UInt64) -> Wake {
        guard now + earlyTolerance >= nextDue else {
            return Wake(ticks: 0, skipped: 0, latenessNanoseconds: 0, first: ticksDone + 1)
        }
        var skipped: UInt64 = 0
        if now > nextDue {
            let behind = (now - nextDue) / period
            if behind > maximumCatchUp {
                skipped = behind - maximumCatchUp
                ticksDone += skipped
            }
        }
        let first = ticksDone + 1
        let lateness = now > nextDue ? now - nextDue : 0
        var ticks = 0
        while nextDue <= now + earlyTolerance {
            ticks += 1
            ticksDone += 1
        }
        return Wake(ticks: ticks, skipped: Int(skipped), latenessNanoseconds: lateness, first: first)
    }
}
