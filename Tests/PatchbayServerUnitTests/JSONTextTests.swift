import Foundation
import PatchbayVoiceAPI
import Testing

@testable import PatchbayServer

/// The control API's JSON, written by hand for speed, against Foundation's own.
@Suite struct JSONTextTests {
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
}
