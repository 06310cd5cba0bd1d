import Foundation
import PatchbayVoiceAPI
import Testing

/// The Voice API's times, written by hand for speed, against Foundation's own.
@Suite struct VoiceAPITimeTests {
    @Test("VoiceAPITime.format writes what ISO8601DateFormatter writes (UTC, milliseconds), and VoiceAPITime.parse reads it back")
    func sameAsFoundation() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_776_000_000.123), Date(timeIntervalSince1970: 951_782_400.999),
            Date(timeIntervalSince1970: -1.5), Date(timeIntervalSince1970: 4_102_444_799.5),
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: 0...4_102_444_800_000, using: &generator)) / 1000))
        }
        for date in dates {
            #expect(VoiceAPITime.format(date) == reference.string(from: date), "\(date.timeIntervalSince1970)")
            let back = VoiceAPITime.parse(VoiceAPITime.format(date))
            #expect(back.map { abs($0.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.001 } == true)
        }
    }
}
