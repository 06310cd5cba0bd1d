#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Why a level was refused.
public enum LevelError: Error, Equatable, CustomStringConvertible {
    case outOfRange(Double)

    public var description: String {
        switch self {
        case .outOfRange(let v): "level \(v) is outside -1...1"
        }
    }
}

/// The Voice API's `level` (-1...1) as a gain: `gain = 10^level`, i.e. 20 dB per unit.
///
/// - `0` is unity and is bit-exact: the samples are not touched at all.
/// - `-1` is -20 dB (x0.1), `-0.5` is -10 dB, `0.1` is +2 dB, `1` is +20 dB (x10).
///
/// Positive levels saturate at full scale instead of wrapping. The gain is applied in Q16 fixed point
/// with rounding to nearest, so the result is the same on every host.
public struct Level: Sendable, Equatable, CustomStringConvertible {
    /// The level as given, -1...1.
    public let value: Double
    /// The linear gain, `10^value`.
    public let gain: Double
    /// The gain in Q16 fixed point (65536 = unity).
    @usableFromInline let gainQ16: Int64

    /// Unity: leaves samples untouched.
    public static let unity = Level(uncheckedValue: 0)

    /// Creates a level from the Voice API's -1...1 scale.
    public init(_ value: Double) throws(LevelError) {
        guard value.isFinite, (-1.0...1.0).contains(value) else { throw .outOfRange(value) }
        self.init(uncheckedValue: value)
    }

    private init(uncheckedValue value: Double) {
        self.value = value
        self.gain = value == 0 ? 1 : pow(10, value)
        self.gainQ16 = Int64((gain * 65536).rounded())
    }

    /// The gain in decibels (20 x level).
    public var decibels: Double { 20 * value }

    /// True when applying this level changes nothing.
    @inlinable public var isUnity: Bool { gainQ16 == 65536 }

    public var description: String { "level \(value) (\(decibels) dB)" }

    /// Scales `samples` in place, saturating at the PCM16 limits.
    @inlinable
    public func apply(to samples: UnsafeMutableBufferPointer<Int16>) {
        if isUnity { return }
        let g = gainQ16
        for i in samples.indices {
            let v = (Int64(samples[i]) &* g &+ 32768) >> 16
            samples[i] = Int16(clamping: v)
        }
    }
}
