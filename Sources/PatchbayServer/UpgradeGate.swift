import NIOHTTP1

/// Decides whether an HTTP request may become a websocket leg, and why not.
struct UpgradeGate: Sendable {
    enum Verdict: Equatable {
        case accept(ServerConfiguration.Route)
        case unknownPath
        case unauthorized
        case overCapacity
    }

    let routes: [String: ServerConfiguration.Route]
    let token: String?
    let maxLegs: Int

    init(configuration: ServerConfiguration) {
        routes = Dictionary(configuration.routes.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        token = configuration.auth.token
        maxLegs = configuration.limits.maxLegs
    }

    /// The path of a request URI without its query.
    static func path(of uri: String) -> String {
        String(uri.prefix { $0 != "?" })
    }

    func verdict(for head: HTTPRequestHead, openConnections: Int) -> Verdict {
        guard let route = routes[Self.path(of: head.uri)] else { return .unknownPath }
        if let token {
            guard let presented = head.headers.first(name: "authorization"), Self.matches(presented, token) else {
                return .unauthorized
            }
        }
        guard openConnections < maxLegs else { return .overCapacity }
        return .accept(route)
    }

    /// `Bearer <token>` or the bare token, compared in constant time.
    private static func matches(_ presented: String, _ token: String) -> Bool {
        var value = Substring(presented)
        if value.lowercased().hasPrefix("bearer ") { value = value.dropFirst(7) }
        let a = Array(value.utf8)
        let b = Array(token.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
