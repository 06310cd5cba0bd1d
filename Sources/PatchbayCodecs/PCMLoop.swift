/// Plays a decoded clip into 20 ms frames: once, N times or forever, then silence.
///
/// Each `fill` copies the next samples into the caller's frame, running straight on from the end of
/// the clip to its start between plays, and zero-pads the frame once the last play ends. `fill`
/// allocates nothing.
public struct PCMLoop: Sendable {
    /// What a `fill` did.
    public enum Fill: Sendable, Equatable {
        /// The frame is all audio and more follows.
        case playing
        /// The last play ended in this frame after `samples` samples of audio (the rest is zeros).
        /// Reported exactly once.
        case finished(samples: Int)
        /// The loop had already finished: the frame is all zeros.
        case silent
    }

    /// The clip.
    public let samples: [Int16]
    /// How many times the clip plays; 0 plays it forever.
    public let loopCount: Int
    /// The next sample of the clip to play.
    public private(set) var position = 0
    /// Plays completed so far.
    public private(set) var completedPlays = 0
    /// True once the last play has ended (an empty clip is finished at once).
    public private(set) var isFinished = false

    /// Creates a loop that plays `samples` `loopCount` times (0: forever, like the Voice API's `loop`).
    public init(samples: [Int16], loopCount: Int = 1) {
        precondition(loopCount >= 0, "loop count must be 0 (forever) or more")
        self.samples = samples
        self.loopCount = loopCount
    }

    /// Fills `frame` with the next samples, zero-padding after the last play.
    @discardableResult
    public mutating func fill(_ frame: UnsafeMutableBufferPointer<Int16>) -> Fill {
        if isFinished {
            frame.update(repeating: 0)
            return .silent
        }
        var written = 0
        var position = self.position
        var plays = completedPlays
        let loopCount = self.loopCount
        samples.withUnsafeBufferPointer { clip in
            while written < frame.count && !clip.isEmpty && (loopCount == 0 || plays < loopCount) {
                let n = min(frame.count - written, clip.count - position)
                _ = UnsafeMutableBufferPointer(rebasing: frame[written..<(written + n)])
                    .update(fromContentsOf: UnsafeBufferPointer(rebasing: clip[position..<(position + n)]))
                written += n
                position += n
                if position == clip.count {
                    position = 0
                    plays += 1
                }
            }
        }
        self.position = position
        completedPlays = plays
        guard samples.isEmpty || (loopCount != 0 && plays == loopCount) else { return .playing }
        UnsafeMutableBufferPointer(rebasing: frame[written...]).update(repeating: 0)
        isFinished = true
        return .finished(samples: written)
    }
}
