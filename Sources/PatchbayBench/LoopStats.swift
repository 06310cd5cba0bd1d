import Histogram

/// Measurements of the calls on one client event loop; touched only on that loop, merged at the end.
///
/// Times are recorded in microseconds (three significant digits: 1 µs resolution below 1 ms).
final class LoopStats {
    static func histogram() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Round trip of each matched frame: sent → the same frame back.
    var roundTrip = histogram()
    /// The same, since the last progress line.
    var roundTripInterval = histogram()
    /// |inter-arrival - 20 ms| of returned frames.
    var jitter = histogram()
    /// Upgrade request → websocket open.
    var connect = histogram()
    /// How late the generator sent each frame against its absolute schedule.
    var sendLateness = histogram()
    /// Burst probes: each latency above its call's lowest (the mixing clock's phase and resampler
    /// delay are constant for a call; what load adds shows above them).
    var latencyAboveFloor = histogram()
    /// In-band DTMF digit sent → `websocket:dtmf` event received.
    var dtmfRoundTrip = histogram()
    /// Forwarded calls: a burst sent by the caller → found by the service; the service's echo of it
    /// sent → found by the caller.
    var toService = histogram()
    var fromService = histogram()

    var callsStarted = 0
    var callsConnected = 0
    var callsFailed = 0
    var callsFinished = 0
    var callsClosedByServer = 0
    var framesSent = 0
    var framesReceived = 0
    var framesReceivedInterval = 0
    var framesLost = 0
    var framesLate = 0
    var framesDuplicated = 0
    var framesWrongSize = 0
    var framesUntagged = 0
    var framesMisrouted = 0
    /// Bursts this loop's calls listened for (sent once the listener had joined), found, never found.
    var probesSent = 0
    var probesFound = 0
    var probesMissed = 0
    var dtmfSent = 0
    var dtmfMatched = 0
    var dtmfMissed = 0
    var dtmfUnexpected = 0
    /// Forwarded calls: bursts the service found and missed; calls whose service never connected.
    var serviceProbesFound = 0
    var serviceProbesMissed = 0
    var callsNeverForwarded = 0
    var failures: [String] = []

    /// One round trip (or probe latency), in the run's histogram and the current second's.
    func recordRoundTrip(microseconds: UInt64) {
        roundTrip.record(microseconds)
        roundTripInterval.record(microseconds)
    }

    /// Progress since the last call, and the interval histogram reset.
    func takeInterval() -> (p99: UInt64, count: UInt64, frames: Int) {
        let r = (roundTripInterval.valueAtPercentile(99), roundTripInterval.totalCount, framesReceivedInterval)
        roundTripInterval.reset()
        framesReceivedInterval = 0
        return r
    }
}
