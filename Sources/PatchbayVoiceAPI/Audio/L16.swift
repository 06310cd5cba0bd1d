/// The audio on every websocket leg: 16-bit signed linear PCM, mono, little-endian (`audio/l16`), in
/// 20 ms messages — and the one table of the rates Patchbay carries.
public enum L16 {
    /// Every rate Patchbay carries, and whether a call may stream at it. The Voice API streams calls at
    /// 8, 16 or 24 kHz; a service Patchbay dials may also take 48 kHz. Every other list of rates (the
    /// engine's legs, the content types a caller or an endpoint may name, the tools' options) is this one.
    public static let table: [(hertz: Int, calls: Bool)] = [
        (8000, true), (16000, true), (24000, true), (48000, false),
    ]

    /// The rates a call streams at (`websocket:connected` from the Voice API).
    public static let callRates = table.filter(\.calls).map(\.hertz)

    /// Every rate a leg may have (a call's, or a service's).
    public static let rates = table.map(\.hertz)

    /// Bytes in one 20 ms message at `rate`.
    public static func frameBytes(rate: Int) -> Int { 2 * rate / 50 }

    /// Samples in one 20 ms frame at `rate`.
    public static func frameSamples(rate: Int) -> Int { rate / 50 }

    /// `audio/l16;rate=16000`.
    public static func contentType(rate: Int) -> String { "audio/l16;rate=\(rate)" }

    /// "8000, 16000 or 24000".
    public static func list(_ rates: [Int]) -> String {
        guard let last = rates.last else { return "" }
        let head = rates.dropLast().map(String.init).joined(separator: ", ")
        return head.isEmpty ? "\(last)" : "\(head) or \(last)"
    }

    /// Why a content type was refused.
    public enum ContentTypeError: Error, Equatable, CustomStringConvertible {
        case notL16(String)
        case noRate(String)
        case unsupportedRate(String, allowed: [Int])

        public var description: String {
            switch self {
            case .notL16(let text): "unsupported content-type \"\(text)\": only audio/l16 is accepted"
            case .noRate(let text): "content-type \"\(text)\" has no rate"
            case .unsupportedRate(let text, let allowed): "unsupported rate in \"\(text)\": \(list(allowed))"
            }
        }
    }

    /// The rate of `audio/l16;rate=16000` (case and spaces do not matter; other parameters are ignored),
    /// if it is one of `allowed`.
    public static func rate(ofContentType text: String, allowed: [Int] = callRates) throws(ContentTypeError) -> Int {
        let parts = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard parts.first == "audio/l16" else { throw .notL16(text) }
        for p in parts.dropFirst() where p.hasPrefix("rate=") {
            guard let rate = Int(p.dropFirst(5)), allowed.contains(rate) else { throw .unsupportedRate(text, allowed: allowed) }
            return rate
        }
        throw .noRate(text)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> Substring {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return s
    }
}

extension Set where Element == Character {
    fileprivate static let whitespaces: Set<Character> = [" ", "\t"]
}
