public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Times as the Voice API writes them in call objects and events: `2024-04-19T01:34:18.000Z`.
public enum VoiceAPITime {
    /// `2024-04-19T01:34:18.000Z`, as the Voice API writes times.
    /// Made by hand: an `ISO8601DateFormatter` costs a locale and an ICU formatter to make, which was
    /// most of a list request's time (BENCHMARKS.md).
    public static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
        let millis = Int(milliseconds - Int64(seconds) * 1000)
        var t = tm()
        gmtime_r(&seconds, &t)
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return digits(Int(t.tm_year) + 1900, 4) + "-" + digits(Int(t.tm_mon) + 1, 2) + "-" + digits(Int(t.tm_mday), 2) + "T"
            + digits(Int(t.tm_hour), 2) + ":" + digits(Int(t.tm_min), 2) + ":" + digits(Int(t.tm_sec), 2) + "."
            + digits(millis, 3) + "Z"
    }

    /// An ISO 8601 time, with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }
}
