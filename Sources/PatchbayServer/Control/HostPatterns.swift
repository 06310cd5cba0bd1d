import Foundation

/// `api.allowed_websocket_hosts`: where the control API may make Patchbay dial. Each pattern is a host
/// (`ai.example.com`, `10.0.0.7`), optionally with a port (`ai.example.com:8443`), or a wildcard for
/// the subdomains of a domain (`*.example.com`, which does not match `example.com` itself); `*` allows
/// any host. Hosts compare without case. No patterns: the API dials nowhere.
struct HostPatterns: Sendable, Equatable {
    struct Pattern: Sendable, Equatable {
        /// Lower case; `*.example.com` is kept as `.example.com` with `wildcard` set.
        let host: String
        let wildcard: Bool
        let port: Int?
    }

    let patterns: [Pattern]

    init(_ texts: [String]) {
        patterns = texts.compactMap(Self.parse)
    }

    /// Why a pattern cannot be used, or nil when it can (for the configuration's validation).
    static func problem(with text: String) -> String? {
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

    /// Whether a `ws://` or `wss://` URI's host (and port: 80 and 443 when it has none) is allowed.
    func allows(_ uri: String) -> Bool {
        guard let url = URL(string: uri), let host = url.host?.lowercased(), !host.isEmpty else { return false }
        let port = url.port ?? (url.scheme?.lowercased() == "wss" ? 443 : 80)
        return patterns.contains { p in
            if let expected = p.port, expected != port { return false }
            if p.wildcard { return p.host.isEmpty || host.hasSuffix(p.host) }
            return host == p.host
        }
    }
}
