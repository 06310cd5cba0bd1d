import Crypto
public import Foundation

/// HS256 JWTs, the Voice API's shared-secret tokens: verifying the bearer JWT the Voice API can put on a
/// websocket upgrade (signed with the account's signature secret, with the claims of its signed webhooks:
/// `iat`, `jti`, `iss`, `application_id`, `api_key`; docs/PROTOCOL.md), and signing the ones Patchbay
/// sends (a `vonage` authorization to a service, every webhook).
///
/// Why not jwt-kit, which verifies the control API's RS256 tokens (`ApplicationAuth`): its key collection
/// is an actor, so every check and signature would suspend, and these run on event loops in the middle of
/// an upgrade or a dial, which must answer at once. HS256 is one HMAC; this does it synchronously.
///
/// Accepted: a well-formed compact JWS whose header says `alg: HS256`, whose signature is the
/// HMAC-SHA256 of `header.payload` under the secret, issued (`iat`) no more than `maximumAge` ago and
/// not in the future, and within `exp`/`nbf` when those are present. Clocks may differ by `leeway`.
public struct HS256JWT: Sendable {
    public enum Rejection: Error, Equatable, CustomStringConvertible {
        case malformed
        case unsupportedAlgorithm(String)
        case badSignature
        case missingIssuedAt
        case issuedInFuture
        case tooOld
        case expired
        case notYetValid

        public var description: String {
            switch self {
            case .malformed: "not a compact JWT"
            case .unsupportedAlgorithm(let alg): "algorithm \(alg) is not HS256"
            case .badSignature: "signature does not match the secret"
            case .missingIssuedAt: "no iat claim"
            case .issuedInFuture: "iat is in the future"
            case .tooOld: "iat is older than the maximum age"
            case .expired: "expired"
            case .notYetValid: "not valid yet (nbf)"
            }
        }
    }

    private let key: SymmetricKey
    public let maximumAge: TimeInterval
    public let leeway: TimeInterval

    public init(secret: String, maximumAge: TimeInterval = 600, leeway: TimeInterval = 60) {
        key = SymmetricKey(data: Data(secret.utf8))
        self.maximumAge = maximumAge
        self.leeway = leeway
    }

    public func verify(_ token: String, now: Date = Date()) throws(Rejection) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Base64URL.decode(parts[0]),
            let payloadData = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2]),
            let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
            let claims = try? JSONSerialization.jsonObject(with: payloadData) as? [String: Any]
        else {
            throw .malformed
        }
        guard let alg = header["alg"] as? String else { throw .malformed }
        guard alg == "HS256" else { throw .unsupportedAlgorithm(alg) }
        let signed = Data((parts[0] + "." + parts[1]).utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) else {
            throw .badSignature
        }
        let t = now.timeIntervalSince1970
        guard let iat = (claims["iat"] as? NSNumber)?.doubleValue else { throw .missingIssuedAt }
        guard iat <= t + leeway else { throw .issuedInFuture }
        guard t - iat <= maximumAge + leeway else { throw .tooOld }
        if let exp = (claims["exp"] as? NSNumber)?.doubleValue, t > exp + leeway { throw .expired }
        if let nbf = (claims["nbf"] as? NSNumber)?.doubleValue, t + leeway < nbf { throw .notYetValid }
    }

    /// Signs `claims` (tests and tools use it to make tokens the way the Voice API does).
    public static func sign(claims: [String: Any], secret: String) -> String {
        let header = Base64URL.encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = Base64URL.encode((try? JSONSerialization.data(withJSONObject: claims)) ?? Data())
        let mac = HMAC<SHA256>.authenticationCode(for: Data((header + "." + payload).utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return header + "." + payload + "." + Base64URL.encode(Data(mac))
    }
}
