import Foundation
import PatchbayCodecs
import PatchbayDSP
import PatchbayEngine

/// Turns one recording's tracks into its file, off the shards: at each `drain` it writes every 20 ms
/// frame of the recording's clock that all live tracks have reached (or that is `patience` frames old:
/// a track that has not reached it is silent there), each track resampled to the file's rate and
/// mixed into its channel.
///
/// Touched only on its encoder queue (`Recordings`).
final class RecordingEncoder {
    /// How the tracks become channels.
    enum Layout: Equatable {
        /// Every track mixed into one channel.
        case mono
        /// Two channels: the leg's own audio, what it heard.
        case ownAndHeard
        /// `channels` channels: the recorded leg's own audio on the first, the other legs of its
        /// conversation on the next ones in the order they came, the ones beyond mixed into the last.
        case perLeg(channels: Int, first: UUID)

        var channels: Int {
            switch self {
            case .mono: 1
            case .ownAndHeard: 2
            case .perLeg(let n, _): n
            }
        }
    }

    /// Why the recording ended.
    enum End: Equatable {
        /// Its source is gone (the call or the conversation ended) or it was stopped.
        case sourceEnded
        /// `timeOut` passed.
        case timeOut
        /// `endOnSilence` seconds of silence on the leg.
        case silence
        /// The file could not be written, or the recording could not start (`failure` says why).
        case failed
    }

    private final class TrackState {
        let track: RecordingTrack
        let channel: Int
        var converter: RateConverter
        let frame: UnsafeMutableBufferPointer<Int16>
        let converted: UnsafeMutableBufferPointer<Int16>

        init(track: RecordingTrack, channel: Int, outputRate: Int) throws {
            self.track = track
            self.channel = channel
            converter = try RateConverter(from: track.sampleRate, to: outputRate)
            frame = .allocate(capacity: track.frameSamples)
            frame.initialize(repeating: 0)
            converted = .allocate(capacity: outputRate / 50)
            converted.initialize(repeating: 0)
        }

        deinit {
            frame.deallocate()
            converted.deallocate()
        }
    }

    /// The open file (a class, so the non-copyable writer can sit in an optional and be closed once).
    private final class File {
        var writer: AudioFileWriter?
        init(_ writer: consuming AudioFileWriter) { self.writer = consume writer }
    }

    let sink: RecordingSink
    let layout: Layout
    let sampleRate: Int
    let frameSamples: Int
    /// Frames written so far: the file's length, in 20 ms frames.
    private(set) var position: Int64 = 0
    /// Frames after which the recording ends (`timeOut`).
    let limitFrames: Int64
    /// Frames of silence on the recorded leg's own audio after which it ends (`endOnSilence`), and the
    /// leg.
    let silenceFrames: Int?
    let silenceLeg: UUID?
    private var silentRun = 0
    /// How many frames a live track may lag the recording's clock before its place is written silent.
    let patience: Int64
    private var states: [ObjectIdentifier: TrackState] = [:]
    private var order: [TrackState] = []
    private var perLegChannels: [UUID: Int] = [:]
    private let file: File
    private let mix: UnsafeMutableBufferPointer<Int32>
    private let interleaved: UnsafeMutableBufferPointer<Int16>
    /// Frames written silent in some track's place because the track fell behind (counted as lost).
    private(set) var framesLate = 0
    /// The first write error: the recording failed.
    private(set) var failure: String?

    /// A frame of −45 dBFS RMS or less is silence for `endOnSilence` (about 30 dB under speech at a
    /// normal level, above a telephone line's noise).
    static let silenceThreshold = 32767.0 * pow(10, -45.0 / 20)

    init(
        sink: RecordingSink, layout: Layout, path: String, format: AudioFileWriter.Format, sampleRate: Int, limitSeconds: Double,
        endOnSilence: Double?, silenceLeg: UUID?, patience: Int64 = 10
    ) throws(AudioFileWriterError) {
        self.sink = sink
        self.layout = layout
        self.sampleRate = sampleRate
        frameSamples = sampleRate / 50
        limitFrames = Int64((limitSeconds * 50).rounded())
        silenceFrames = endOnSilence.map { Int(($0 * 50).rounded()) }
        self.silenceLeg = silenceLeg
        self.patience = patience
        file = File(try AudioFileWriter(path: path, format: format, sampleRate: sampleRate, channels: layout.channels))
        mix = .allocate(capacity: frameSamples * layout.channels)
        mix.initialize(repeating: 0)
        interleaved = .allocate(capacity: frameSamples * layout.channels)
        interleaved.initialize(repeating: 0)
    }

    deinit {
        mix.deallocate()
        interleaved.deallocate()
    }

    /// Lost frames: dropped by full rings, and written silent because a track fell behind.
    var framesLost: Int { order.reduce(0) { $0 + $1.track.lost } + framesLate }

    /// Writes what is ready at `now` (the engine's clock, ns); with `final`, everything the tracks hold
    /// up to now. Returns why the recording ended, if it has.
    func drain(now: Int64, final: Bool = false) -> End? {
        adoptNewTracks()
        let clock = max(0, (now - sink.origin) / 20_000_000)
        while failure == nil {
            if position >= limitFrames { return .timeOut }
            let f = position
            var ready = true
            for state in order {
                while let place = state.track.nextWaiting, place < f { state.track.skip() }
                if state.track.nextWaiting == nil, !state.track.isEnded { ready = false }
            }
            // Nothing is written ahead of the clock; a frame waits for its tracks until it is `patience` old.
            if f > clock { break }
            if !ready, f + patience > clock, !final { break }
            if !ready, final, f >= clock { break }
            writeFrame(f)
            position += 1
            if let needed = silenceFrames, silentRun >= needed { return .silence }
        }
        if failure != nil { return .failed }
        if sink.sourceEnded || final {
            let waiting = order.contains { $0.track.nextWaiting != nil }
            if !waiting || final { return .sourceEnded }
        }
        return nil
    }

    /// Fails the recording (it could not start): the next `drain` ends it.
    func fail(_ reason: String) {
        if failure == nil { failure = reason }
    }

    /// Closes the file; nil, or why the end of it could not be written.
    func close() -> String? {
        guard let writer = file.writer.take() else { return failure }
        do {
            try writer.close()
        } catch {
            return failure ?? error.description
        }
        return failure
    }

    private func adoptNewTracks() {
        let tracks = sink.tracks
        guard tracks.count != order.count else { return }
        for track in tracks where states[ObjectIdentifier(track)] == nil {
            let channel: Int
            switch layout {
            case .mono: channel = 0
            case .ownAndHeard: channel = track.side == .own ? 0 : 1
            case .perLeg(let n, let first):
                if let known = perLegChannels[track.leg] {
                    channel = known
                } else if track.leg == first {
                    channel = 0
                } else {
                    let others = Set(perLegChannels.keys).subtracting([first]).count
                    channel = min(n - 1, 1 + others)
                }
                perLegChannels[track.leg] = channel
            }
            guard let state = try? TrackState(track: track, channel: channel, outputRate: sampleRate) else { continue }
            states[ObjectIdentifier(track)] = state
            order.append(state)
        }
    }

    private func writeFrame(_ f: Int64) {
        let channels = layout.channels
        mix.update(repeating: 0)
        var silentOwn = true
        var sawOwn = false
        for state in order {
            guard let place = state.track.nextWaiting else {
                if !state.track.isEnded { framesLate += 1 }
                continue
            }
            guard place == f else { continue }
            state.track.take(into: state.frame.baseAddress!)
            if let leg = silenceLeg, state.track.leg == leg, state.track.side == .own {
                sawOwn = true
                silentOwn = Self.rms(UnsafeBufferPointer(state.frame)) <= Self.silenceThreshold
            }
            state.converter.convert(UnsafeBufferPointer(state.frame), into: state.converted)
            let c = state.channel
            for i in 0..<frameSamples { mix[i * channels + c] &+= Int32(state.converted[i]) }
        }
        if silenceFrames != nil { silentRun = (silentOwn || !sawOwn) ? silentRun + 1 : 0 }
        for i in 0..<(frameSamples * channels) {
            interleaved[i] = Int16(clamping: mix[i])
        }
        do {
            try file.writer?.write(interleaved: UnsafeBufferPointer(interleaved))
        } catch {
            failure = error.description
        }
    }

    private static func rms(_ frame: UnsafeBufferPointer<Int16>) -> Double {
        var sum = 0.0
        for s in frame { sum += Double(s) * Double(s) }
        return (sum / Double(max(1, frame.count))).squareRoot()
    }
}
