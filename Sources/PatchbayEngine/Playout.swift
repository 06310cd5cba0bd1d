/// Audio a service sends back, queued for playout: any number of bytes per message, faster than real
/// time, re-framed into 20 ms frames as playout takes them, with the service's `notify` markers between.
///
/// The service's bytes are one stream of little-endian PCM16 (a message may end mid-sample: the odd
/// byte waits for the next). At most `capacityBytes` wait; what arrives beyond that is dropped and
/// counted (the Voice API's own playout buffer, 3072 frames ≈ 60 s, behaves so). The storage grows as
/// needed up to the capacity, so an idle leg costs nothing. A marker is reached when playout has taken
/// every byte queued before it; `clear` drops the audio and hands back the markers still pending (they
/// are answered at once: their audio will never play). A value with no clock and no I/O.
public struct Playout: Sendable {
    public let frameBytes: Int
    public let capacityBytes: Int
    private var storage: [UInt8] = []
    private var head = 0
    /// Bytes waiting.
    public private(set) var count = 0
    /// Bytes ever queued, and ever taken (or cleared): marker positions are on this scale.
    public private(set) var written = 0
    public private(set) var taken = 0
    private var markers: [(position: Int, payload: String)] = []

    public init(frameBytes: Int, capacityFrames: Int) {
        precondition(frameBytes > 0 && frameBytes % 2 == 0 && capacityFrames > 0)
        self.frameBytes = frameBytes
        capacityBytes = frameBytes * capacityFrames
    }

    /// Whole frames waiting.
    public var framesQueued: Int { count / frameBytes }

    /// Nothing waits, audio or marker.
    public var isEmpty: Bool { count == 0 && markers.isEmpty }

    /// Queues audio bytes. Returns how many did not fit and were dropped.
    @discardableResult
    public mutating func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let accepted = min(bytes.count, capacityBytes - count)
        if accepted > 0 {
            reserve(count + accepted)
            var tail = (head + count) % storage.count
            var i = 0
            while i < accepted {
                let n = min(accepted - i, storage.count - tail)
                storage.withUnsafeMutableBytes { dst in
                    dst.baseAddress!.advanced(by: tail).copyMemory(from: bytes.baseAddress!.advanced(by: i), byteCount: n)
                }
                i += n
                tail = (tail + n) % storage.count
            }
            count += accepted
            written += accepted
        }
        return bytes.count - accepted
    }

    /// Queues a marker after the audio queued so far.
    public mutating func appendMarker(_ payload: String) {
        markers.append((written, payload))
    }

    /// Takes the next 20 ms frame into `frame` (`frameBytes` long). A final partial frame is taken only
    /// when `padding` (the rest is zeros, whole samples only: an odd last byte is dropped). False when no
    /// frame is taken.
    public mutating func takeFrame(into frame: UnsafeMutableRawBufferPointer, padding: Bool) -> Bool {
        precondition(frame.count == frameBytes)
        guard count >= frameBytes || (padding && count > 0) else { return false }
        let n = min(count, frameBytes)
        copyWaiting(n, into: frame)
        if n < frameBytes {
            let whole = n & ~1
            frame.baseAddress!.advanced(by: whole).initializeMemory(as: UInt8.self, repeating: 0, count: frameBytes - whole)
        }
        head = (head + n) % max(1, storage.count)
        count -= n
        taken += n
        return true
    }

    /// The payloads of the markers playout has reached, oldest first (removed from the queue).
    public mutating func reachedMarkers() -> [String] {
        guard let first = markers.first, first.position <= taken else { return [] }
        let reached = markers.prefix { $0.position <= taken }.map(\.payload)
        markers.removeFirst(reached.count)
        return reached
    }

    /// Drops every byte waiting. Returns how many, and the payloads of the markers that were pending.
    public mutating func clear() -> (droppedBytes: Int, markers: [String]) {
        let dropped = count
        taken += count
        head = 0
        count = 0
        let pending = markers.map(\.payload)
        markers.removeAll()
        return (dropped, pending)
    }

    /// Grows the ring to hold `needed` bytes (doubling, up to the capacity), keeping what waits in order.
    private mutating func reserve(_ needed: Int) {
        guard needed > storage.count else { return }
        var size = max(storage.count, 4 * frameBytes)
        while size < needed { size *= 2 }
        size = min(size, capacityBytes)
        var grown = [UInt8](repeating: 0, count: size)
        grown.withUnsafeMutableBytes { copyWaiting(count, into: $0) }
        storage = grown
        head = 0
    }

    /// Copies the oldest `n` waiting bytes, across the ring's end, to the start of `destination`.
    private func copyWaiting(_ n: Int, into destination: UnsafeMutableRawBufferPointer) {
        storage.withUnsafeBytes { src in
            var copied = 0
            while copied < n {
                let start = (head + copied) % src.count
                let chunk = min(n - copied, src.count - start)
                destination.baseAddress!.advanced(by: copied).copyMemory(from: src.baseAddress!.advanced(by: start), byteCount: chunk)
                copied += chunk
            }
        }
    }
}
