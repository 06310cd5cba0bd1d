import PatchbayDSP

/// Legs that hear each other, mixed N-1 at the conversation's rate (the highest rate among its legs, so
/// wideband legs keep their bandwidth between themselves). Owned by one shard; touched only on its queue.
///
/// Two routes for a leg's audio:
/// - **direct**: in a two-leg conversation (the speaker is not muted, the listener not earmuffed, neither
///   hears itself), a frame goes to the listener as soon as it arrives: DTMF detected, resampled straight
///   to the listener's rate, the listener's own players (a prompt, hold music) mixed in, paced by
///   `DirectPacer`. No mixing tick, so no wait for one.
/// - **mixed**: otherwise, at each 20 ms tick, every leg hears the sum of the others plus its players.
/// The route is chosen per direction, again at every arrival and tick, so mute or a third leg joining
/// switches it at once.
final class Conversation {
    let name: String
    private(set) var rate: Int
    private(set) var legs: [Leg] = []
    /// The sum of every unmuted leg's frame at the conversation's rate.
    private let sum: UnsafeMutableBufferPointer<Int32>

    // The shard's clock: the conversation ticks at `slot` (of `TickPhase.slots`) of each 20 ms period,
    // moved to follow its legs' arrivals (`observeArrivals`).
    var slot = 0
    private var windowTicks = 0
    private var timed = false
    /// Recordings of the whole conversation: each leg's own audio on a track of its own.
    private(set) var sinks: [RecordingSink] = []

    init(name: String, rate: Int) {
        self.name = name
        self.rate = rate
        sum = .allocate(capacity: LegMedia.maximumFrameSamples)
        sum.initialize(repeating: 0)
    }

    deinit {
        sum.deallocate()
    }

    var isEmpty: Bool { legs.isEmpty }

    /// Adds a leg, raising the conversation's rate if the leg's is higher.
    func add(_ leg: Leg, detectDTMF: Bool) throws(ResamplerError) {
        let newRate = max(rate, leg.sampleRate)
        leg.media = try LegMedia(sampleRate: leg.sampleRate, mixRate: newRate, detectDTMF: detectDTMF)
        leg.conversation = self
        legs.append(leg)
        for sink in sinks { addTrack(for: leg, to: sink) }
        // Recordings of the leg's company come with it.
        for follower in leg.followers where follower.company { addSink(follower.sink) }
        if newRate != rate { try setRate(newRate) }
        try connectDirectly()
    }

    /// Removes a leg; the rate drops to the highest remaining.
    func remove(_ leg: Leg) {
        // Recordings of the leg's company leave with it: the others' tracks end here.
        for follower in leg.followers where follower.company { removeSink(follower.sink) }
        legs.removeAll { $0 === leg }
        if !sinks.isEmpty {
            // Its tracks of this conversation's recordings end here (a leg's own recordings go with it).
            let mine = Set(sinks.map(ObjectIdentifier.init))
            for tap in leg.ownTaps where tap.conversationSink.map(mine.contains) == true { tap.end() }
            leg.ownTaps.removeAll { $0.conversationSink.map(mine.contains) == true }
            if legs.isEmpty {
                for sink in sinks { sink.endSource() }
                sinks = []
            }
        }
        leg.media = nil
        leg.conversation = nil
        leg.forwardsDirectly.store(false, ordering: .relaxed)
        if let highest = legs.map(\.sampleRate).max(), highest != rate {
            try? setRate(highest)  // every pair of supported rates converts; cannot fail
        }
        try? connectDirectly()  // likewise
    }

    // MARK: Recording

    /// Records every leg of the conversation from now on, and every leg that joins it (a control
    /// operation: each track allocates its ring).
    func addSink(_ sink: RecordingSink) {
        guard !sinks.contains(where: { $0 === sink }) else { return }
        sinks.append(sink)
        for leg in legs { addTrack(for: leg, to: sink) }
    }

    /// Stops recording the conversation into `sink`: its tracks end.
    func removeSink(_ sink: RecordingSink) {
        guard sinks.contains(where: { $0 === sink }) else { return }
        sinks.removeAll { $0 === sink }
        let id = ObjectIdentifier(sink)
        for leg in legs {
            for tap in leg.ownTaps where tap.conversationSink == id { tap.end() }
            leg.ownTaps.removeAll { $0.conversationSink == id }
        }
    }

    private func addTrack(for leg: Leg, to sink: RecordingSink) {
        let track = RecordingTrack(
            leg: leg.id, side: .own, sampleRate: leg.sampleRate, origin: sink.origin, conversationSink: ObjectIdentifier(sink))
        sink.add(track)
        leg.ownTaps.append(track)
    }

    /// The leg's frame (at its rate) to every recording of its own audio: silence while it is muted.
    @inline(__always)
    private func recordOwn(_ leg: Leg, _ frame: UnsafeMutableBufferPointer<Int16>, now: Int64) {
        guard !leg.ownTaps.isEmpty else { return }
        let muted = leg.isMuted
        for tap in leg.ownTaps { tap.write(muted ? nil : UnsafeBufferPointer(frame), now: now) }
    }

    private func setRate(_ newRate: Int) throws(ResamplerError) {
        rate = newRate
        for leg in legs { try leg.media?.setMixRate(newRate, legRate: leg.sampleRate) }
    }

    /// Gives each leg of a two-leg conversation a converter straight to the other's rate (a control
    /// operation: it allocates, so the direct route never has to).
    private func connectDirectly() throws(ResamplerError) {
        guard legs.count == 2, let a = legs[0].media, let b = legs[1].media else {
            for leg in legs { setForwardsDirectly(leg, false) }
            return
        }
        try a.connectDirectly(to: legs[1].sampleRate, from: legs[0].sampleRate)
        try b.connectDirectly(to: legs[0].sampleRate, from: legs[1].sampleRate)
        updateRoutes()
    }

    /// Chooses each direction's route for now (two legs: cheap enough for every arrival and tick). Run
    /// whenever what decides it may have changed on the shard (legs) and at every tick (mute and earmuff
    /// change from any thread: the tick picks them up).
    func updateRoutes() {
        guard legs.count == 2, legs[0].media != nil, legs[1].media != nil else { return }
        // A leg that hears itself needs its own frame in a mix: no direct route in either direction; nor
        // does a leg with an audience list (the mix decides, listener by listener).
        let mixOnly = legs[0].hearsItself || legs[1].hearsItself || legs[0].isRestricted || legs[1].isRestricted
        setForwardsDirectly(legs[0], !mixOnly && !legs[0].isMuted && !legs[1].isEarmuffed)
        setForwardsDirectly(legs[1], !mixOnly && !legs[1].isMuted && !legs[0].isEarmuffed)
    }

    /// Sets the leg's route, and tells its I/O whether arrivals should wake the shard. A listener whose
    /// audio now comes straight from this leg starts with full pacing credit (`DirectPacer.refill`).
    private func setForwardsDirectly(_ leg: Leg, _ direct: Bool) {
        guard let media = leg.media, media.forwardsDirectly != direct else { return }
        media.forwardsDirectly = direct
        leg.forwardsDirectly.store(direct, ordering: .relaxed)
        if direct, legs.count == 2 {
            (legs[0] === leg ? legs[1] : legs[0]).media?.pacer.refill()
        }
    }

    // MARK: The direct route

    /// Sends every frame waiting on a direct route that its pacer lets go now (called when audio arrives,
    /// and at each tick for frames the pacer held back).
    func forward(now: Int64, metrics: EngineMetrics, events: EventHub) {
        guard legs.count == 2 else { return }
        updateRoutes()
        forward(from: legs[0], to: legs[1], now: now, metrics: metrics, events: events)
        forward(from: legs[1], to: legs[0], now: now, metrics: metrics, events: events)
    }

    private func forward(from source: Leg, to listener: Leg, now: Int64, metrics: EngineMetrics, events: EventHub) {
        guard let media = source.media, media.forwardsDirectly, let out = listener.media else { return }
        let n = media.frameSamples
        while source.inbound.available >= n, out.pacer.maySend(at: now) {
            dropBurst(source, media, metrics: metrics)
            let frame = UnsafeMutableBufferPointer(rebasing: media.legFrame[0..<n])
            _ = source.inbound.readFrame(into: frame)
            detectDTMF(source, media, frame, metrics: metrics, events: events)
            recordOwn(source, frame, now: now)
            sendDirect(frame, from: media, to: listener, silence: false, now: now, metrics: metrics, events: events)
        }
    }

    /// At a tick: silence for a direct listener whose source's frame is overdue, and the trim of a
    /// surplus frame that has waited at every tick for a second.
    private func concealDirect(from source: Leg, to listener: Leg, now: Int64, metrics: EngineMetrics, events: EventHub) {
        guard let media = source.media, let out = listener.media else { return }
        let n = media.frameSamples
        if source.inbound.available < n, out.pacer.isOverdue(at: now), out.pacer.maySend(at: now) {
            let frame = UnsafeMutableBufferPointer(rebasing: media.legFrame[0..<n])
            frame.update(repeating: 0)
            source.framesConcealed.add()
            metrics.framesConcealed.increment()
            detectDTMF(source, media, frame, metrics: metrics, events: events)
            recordOwn(source, frame, now: now)
            sendDirect(frame, from: media, to: listener, silence: true, now: now, metrics: metrics, events: events)
        }
        // Frames pass straight through, so one still waiting at every tick for a second is surplus.
        trimSurplus(source, media, keeping: 0, metrics: metrics)
    }

    private func sendDirect(
        _ frame: UnsafeMutableBufferPointer<Int16>, from media: LegMedia, to listener: Leg, silence: Bool, now: Int64,
        metrics: EngineMetrics, events: EventHub
    ) {
        guard let out = listener.media else { return }
        let output = UnsafeMutableBufferPointer(rebasing: out.output[0..<out.frameSamples])
        media.convertDirect(UnsafeBufferPointer(frame), into: output)
        if !out.players.isEmpty {
            // The listener's own players (a prompt, hold music) mixed into the frame as it passes.
            out.bus.add(UnsafeBufferPointer(output))
            mixPlayers(of: listener, out, events: events)
            renderBus(out, into: output, metrics: metrics)
        }
        deliver(output, to: listener, out, silence: silence, now: now, metrics: metrics)
    }

    /// Hands a finished frame to the leg's peer: its ring, its pacer (which learns the frame went now, on
    /// either route), the counts, and a wake-up for its writer.
    private func deliver(
        _ output: UnsafeMutableBufferPointer<Int16>, to leg: Leg, _ media: LegMedia, silence: Bool, now: Int64, metrics: EngineMetrics
    ) {
        let lost = leg.outbound.write(UnsafeBufferPointer(output))
        if lost > 0 { metrics.ringOverflowSamples.increment(by: lost) }
        for tap in leg.heardTaps { tap.write(UnsafeBufferPointer(output), now: now) }
        media.pacer.sent(at: now, silence: silence)
        leg.framesOut.add()
        metrics.framesOut.increment()
        leg.waker.signal(leg)
    }

    // MARK: Timing

    /// After each clocked tick: samples the legs' last arrivals and, at the end of each window (five
    /// ticks for a new conversation, then a second), returns the slot to tick at from now on: just after
    /// the arrivals when the tick mixes, away from them when both legs take the direct route.
    func observeArrivals(epoch: UInt64) -> Int? {
        for leg in legs {
            leg.media?.arrivals.observe(arrival: leg.lastArrival.load(ordering: .relaxed), epoch: epoch)
        }
        windowTicks += 1
        guard windowTicks >= (timed ? LegMedia.trimWindowTicks : 5) else { return nil }
        windowTicks = 0
        timed = true
        for leg in legs {
            guard let media = leg.media else { continue }
            media.arrivalPhase = media.arrivals.take()
        }
        let arrivals = legs.lazy.compactMap { $0.media?.arrivalPhase }
        let direct = legs.count == 2 && legs.allSatisfy { $0.media?.forwardsDirectly == true }
        return direct
            ? TickPhase.retimeDirect(current: slot, arrivals: arrivals) : TickPhase.retime(current: slot, arrivals: arrivals)
    }

    // MARK: The mixing tick

    /// One 20 ms tick: pull a frame from every leg on the mixed route, mix, and push every leg that hears
    /// the mix its N-1 mix plus its players; direct listeners get only what is overdue.
    /// Runs with the shard's media lock held; allocates nothing. Publishing an event (a DTMF digit, a
    /// finished player) and waking a leg's writer (`LegWaker`) take short locks of their own.
    func tick(now: Int64, metrics: EngineMetrics, events: EventHub) {
        if legs.count == 2 {
            forward(now: now, metrics: metrics, events: events)  // chooses the routes for this tick too
            if legs[0].media?.forwardsDirectly == true {
                concealDirect(from: legs[0], to: legs[1], now: now, metrics: metrics, events: events)
            }
            if legs[1].media?.forwardsDirectly == true {
                concealDirect(from: legs[1], to: legs[0], now: now, metrics: metrics, events: events)
            }
        }
        let mixSamples = rate / 50
        let sum = UnsafeMutableBufferPointer(rebasing: self.sum[0..<mixSamples])
        sum.update(repeating: 0)

        for leg in legs {
            guard let media = leg.media, !media.forwardsDirectly else { continue }
            pullInbound(leg, media, now: now, metrics: metrics, events: events)
            media.convertToMix(samples: mixSamples)
            if !leg.isMuted {
                for i in 0..<mixSamples { sum[i] &+= Int32(media.mixFrame[i]) }
            }
        }

        let restricted = legs.contains { $0.isRestricted }
        for (index, leg) in legs.enumerated() {
            guard let media = leg.media else { continue }
            // A direct listener: its one source is on the direct route.
            if legs.count == 2, legs[1 - index].media?.forwardsDirectly == true { continue }
            let others = UnsafeMutableBufferPointer(rebasing: media.othersMix[0..<mixSamples])
            if leg.isEarmuffed || legs.count == 1 {
                others.update(repeating: 0)
            } else {
                let othersSum = UnsafeMutableBufferPointer(rebasing: media.othersSum[0..<mixSamples])
                if restricted {
                    // Listener by listener: only the speakers its audience lists let it hear.
                    othersSum.update(repeating: 0)
                    for speaker in legs where !speaker.isMuted && (speaker !== leg ? leg.hears(speaker) : leg.hearsItself) {
                        guard let source = speaker.media else { continue }
                        for i in 0..<mixSamples { othersSum[i] &+= Int32(source.mixFrame[i]) }
                    }
                } else if leg.isMuted || media.forwardsDirectly || leg.hearsItself {
                    // Its own audio is not in the sum, or it is to be heard.
                    for i in 0..<mixSamples { othersSum[i] = sum[i] }
                } else {
                    for i in 0..<mixSamples { othersSum[i] = sum[i] &- Int32(media.mixFrame[i]) }
                }
                // Within 16 bits by the limiter, not by clamping: an overload is scaled down whole.
                count(media.othersLimiter.render(UnsafeBufferPointer(othersSum), into: others), metrics: metrics)
            }
            media.convertFromMix(samples: mixSamples)
            pushOutbound(leg, media, now: now, metrics: metrics, events: events)
        }
        updateRoutes()  // a player that finished in this tick opens the direct route for the next frame
    }

    /// Drops the oldest whole frames beyond the leg's inbound depth limit (a burst), counted.
    private func dropBurst(_ leg: Leg, _ media: LegMedia, metrics: EngineMetrics) {
        let n = media.frameSamples
        let excess = leg.inbound.available - leg.inboundDepthLimit * n
        guard excess > 0 else { return }
        // Keep whole frames: drop the oldest full frames beyond the limit.
        let drop = (excess + n - 1) / n * n
        var left = drop
        while left > 0 {
            let chunk = UnsafeMutableBufferPointer(rebasing: media.scratch[0..<min(left, LegMedia.maximumFrameSamples)])
            let got = leg.inbound.read(into: chunk)
            if got == 0 { break }
            left -= got
        }
        leg.samplesDropped.add(drop - left)
        metrics.samplesDropped.increment(by: drop - left)
    }

    /// Latency that only grows: a frame that misses its turn is concealed, and the leg then carries one
    /// frame more in its queue for good. When a whole second has passed with more than `keeping` frames
    /// waiting at every tick, drop the oldest: the leg's delay shrinks by 20 ms, at the cost of one 20 ms
    /// skip, and never below what the last second needed.
    private func trimSurplus(_ leg: Leg, _ media: LegMedia, keeping: Int, metrics: EngineMetrics) {
        let n = media.frameSamples
        let depth = leg.inbound.available
        media.leastInboundDepth = min(media.leastInboundDepth, depth)
        media.depthWindowTicks += 1
        guard media.depthWindowTicks >= LegMedia.trimWindowTicks else { return }
        if media.leastInboundDepth >= (keeping + 1) * n {
            let skipped = leg.inbound.read(into: UnsafeMutableBufferPointer(rebasing: media.scratch[0..<n]))
            leg.samplesDropped.add(skipped)
            metrics.samplesDropped.increment(by: skipped)
            metrics.framesTrimmed.increment()
        }
        media.leastInboundDepth = Int.max
        media.depthWindowTicks = 0
    }

    private func detectDTMF(
        _ leg: Leg, _ media: LegMedia, _ frame: UnsafeMutableBufferPointer<Int16>, metrics: EngineMetrics, events: EventHub
    ) {
        guard media.detector != nil else { return }
        media.detector!.process(UnsafeBufferPointer(frame)) { detection in
            metrics.dtmfDetected.increment()
            events.publish(
                EngineEvent(
                    leg: leg.id, conversation: name,
                    kind: .dtmf(
                        digit: detection.digit, durationMilliseconds: detection.durationMilliseconds,
                        startMilliseconds: detection.startMilliseconds, detected: true)))
        }
    }

    private func pullInbound(_ leg: Leg, _ media: LegMedia, now: Int64, metrics: EngineMetrics, events: EventHub) {
        let n = media.frameSamples
        dropBurst(leg, media, metrics: metrics)
        // At a tick one frame normally waits (the one this tick takes): a second one is surplus.
        trimSurplus(leg, media, keeping: 1, metrics: metrics)
        let frame = UnsafeMutableBufferPointer(rebasing: media.legFrame[0..<n])
        let real = leg.inbound.readFrame(into: frame)
        if real < n {
            leg.framesConcealed.add()
            metrics.framesConcealed.increment()
        }
        detectDTMF(leg, media, frame, metrics: metrics, events: events)
        recordOwn(leg, frame, now: now)
    }

    private func pushOutbound(_ leg: Leg, _ media: LegMedia, now: Int64, metrics: EngineMetrics, events: EventHub) {
        let n = media.frameSamples
        media.bus.add(UnsafeBufferPointer(rebasing: media.othersLeg[0..<n]))
        mixPlayers(of: leg, media, events: events)
        let output = UnsafeMutableBufferPointer(rebasing: media.output[0..<n])
        renderBus(media, into: output, metrics: metrics)
        // Should the leg's source go direct next, its pacer knows this frame went now.
        deliver(output, to: leg, media, silence: false, now: now, metrics: metrics)
    }

    /// Adds one frame of each of the leg's players to its bus; players that finish are removed and
    /// their `playerFinished` events published.
    private func mixPlayers(of leg: Leg, _ media: LegMedia, events: EventHub) {
        guard !media.players.isEmpty else { return }
        let scratch = UnsafeMutableBufferPointer(rebasing: media.scratch[0..<media.frameSamples])
        var i = 0
        while i < media.players.count {
            let player = media.players[i]
            let done = player.render(into: scratch)
            media.bus.add(UnsafeBufferPointer(scratch), level: player.level)
            if done {
                media.players.remove(at: i)
                events.publish(
                    EngineEvent(leg: leg.id, conversation: name, kind: .playerFinished(player: player.id, kind: player.kind, stopped: false)))
            } else {
                i += 1
            }
        }
    }

    /// Renders the leg's bus into `output` (the limiter and saturation counted).
    private func renderBus(_ media: LegMedia, into output: UnsafeMutableBufferPointer<Int16>, metrics: EngineMetrics) {
        count(media.bus.render(into: output), metrics: metrics)
    }

    private func count(_ report: Limiter.Report, metrics: EngineMetrics) {
        if report.saturatedSamples > 0 { metrics.samplesSaturated.increment(by: report.saturatedSamples) }
        if report.limited { metrics.framesLimited.increment() }
    }
}
