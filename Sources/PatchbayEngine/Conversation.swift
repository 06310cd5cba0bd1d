import PatchbayDSP

/// Legs that hear each other, mixed N-1 at the conversation's rate (the highest rate among its legs, so
/// wideband legs keep their bandwidth between themselves). Owned by one shard; touched only on its queue.
final class Conversation {
    let name: String
    private(set) var rate: Int
    private(set) var legs: [Leg] = []
    /// The sum of every unmuted leg's frame at the conversation's rate.
    private let sum: UnsafeMutableBufferPointer<Int32>

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
        legs.append(leg)
        if newRate != rate { try setRate(newRate) }
    }

    /// Removes a leg; the rate drops to the highest remaining.
    func remove(_ leg: Leg) {
        legs.removeAll { $0 === leg }
        leg.media = nil
        if let highest = legs.map(\.sampleRate).max(), highest != rate {
            try? setRate(highest)  // every pair of supported rates converts; cannot fail
        }
    }

    private func setRate(_ newRate: Int) throws(ResamplerError) {
        rate = newRate
        for leg in legs { try leg.media?.setMixRate(newRate, legRate: leg.sampleRate) }
    }

    /// One 20 ms tick: pull a frame from every leg, mix, and push every leg its N-1 mix plus its players.
    /// Allocates nothing and takes no lock (a DTMF digit or a finished player publishes an event, which does).
    func tick(metrics: EngineMetrics, events: EventHub) {
        let mixSamples = rate / 50
        let sum = UnsafeMutableBufferPointer(rebasing: self.sum[0..<mixSamples])
        sum.update(repeating: 0)

        for leg in legs {
            guard let media = leg.media else { continue }
            pullInbound(leg, media, metrics: metrics, events: events)
            media.convertToMix(samples: mixSamples)
            if !leg.isMuted {
                for i in 0..<mixSamples { sum[i] &+= Int32(media.mixFrame[i]) }
            }
        }

        for leg in legs {
            guard let media = leg.media else { continue }
            let others = UnsafeMutableBufferPointer(rebasing: media.othersMix[0..<mixSamples])
            if leg.isEarmuffed || legs.count == 1 {
                others.update(repeating: 0)
            } else if leg.isMuted {
                for i in 0..<mixSamples { others[i] = Int16(clamping: sum[i]) }
            } else {
                for i in 0..<mixSamples { others[i] = Int16(clamping: sum[i] &- Int32(media.mixFrame[i])) }
            }
            media.convertFromMix(samples: mixSamples)
            pushOutbound(leg, media, metrics: metrics, events: events)
        }
    }

    private func pullInbound(_ leg: Leg, _ media: LegMedia, metrics: EngineMetrics, events: EventHub) {
        let n = media.frameSamples
        let excess = leg.inbound.available - leg.inboundDepthLimit * n
        if excess > 0 {
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
            metrics.samplesDropped.add(drop - left)
        }
        // Latency that only grows: a frame that misses its tick is concealed, and the leg then carries
        // one frame more in its queue for good. When a whole second has passed with a surplus frame
        // waiting at every tick (two or more), drop the oldest: the leg's delay shrinks by 20 ms, at
        // the cost of one 20 ms skip, and never below what the last second needed.
        let depth = leg.inbound.available
        media.leastInboundDepth = min(media.leastInboundDepth, depth)
        media.depthWindowTicks += 1
        if media.depthWindowTicks >= LegMedia.trimWindowTicks {
            if media.leastInboundDepth >= 2 * n {
                let skipped = leg.inbound.read(into: UnsafeMutableBufferPointer(rebasing: media.scratch[0..<n]))
                leg.samplesDropped.add(skipped)
                metrics.samplesDropped.add(skipped)
                metrics.framesTrimmed.add()
            }
            media.leastInboundDepth = Int.max
            media.depthWindowTicks = 0
        }
        let frame = UnsafeMutableBufferPointer(rebasing: media.legFrame[0..<n])
        let real = leg.inbound.readFrame(into: frame)
        if real < n {
            leg.framesConcealed.add()
            metrics.framesConcealed.add()
        }
        if media.detector != nil {
            media.detector!.process(UnsafeBufferPointer(frame)) { detection in
                metrics.dtmfDetected.add()
                events.publish(
                    EngineEvent(
                        leg: leg.id, conversation: name,
                        kind: .dtmf(
                            digit: detection.digit, durationMilliseconds: detection.durationMilliseconds,
                            startMilliseconds: detection.startMilliseconds, detected: true)))
            }
        }
    }

    private func pushOutbound(_ leg: Leg, _ media: LegMedia, metrics: EngineMetrics, events: EventHub) {
        let n = media.frameSamples
        media.bus.add(UnsafeBufferPointer(rebasing: media.othersLeg[0..<n]))
        if !media.players.isEmpty {
            let scratch = UnsafeMutableBufferPointer(rebasing: media.scratch[0..<n])
            var i = 0
            while i < media.players.count {
                let player = media.players[i]
                let done = player.render(into: scratch)
                media.bus.add(UnsafeBufferPointer(scratch), level: player.level)
                if done {
                    media.players.remove(at: i)
                    events.publish(
                        EngineEvent(leg: leg.id, conversation: name, kind: .playerFinished(player: player.id, stopped: false)))
                } else {
                    i += 1
                }
            }
        }
        let output = UnsafeMutableBufferPointer(rebasing: media.output[0..<n])
        media.bus.render(into: output)
        leg.outbound.write(UnsafeBufferPointer(output))
        leg.framesOut.add()
        metrics.framesOut.add()
        leg.waker.signal()
    }
}
