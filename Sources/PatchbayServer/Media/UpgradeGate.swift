import NIOHTTP1
import PatchbayAuth
import PatchbayConfiguration

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
    let jwt: HS256JWT?
    let maxLegs: Int

    init(configuration: ServerConfiguration) {
        routes = Dictionary(configuration.routes.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        token = configuration.auth.token
        jwt = configuration.auth.jwtSecret.map {
            HS256JWT(secret: $0, maximumAge: configuration.auth.jwtMaxAgeSeconds ?? 600)
        }
        maxLegs = configuration.limits.maxLegs
    }

    /// The path of a request URI without its query.
    static func path(of uri: String) -> String {
        var target = Substring(uri)
        // An absolute-form target (a client behind a proxy): its path (RFC 9112, 3.2.2).
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            let rest = target.dropFirst(scheme.count)
            target = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        return String(target.prefix { $0 != "?" })
    }

    func verdict(for head: HTTPRequestHead, openConnections: Int) -> Verdict {
        guard let route = routes[Self.path(of: head.uri)] else { return .unknownPath }
        if token != nil || jwt != nil {
            guard let presented = head.headers.first(name: "authorization"), authorizes(presented) else {
                return .unauthorized
            }
        }
        guard openConnections < maxLegs else { return .overCapacity }
        return .accept(route)
    }

    /// The static token (bearer or bare), or a valid bearer JWT.
    private func authorizes(_ presented: String) -> Bool {
        var value = Substring(presented)
        if value.lowercased().hasPrefix("bearer ") { value = value.dropFirst(7) }
        if let token, Self.constantTimeEqual(value, token) { return true }
        if let jwt, (try? jwt.verify(String(value))) != nil { return true }
        return false
    }

    private static func constantTimeEqual(_ value: Substring, _ token: String) -> Bool {
        let a = Array(value.utf8)
        let b = Array(token.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
