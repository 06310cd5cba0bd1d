import NIOCore

extension TimeAmount {
    /// The same span as a NIO amount (nanoseconds; what is below a nanosecond is dropped).
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
