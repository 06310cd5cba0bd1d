/// Where in the 20 ms frame period a mixing conversation should tick: just after its legs' frames
/// arrive, so that a frame waits for the mix a millisecond or two instead of anything up to 20 ms.
///
/// Each leg's frames arrive at a steady phase of the period (the Voice API sends one every 20 ms). The
/// shard samples each leg's last arrival once per tick (`Window`), keeps the latest phase seen over about
/// a second (the late edge of its jitter), and the conversation then ticks `margin` after the leg whose
/// arrival ends the longest quiet stretch of the period (`best`): the longest any leg's frame then waits
/// is the period less that stretch, plus the margin. Values with no clock of their own.
enum TickPhase {
    static let period: Int64 = 20_000_000
    /// The shard's clock steps: a conversation ticks on one of 20 slots of 1 ms.
    static let slotNanoseconds: Int64 = 1_000_000
    static let slots = Int(period / slotNanoseconds)
    /// After the latest arrival seen, before the tick (arrival jitter, the shard's own wake-up delay).
    static let margin: Int64 = 1_500_000
    /// Keep the current slot unless another cuts the longest wait by more than this (a move costs one
    /// frame period that is longer than 20 ms, so noise must not cause them).
    static let hysteresis: Int64 = 2_000_000

    /// The arrivals of one leg over a window, as phases of the period.
    struct Window: Equatable, Sendable {
        /// The phase of the first arrival of the window, or nil before one.
        private var reference: Int64?
        /// The latest arrival, as an offset from `reference` in (−period/2, period/2].
        private var latest: Int64 = 0
        private var lastSeen: UInt64 = 0

        init() {}

        /// Folds in the leg's last arrival (a time on the shard's clock, in ns); the same arrival seen
        /// at several ticks counts once, and none (0) is ignored.
        mutating func observe(arrival: UInt64, epoch: UInt64) {
            guard arrival != 0, arrival != lastSeen, arrival >= epoch else { return }
            lastSeen = arrival
            let phase = Int64((arrival - epoch) % UInt64(TickPhase.period))
            guard let reference else {
                self.reference = phase
                latest = 0
                return
            }
            latest = max(latest, TickPhase.signedOffset(phase - reference))
        }

        /// The latest phase of the window (nil if nothing arrived), and a fresh window.
        mutating func take() -> Int64? {
            defer { self = Window() }
            guard let reference else { return nil }
            return TickPhase.wrap(reference + latest)
        }
    }

    /// The longest wait of any leg's frame if the conversation ticks at `tick` (a phase).
    static func longestWait<C: Collection<Int64>>(tickingAt tick: Int64, arrivals: C) -> Int64 {
        var longest: Int64 = 0
        for p in arrivals { longest = max(longest, wrap(tick - p)) }
        return longest
    }

    /// What ticking at `tick` costs: the longest wait, and a whole period more if an arrival falls less
    /// than `margin` before it (that leg's frame would miss the tick whenever it came a little late).
    static func cost<C: Collection<Int64>>(tickingAt tick: Int64, arrivals: C) -> Int64 {
        var longest: Int64 = 0
        var tooClose = false
        for p in arrivals {
            let wait = wrap(tick - p)
            longest = max(longest, wait)
            if wait < margin { tooClose = true }
        }
        return tooClose ? longest + period : longest
    }

    /// The phase to tick at for legs whose latest arrivals are at `arrivals` (phases), or nil for none:
    /// `margin` after one of them, the one that costs least. Allocates nothing (quadratic in the legs,
    /// run about once a second).
    static func best<C: Collection<Int64>>(arrivals: C) -> Int64? {
        var best: (tick: Int64, cost: Int64)?
        for p in arrivals {
            let tick = wrap(p + margin)
            let cost = cost(tickingAt: tick, arrivals: arrivals)
            if best == nil || cost < best!.cost { best = (tick, cost) }
        }
        return best?.tick
    }

    /// The slot to tick at for a phase: the first slot at or after it.
    static func slot(for phase: Int64) -> Int {
        Int((wrap(phase) + slotNanoseconds - 1) / slotNanoseconds) % slots
    }

    /// The phase of a slot.
    static func phase(ofSlot slot: Int) -> Int64 { Int64(slot) * slotNanoseconds }

    /// The slot to tick at from now on: `current`, unless ticking at another costs less by more than
    /// `hysteresis`. Allocates nothing.
    static func retime<C: Collection<Int64>>(current: Int, arrivals: C) -> Int {
        guard let tick = best(arrivals: arrivals) else { return current }
        let proposed = slot(for: tick)
        let now = cost(tickingAt: phase(ofSlot: current), arrivals: arrivals)
        let then = cost(tickingAt: phase(ofSlot: proposed), arrivals: arrivals)
        return then + hysteresis < now ? proposed : current
    }

    /// The slot for a conversation whose audio takes the direct route: its tick only sends what the
    /// pacer held back and conceals what is overdue, so it should fall as far from the arrivals as it
    /// can (a frame held back for credit then waits half a period at most): `current`, unless it is
    /// within a quarter period of an arrival and the middle of the longest quiet stretch is further by
    /// more than `hysteresis`. Allocates nothing.
    static func retimeDirect<C: Collection<Int64>>(current: Int, arrivals: C) -> Int {
        var widest: (start: Int64, gap: Int64)?
        for p in arrivals {
            var gap = period
            for q in arrivals where wrap(q - p) > 0 { gap = min(gap, wrap(q - p)) }
            if widest == nil || gap > widest!.gap { widest = (p, gap) }
        }
        guard let widest else { return current }
        let proposed = slot(for: widest.start + widest.gap / 2)
        let here = distance(phase(ofSlot: current), arrivals)
        guard here < period / 4 else { return current }
        return distance(phase(ofSlot: proposed), arrivals) > here + hysteresis ? proposed : current
    }

    /// How close `tick` comes to any of `arrivals` (phases), either side.
    static func distance<C: Collection<Int64>>(_ tick: Int64, _ arrivals: C) -> Int64 {
        var nearest = period
        for p in arrivals { nearest = min(nearest, wrap(tick - p), wrap(p - tick)) }
        return nearest
    }

    /// `x` in 0..<period.
    static func wrap(_ x: Int64) -> Int64 {
        let r = x % period
        return r < 0 ? r + period : r
    }

    /// `x` in (−period/2, period/2].
    static func signedOffset(_ x: Int64) -> Int64 {
        let r = wrap(x)
        return r > period / 2 ? r - period : r
    }
}
