import Foundation

/// A control API request's JSON object, read field by field: every field that is there is checked, and
/// each problem is kept (name and reason) for one 400 that names them all.
struct RequestBody {
    let fields: [String: JSONValue]
    private(set) var problems: [(String, String)] = []
    /// The prefix of the names reported (`destination.ncco[1].`).
    let path: String

    /// Parses `bytes` as a JSON object (an empty body is an empty object).
    init(bytes: [UInt8]) throws(APIError) {
        guard !bytes.isEmpty else {
            self.init(fields: [:])
            return
        }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            throw APIError.invalid([("body", "is not valid JSON")])
        }
        guard case .object(let fields) = value else { throw APIError.invalid([("body", "must be a JSON object")]) }
        self.init(fields: fields)
    }

    init(fields: [String: JSONValue], path: String = "") {
        self.fields = fields
        self.path = path
    }

    /// The object `fields` read under `name` (a nested object's fields report as `name.field`).
    func nested(_ fields: [String: JSONValue], at name: String) -> RequestBody {
        RequestBody(fields: fields, path: path + name + ".")
    }

    mutating func problem(_ name: String, _ reason: String) {
        problems.append((path + name, reason))
    }

    mutating func absorb(_ other: RequestBody) {
        problems += other.problems
    }

    /// Throws a 400 naming every problem found so far.
    func check() throws(APIError) {
        guard problems.isEmpty else { throw APIError.invalid(problems) }
    }

    /// The field's value; a missing field is nil (a problem when required), and so is a JSON `null`,
    /// which is always a problem: a field is either given a value or left out.
    private mutating func value(_ name: String, required: Bool) -> JSONValue? {
        guard let value = fields[name] else {
            if required { problem(name, "is required") }
            return nil
        }
        guard value != .null else {
            problem(name, "must not be null (leave it out instead)")
            return nil
        }
        return value
    }

    /// Whether `text` is an http(s) URL Patchbay will fetch: a host of letters, digits, dots and
    /// dashes, an optional port, and a path and query of URL characters (no spaces, no escapes).
    static func isFetchableURL(_ text: String) -> Bool {
        text.range(of: urlPattern(schemes: "https?"), options: .regularExpression) != nil && URL(string: text) != nil
    }

    /// The pattern `isFetchableURL` checks (also in the OpenAPI document), for `schemes` (a regex).
    static func urlPattern(schemes: String) -> String {
        "^\(schemes)://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(\\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$"
    }

    mutating func string(_ name: String, required: Bool = false) -> String? {
        guard let value = value(name, required: required) else { return nil }
        guard case .string(let text) = value else {
            problem(name, "must be a string")
            return nil
        }
        return text
    }

    /// An integer within `range` (numbers with a fraction are refused).
    mutating func integer(_ name: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = value(name, required: false) else { return nil }
        guard case .number(let x) = value, x.rounded() == x, abs(x) < 1e15 else {
            problem(name, "must be an integer")
            return nil
        }
        guard range.contains(Int(x)) else {
            problem(name, "must be \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return Int(x)
    }

    mutating func number(_ name: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = value(name, required: false) else { return nil }
        guard case .number(let x) = value else {
            problem(name, "must be a number")
            return nil
        }
        guard range.contains(x) else {
            problem(name, "must be \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return x
    }

    mutating func boolean(_ name: String) -> Bool? {
        guard let value = value(name, required: false) else { return nil }
        guard case .bool(let b) = value else {
            problem(name, "must be true or false")
            return nil
        }
        return b
    }

    /// A list of strings; a single string counts as a list of one.
    mutating func strings(_ name: String, required: Bool = false) -> [String]? {
        guard let value = value(name, required: required) else { return nil }
        if case .string(let one) = value { return [one] }
        guard case .array(let list) = value else {
            problem(name, "must be a list of strings")
            return nil
        }
        var strings: [String] = []
        for item in list {
            guard case .string(let s) = item else {
                problem(name, "must be a list of strings")
                return nil
            }
            strings.append(s)
        }
        return strings
    }

    /// A list of objects.
    mutating func objects(_ name: String, required: Bool = false) -> [[String: JSONValue]]? {
        guard let value = value(name, required: required) else { return nil }
        guard case .array(let list) = value else {
            problem(name, "must be a list of objects")
            return nil
        }
        var objects: [[String: JSONValue]] = []
        for item in list {
            guard case .object(let o) = item else {
                problem(name, "must be a list of objects")
                return nil
            }
            objects.append(o)
        }
        return objects
    }

    mutating func object(_ name: String, required: Bool = false) -> [String: JSONValue]? {
        guard let value = value(name, required: required) else { return nil }
        guard case .object(let object) = value else {
            problem(name, "must be an object")
            return nil
        }
        return object
    }
}
