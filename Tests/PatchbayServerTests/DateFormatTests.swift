import Foundation
import Testing

@testable import PatchbayServer

/// The control API's times and JSON, written by hand for speed, against Foundation's own.
@Suite struct DateFormatTests {
    @Test("JSONText writes JSON that Foundation reads back as written: escapes, numbers, nesting, JSONValue")
    func json() throws {
        let tree: [String: Any] = [
            "text": "quote \" backslash \\ newline \n tab \t bell \u{07} slash / é 𝄞", "int": -42, "big": 1_700_000_000_123,
            "double": 0.25, "whole": 3.0, "flag": true, "off": false, "null": NSNull(), "list": [1, "two", [3.5]],
            "nested": ["a": ["b": "c"]], "value": JSONValue.object(["k": .array([.number(1.5), .bool(true), .null, .string("v")])]),
        ]
        let text = JSONText.encode(tree)
        let back = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(back["text"] as? String == tree["text"] as? String)
        #expect(back["int"] as? Int == -42 && back["big"] as? Int == 1_700_000_000_123)
        #expect(back["double"] as? Double == 0.25 && back["whole"] as? Int == 3)
        #expect(back["flag"] as? Bool == true && back["off"] as? Bool == false && back["null"] is NSNull)
        #expect(((back["nested"] as? [String: Any])?["a"] as? [String: Any])?["b"] as? String == "c")
        let value = (back["value"] as? [String: Any])?["k"] as? [Any]
        #expect(value?.count == 4 && value?[0] as? Double == 1.5 && value?[3] as? String == "v")
        #expect(text.hasPrefix("{\"big\":"), "keys sorted")
        #expect(text.contains("slash / é"), "slashes and UTF-8 as they are")
    }

    @Test("formatDate writes what ISO8601DateFormatter writes (UTC, milliseconds), and parseDate reads it back")
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
            #expect(ControlAPI.formatDate(date) == reference.string(from: date), "\(date.timeIntervalSince1970)")
            let back = ControlAPI.parseDate(ControlAPI.formatDate(date))
            #expect(back.map { abs($0.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.001 } == true)
        }
    }
}
