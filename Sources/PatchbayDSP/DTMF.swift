#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The DTMF keypad: row and column frequencies and the 16 symbols.
public enum DTMF {
    /// Low-group (row) frequencies in Hz.
    public static let rowFrequencies: [Double] = [697, 770, 852, 941]
    /// High-group (column) frequencies in Hz.
    public static let columnFrequencies: [Double] = [1209, 1336, 1477, 1633]
    /// The keypad, row by row.
    public static let keypad: [Character] = ["1", "2", "3", "A", "4", "5", "6", "B", "7", "8", "9", "C", "*", "0", "#", "D"]

    /// The (row, column) of a digit, or nil when it is not a DTMF symbol. Accepts a-d as A-D.
    public static func position(of digit: Character) -> (row: Int, column: Int)? {
        let upper: Character =
            switch digit {
            case "a": "A"
            case "b": "B"
            case "c": "C"
            case "d": "D"
            default: digit
            }
        guard let i = keypad.firstIndex(of: upper) else { return nil }
        return (i / 4, i % 4)
    }

    /// Peak amplitude of a sine at `dBm0` in PCM16, taking a full-scale sine as +3.14 dBm0 (G.711).
    public static func amplitude(dBm0: Double) -> Double {
        32767 * pow(10, (dBm0 - 3.14) / 20)
    }

    /// The level in dBm0 of a sine of peak `amplitude` in PCM16.
    public static func dBm0(amplitude: Double) -> Double {
        20 * log10(amplitude / 32767) + 3.14
    }
}
