import PatchbayEngine

/// Renders the engine's and the server's metrics in the Prometheus text exposition format (0.0.4).
struct PrometheusText {
    private var text = ""

    static func render(engine: EngineMetrics, ringOverflowSamples: Int, server: ServerMetrics) -> String {
        var p = PrometheusText()
        p.gauge("patchbay_legs_active", "Legs connected and streaming.", engine.legsActive.value)
        p.gauge("patchbay_conversations_active", "Conversations with at least one leg.", engine.conversationsActive.value)
        p.gauge("patchbay_connections_open", "Websocket connections open (with or without websocket:connected).", server.connectionsOpen.value)
        p.counter("patchbay_frames_in_total", "20 ms audio frames received from peers.", engine.framesIn.value)
        p.counter("patchbay_frames_out_total", "20 ms audio frames produced for peers.", engine.framesOut.value)
        p.counter("patchbay_frames_rejected_total", "Messages dropped: wrong size, over the rate limit.", engine.framesRejected.value)
        p.counter("patchbay_frames_wrong_size_total", "Binary messages that were not one 20 ms frame.", server.framesWrongSize.value)
        p.counter("patchbay_messages_over_rate_total", "Messages dropped over the per-leg rate limit.", server.messagesOverRate.value)
        p.counter("patchbay_messages_invalid_total", "Text messages that were not valid events.", server.messagesInvalid.value)
        p.counter(
            "patchbay_dtmf_events_sent_total", "Detected digits sent to the other legs of a conversation as websocket:dtmf.",
            server.dtmfEventsSent.value)
        p.counter("patchbay_samples_dropped_total", "Samples dropped because a buffer overflowed.", engine.samplesDropped.value)
        p.counter(
            "patchbay_ring_overflow_samples_total", "Samples lost because a leg's ring overflowed (oldest audio dropped).",
            ringOverflowSamples)
        p.counter(
            "patchbay_samples_saturated_total", "Output samples saturated at full scale (beyond what the limiter caught).",
            engine.samplesSaturated.value)
        p.counter("patchbay_frames_limited_total", "Output frames the mixer's limiter scaled down.", engine.framesLimited.value)
        p.counter(
            "patchbay_arrivals_deferred_total", "Direct-route frames left to the media shard because it was busy when they arrived.",
            engine.arrivalsDeferred.value)
        p.counter("patchbay_frames_concealed_total", "Ticks where silence stood in for a missing or late frame.", engine.framesConcealed.value)
        p.counter(
            "patchbay_frames_trimmed_total", "Inbound frames dropped to shrink a leg's queue after a surplus frame persisted for a second.",
            engine.framesTrimmed.value)
        p.counter("patchbay_ticks_late_total", "Media ticks that started over 1 ms late.", engine.ticksLate.value)
        p.counter("patchbay_ticks_skipped_total", "Media ticks skipped after falling over 100 ms behind.", engine.ticksSkipped.value)
        p.histogram("patchbay_tick_lateness_seconds", "How late media ticks started against their absolute schedule.", engine.tickLateness)
        p.histogram("patchbay_tick_duration_seconds", "Time spent in one media shard wake-up.", engine.tickDuration)
        p.counter("patchbay_dtmf_detected_total", "DTMF digits detected in legs' audio.", engine.dtmfDetected.value)
        p.counter("patchbay_dtmf_reported_total", "DTMF digits reported by peers (websocket:dtmf).", engine.dtmfReported.value)
        p.counter("patchbay_upgrades_unauthorized_total", "Websocket upgrades refused with 401.", server.upgradesUnauthorized.value)
        p.counter("patchbay_upgrades_over_capacity_total", "Websocket upgrades refused with 503 (max_legs).", server.upgradesOverCapacity.value)
        p.counter("patchbay_legs_closed_by_policy_total", "Legs closed for breaking the protocol or a limit.", server.legsClosedByPolicy.value)
        return p.text
    }

    private mutating func header(_ name: String, _ help: String, _ type: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    private mutating func gauge(_ name: String, _ help: String, _ value: Int) {
        header(name, help, "gauge")
        text += "\(name) \(value)\n"
    }

    private mutating func counter(_ name: String, _ help: String, _ value: Int) {
        header(name, help, "counter")
        text += "\(name) \(value)\n"
    }

    private mutating func histogram(_ name: String, _ help: String, _ h: Histogram) {
        header(name, help, "histogram")
        let counts = h.counts
        var cumulative = 0
        for (bound, count) in zip(h.bounds, counts) {
            cumulative += count
            text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += counts.last ?? 0
        text += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n"
        text += "\(name)_sum \(h.sum)\n"
        text += "\(name)_count \(cumulative)\n"
    }
}
