public import Foundation

/// Strict decoding for configuration: an object whose key no `CodingKeys` case names is refused, so a
/// misspelt key is an error and not a silent default. The known keys are the type's own `CodingKeys` —
/// there is no second table to keep in step. Lenient unless the decoder's `userInfo` asks
/// (`KnownKeys.strict`): the control API takes endpoint objects with fields it does not know, as the Voice
/// API does.
public enum KnownKeys {
    /// Set to `true` in a decoder's `userInfo` to refuse unknown keys.
    public static let strict = CodingUserInfoKey(rawValue: "patchbay.knownKeys.strict")!

    /// Any key of a JSON object.
    public struct AnyKey: CodingKey {
        public let stringValue: String
        public let intValue: Int?
        public init(stringValue: String) {
            self.stringValue = stringValue
            intValue = nil
        }
        public init(intValue: Int) {
            stringValue = "\(intValue)"
            self.intValue = intValue
        }
    }

    /// A key no part of the configuration knows, at `codingPath` (its last element is the key).
    public struct UnknownKey: Error, Equatable, CustomStringConvertible {
        /// Where, as a path: `routes[0].stream.stream_ur`.
        public let path: String
        public var description: String { "unknown key \"\(path)\"" }
    }

    /// `limits.drain_seconds`, `routes[1].connect[0].uri`; "the top level" for an empty path.
    public static func path(_ codingPath: [any CodingKey]) -> String {
        guard !codingPath.isEmpty else { return "the top level" }
        var text = ""
        for key in codingPath {
            if let i = key.intValue {
                text += "[\(i)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text
    }
}

extension Decoder {
    /// Throws `KnownKeys.UnknownKey` for the first key (in sorted order) of this object that `Keys` does
    /// not list, when the decoder is strict (`KnownKeys.strict`).
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        guard userInfo[KnownKeys.strict] as? Bool == true else { return }
        let container = try container(keyedBy: KnownKeys.AnyKey.self)
        let known = Set(Keys.allCases.map(\.stringValue))
        guard let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) else { return }
        throw KnownKeys.UnknownKey(path: KnownKeys.path(codingPath + [KnownKeys.AnyKey(stringValue: unknown)]))
    }
}
