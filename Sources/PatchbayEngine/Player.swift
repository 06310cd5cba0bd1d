public import Foundation
public import PatchbayCodecs
public import PatchbayDSP

/// Audio played into one leg: a decoded clip (looped) or DTMF tones, at the leg's rate, with a level.
///
/// Owned by the leg's shard and rendered on its tick; everything it plays was decoded and resampled
/// before it got here, so rendering copies or synthesises samples and allocates nothing.
public final class Player {
    public enum Source {
        /// A decoded file or stream, already at the leg's rate.
        case clip(PCMLoop)
        /// DTMF digits, synthesised at the leg's rate as they play.
        case tones(DTMFGenerator)
    }

    public let id: UUID
    public let level: Level
    private var source: Source

    public enum Kind: String, Sendable {
        /// A wav or mp3 (the control API's stream).
        case stream
        /// DTMF tones.
        case dtmf
        /// Synthesised speech (the control API's talk).
        case talk
    }

    /// - Parameter kind: what the player is, for stopping players by kind (default: `stream` for a
    ///   clip, `dtmf` for tones; speech is a clip of kind `talk`).
    public init(id: UUID = UUID(), source: Source, level: Level = .unity, kind: Kind? = nil) {
        self.id = id
        self.level = level
        self.source = source
        switch source {
        case .clip: self.kind = kind ?? .stream
        case .tones: self.kind = kind ?? .dtmf
        }
    }

    /// What kind of player this is, for stopping players by kind.
    public let kind: Kind

    /// Renders the next `frame.count` samples (zeros after the end).
    /// - Returns: true once the player has nothing more to play.
    func render(into frame: UnsafeMutableBufferPointer<Int16>) -> Bool {
        switch source {
        case .clip(var loop):
            let fill = loop.fill(frame)
            source = .clip(loop)
            return fill != .playing
        case .tones(var generator):
            generator.render(into: frame)
            source = .tones(generator)
            return generator.isFinished
        }
    }
}

// A player is created on any thread, handed to a shard once, and from then on touched only there.
extension Player: @unchecked Sendable {}
