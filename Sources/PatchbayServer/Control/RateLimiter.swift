import Synchronization

/// A token bucket per application: `perSecond` tokens a second, holding at most as many.
final class RateLimiter: Sendable {
    let perSecond: Double
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    init(perSecond: Double) {
        self.perSecond = perSecond
    }

    /// Takes a token for `key`: nil when there was one, else the whole seconds until there is.
    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? (perSecond, now)
            let (seconds, attoseconds) = (now - bucket.at).components
            bucket.tokens = min(perSecond, bucket.tokens + (Double(seconds) + Double(attoseconds) * 1e-18) * perSecond)
            bucket.at = now
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up))) }
            bucket.tokens -= 1
            return nil
        }
    }
}
