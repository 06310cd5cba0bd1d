import Foundation
import PatchbayVoiceAPI

/// JSON text from the control API's answers and events (`[String: Any]` trees of `String`, `Bool`,
/// `Int`, `Double`, arrays, objects, `JSONValue` and `NSNull`), written directly: `JSONSerialization`
/// on Linux bridges every dictionary and array to Foundation objects first, which was half of a
/// `GET /v1/calls`'s time (BENCHMARKS.md, "The control API"). Keys are sorted; `/` is not escaped.
enum JSONText {
    static func encode(_ value: Any) -> String {
        var out = ""
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    private static func write(_ value: Any, into out: inout String) {
        switch value {
        case let text as String: writeString(text, into: &out)
        case let flag as Bool: out += flag ? "true" : "false"
        case let n as Int: out += String(n)
        case let n as Int64: out += String(n)
        case let n as UInt16: out += String(n)
        case let x as Double: writeNumber(x, into: &out)
        case let json as JSONValue: write(json, into: &out)
        case let object as [String: Any]:
            out += "{"
            for (i, key) in object.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                writeString(key, into: &out)
                out += ":"
                write(object[key]!, into: &out)
            }
            out += "}"
        case let array as [Any]:
            out += "["
            for (i, item) in array.enumerated() {
                if i > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        default:
            out += "null"  // NSNull, and anything that has no JSON form
        }
    }

    private static func write(_ value: JSONValue, into out: inout String) {
        switch value {
        case .string(let s): writeString(s, into: &out)
        case .number(let x): writeNumber(x, into: &out)
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items): write(items as [Any], into: &out)
        case .object(let fields): write(fields as [String: Any], into: &out)
        }
    }

    private static func writeNumber(_ x: Double, into out: inout String) {
        guard x.isFinite else {
            out += "null"
            return
        }
        if x == x.rounded(), abs(x) < 1e15 {
            out += String(Int64(x))
        } else {
            out += "\(x)"
        }
    }

    private static func writeString(_ text: String, into out: inout String) {
        out += "\""
        var plain = true
        for unit in text.utf8 where unit < 0x20 || unit == 0x22 || unit == 0x5C {
            plain = false
            break
        }
        if plain {
            out += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
