import Foundation

/// Fields that did not validate: each one's name (a path such as `destination.ncco[2].text`) and why.
/// The control API answers it as one 400 that names them all.
public struct InvalidParameters: Error, Equatable, Sendable {
    public var problems: [Problem]

    public struct Problem: Equatable, Sendable {
        public var name: String
        public var reason: String

        public init(name: String, reason: String) {
            self.name = name
            self.reason = reason
        }
    }

    public init(_ problems: [(String, String)]) {
        self.problems = problems.map { Problem(name: $0.0, reason: $0.1) }
    }
}

/// A JSON object (a request body, an NCCO action) read field by field: every field that is there is
/// checked, and each problem is kept (name and reason), so one answer can name them all.
public struct FieldReader: Sendable {
    public let fields: [String: JSONValue]
    public private(set) var problems: [(String, String)] = []
    /// The prefix of the names reported (`destination.ncco[1].`).
    public let path: String

    /// Parses `bytes` as a JSON object (an empty body is an empty object).
    public init(json bytes: [UInt8]) throws(InvalidParameters) {
        guard !bytes.isEmpty else {
            self.init(fields: [:])
            return
        }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            throw InvalidParameters([("body", "is not valid JSON")])
        }
        guard case .object(let fields) = value else { throw InvalidParameters([("body", "must be a JSON object")]) }
        self.init(fields: fields)
    }

    public init(fields: [String: JSONValue], path: String = "") {
        self.fields = fields
        self.path = path
    }

    /// The object `fields` read under `name` (a nested object's fields report as `name.field`).
    public func nested(_ fields: [String: JSONValue], at name: String) -> FieldReader {
        FieldReader(fields: fields, path: path + name + ".")
    }

    public mutating func problem(_ name: String, _ reason: String) {
        problems.append((path + name, reason))
    }

    public mutating func absorb(_ other: FieldReader) {
        problems += other.problems
    }

    /// Throws every problem found so far.
    public func check() throws(InvalidParameters) {
        guard problems.isEmpty else { throw InvalidParameters(problems) }
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
    public static func isFetchableURL(_ text: String) -> Bool {
        text.range(of: urlPattern(schemes: "https?"), options: .regularExpression) != nil && URL(string: text) != nil
    }

    /// The pattern `isFetchableURL` checks (also in the OpenAPI document), for `schemes` (a regex).
    public static func urlPattern(schemes: String) -> String {
        "^\(schemes)://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(\\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$"
    }

    public mutating func string(_ name: String, required: Bool = false) -> String? {
        guard let value = value(name, required: required) else { return nil }
        guard case .string(let text) = value else {
            problem(name, "must be a string")
            return nil
        }
        return text
    }

    /// An integer within `range` (numbers with a fraction are refused).
    public mutating func integer(_ name: String, in range: ClosedRange<Int>) -> Int? {
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

    public mutating func number(_ name: String, in range: ClosedRange<Double>) -> Double? {
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

    public mutating func boolean(_ name: String) -> Bool? {
        guard let value = value(name, required: false) else { return nil }
        guard case .bool(let b) = value else {
            problem(name, "must be true or false")
            return nil
        }
        return b
    }

    /// A list of strings; a single string counts as a list of one.
    public mutating func strings(_ name: String, required: Bool = false) -> [String]? {
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
    public mutating func objects(_ name: String, required: Bool = false) -> [[String: JSONValue]]? {
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

    public mutating func object(_ name: String, required: Bool = false) -> [String: JSONValue]? {
        guard let value = value(name, required: required) else { return nil }
        guard case .object(let object) = value else {
            problem(name, "must be an object")
            return nil
        }
        return object
    }
}
