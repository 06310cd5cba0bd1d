import Foundation

/// An allow list of hosts, such as `api.allowed_websocket_hosts` (where the control API may make Patchbay
/// dial). Each pattern is a host (`ai.example.com`, `10.0.0.7`), optionally with a port
/// (`ai.example.com:8443`), or a wildcard for the subdomains of a domain (`*.example.com`, which does not
/// match `example.com` itself); `*` allows any host. Hosts compare without case. No patterns: nowhere.
public struct HostPatterns: Sendable, Equatable {
    public struct Pattern: Sendable, Equatable {
        /// Lower case; `*.example.com` is kept as `.example.com` with `wildcard` set.
        public let host: String
        public let wildcard: Bool
        public let port: Int?
    }

    public let patterns: [Pattern]

    public init(_ texts: [String]) {
        patterns = texts.compactMap(Self.parse)
    }

    /// Why a pattern cannot be used, or nil when it can (for the configuration's validation).
    public static func problem(with text: String) -> String? {
        parse(text) == nil ? "\"\(text)\" is not a host, host:port, *.domain or *" : nil
    }

    private static func parse(_ text: String) -> Pattern? {
        let text = text.lowercased()
        if text == "*" { return Pattern(host: "", wildcard: true, port: nil) }
        var host = Substring(text)
        var port: Int?
        if let colon = text.lastIndex(of: ":"), !text.hasSuffix("]"), text.firstIndex(of: ":") == colon {
            guard let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            host = text[..<colon]
        }
        let wildcard = host.hasPrefix("*.")
        if wildcard { host = host.dropFirst(1) }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-.[]:")
        guard !host.isEmpty, host != ".", host.allSatisfy(allowed.contains), !host.dropFirst(wildcard ? 1 : 0).contains("*")
        else { return nil }
        return Pattern(host: String(host), wildcard: wildcard, port: port)
    }

    /// Whether a URI's host (and port: 443 for `wss` and `https` when it has none, else 80) is allowed.
    public func allows(_ uri: String) -> Bool {
        guard let url = URL(string: uri), let host = url.host?.lowercased(), !host.isEmpty else { return false }
        let port = url.port ?? (["wss", "https"].contains(url.scheme?.lowercased() ?? "") ? 443 : 80)
        return patterns.contains { p in
            if let expected = p.port, expected != port { return false }
            if p.wildcard { return p.host.isEmpty || host.hasSuffix(p.host) }
            return host == p.host
        }
    }
}
