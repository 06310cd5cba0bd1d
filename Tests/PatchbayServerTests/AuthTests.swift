import Crypto
import Foundation
import NIOCore
import PatchbayConfiguration
import PatchbayServer
import PatchbayVoiceAPI
import Testing

@testable import PatchbayServerTestSupport

/// The upgrade's `Authorization`: a bearer JWT signed like the Voice API's (HS256), or a static token.
@Suite struct AuthTests {
    static let secret = "a-voice-api-signature-secret"

    /// A compact JWT signed with HS256, built here independently of the server's code.
    static func jwt(_ claims: [String: Any], secret: String = secret, alg: String = "HS256") throws -> String {
        func b64(_ d: Data) -> String {
            d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let header = b64(Data(#"{"alg":"\#(alg)","typ":"JWT"}"#.utf8))
        let payload = b64(try JSONSerialization.data(withJSONObject: claims))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(payload)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "\(header).\(payload).\(b64(Data(mac)))"
    }

    static func claims(iat: Double = Date().timeIntervalSince1970, extra: [String: Any] = [:]) -> [String: Any] {
        var c: [String: Any] = [
            "iat": Int(iat), "jti": UUID().uuidString, "iss": "Vonage", "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            "api_key": "abcd1234",
        ]
        c.merge(extra) { _, new in new }
        return c
    }

    @Test("a JWT signed with the secret opens the upgrade; bad ones get 401")
    func jwtUpgrade() async throws {
        let gateway = try await RunningGateway.start { $0.auth.jwtSecret = Self.secret }
        let now = Date().timeIntervalSince1970
        let good = try Self.jwt(Self.claims())
        let peer = try await gateway.connect("/socket", headers: [("Authorization", "Bearer \(good)")])
        try await peer.sendConnected(rate: 8000)
        #expect(await gateway.waitForLegs(1).count == 1)
        await peer.close()

        let bad: [(String, String)] = [
            ("wrong secret", try Self.jwt(Self.claims(), secret: "another-secret-entirely")),
            ("alg none", try Self.jwt(Self.claims(), alg: "none")),
            ("too old", try Self.jwt(Self.claims(iat: now - 3600))),
            ("from the future", try Self.jwt(Self.claims(iat: now + 3600))),
            ("expired", try Self.jwt(Self.claims(extra: ["exp": Int(now) - 600]))),
            ("not yet valid", try Self.jwt(Self.claims(extra: ["nbf": Int(now) + 600]))),
            ("no iat", try Self.jwt(["jti": "x"])),
            ("tampered", String(good.dropLast(2)) + (good.hasSuffix("AA") ? "BB" : "AA")),
            ("garbage", "not.a.jwt"),
        ]
        for (name, token) in bad {
            await #expect(throws: (any Error).self, "\(name)") {
                try await gateway.connect("/socket", headers: [("Authorization", "Bearer \(token)")])
            }
        }
        let metrics = try await fetchMetrics(gateway)
        #expect(metrics["patchbay_upgrades_unauthorized_total"] == Double(bad.count))
        await gateway.stop()
    }

    @Test("a static token and a JWT secret can be configured together")
    func both() async throws {
        let gateway = try await RunningGateway.start {
            $0.auth.jwtSecret = Self.secret
            $0.auth.token = "static-token-123"
        }
        let a = try await gateway.connect("/echo", headers: [("Authorization", "Bearer static-token-123")])
        let b = try await gateway.connect("/echo", headers: [("Authorization", "Bearer \(try Self.jwt(Self.claims()))")])
        await #expect(throws: (any Error).self) { try await gateway.connect("/echo") }
        await a.close()
        await b.close()
        await gateway.stop()
    }

    @Test("configuration: a short JWT secret or an empty token is refused")
    func configuration() throws {
        var c = ServerConfiguration()
        c.auth.jwtSecret = "short"
        #expect(throws: ConfigurationError.self) { try c.validated() }
        c.auth.jwtSecret = nil
        c.auth.token = ""
        #expect(throws: ConfigurationError.self) { try c.validated() }
    }
}
