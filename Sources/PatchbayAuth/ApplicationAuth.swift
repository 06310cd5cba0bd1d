public import Foundation
import JWTKit
public import PatchbayVoiceAPI

/// The applications allowed to use the control API, and the check of their requests: a bearer JWT
/// signed RS256 with the application's private key, as the Voice API's SDKs make them (claims
/// `application_id`, `iat`, `jti`, optional `exp` and `nbf`), verified with jwt-kit against the public
/// key configured for that application.
public final class ApplicationAuth: Sendable {
    /// Clock skew allowed between the application and Patchbay.
    public static let leeway: TimeInterval = 60
    /// A token without `exp` is good for this long after `iat` (the Voice API's longest lifetime).
    public static let maximumAge: TimeInterval = 24 * 3600

    private let keys: [String: JWTKeyCollection]

    private init(keys: [String: JWTKeyCollection]) {
        self.keys = keys
    }

    /// An application and the path of its public key (PEM).
    public struct Application: Sendable {
        public var applicationID: String
        public var publicKey: String

        public init(applicationID: String, publicKey: String) {
            self.applicationID = applicationID
            self.publicKey = publicKey
        }
    }

    /// Why a request's token proves no application (the control API answers 401 with it).
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Loads every application's public key (PEM).
    public static func load(_ applications: [Application]) async throws(ConfigurationError) -> ApplicationAuth {
        var keys: [String: JWTKeyCollection] = [:]
        for app in applications {
            let pem: String
            do {
                pem = try String(contentsOfFile: app.publicKey, encoding: .utf8)
            } catch {
                throw ConfigurationError("api.applications \(app.applicationID): cannot read public_key \(app.publicKey)")
            }
            let key: Insecure.RSA.PublicKey
            do {
                key = try Insecure.RSA.PublicKey(pem: pem)
            } catch {
                throw ConfigurationError(
                    "api.applications \(app.applicationID): public_key \(app.publicKey) is not an RSA public key (PEM): \(error)")
            }
            let collection = JWTKeyCollection()
            await collection.add(rsa: key, digestAlgorithm: .sha256)
            keys[app.applicationID] = collection
        }
        return ApplicationAuth(keys: keys)
    }

    struct Claims: JWTPayload {
        var applicationID: String
        var iat: IssuedAtClaim
        var jti: IDClaim
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?

        enum CodingKeys: String, CodingKey {
            case applicationID = "application_id"
            case iat, jti, exp, nbf
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {
            let now = Date()
            if let exp { try exp.verifyNotExpired(currentDate: now.addingTimeInterval(-ApplicationAuth.leeway)) }
            if let nbf { try nbf.verifyNotBefore(currentDate: now.addingTimeInterval(ApplicationAuth.leeway)) }
            guard iat.value <= now.addingTimeInterval(ApplicationAuth.leeway) else {
                throw JWTError.claimVerificationFailure(failedClaim: iat, reason: "issued in the future")
            }
            guard exp != nil || iat.value >= now.addingTimeInterval(-ApplicationAuth.maximumAge) else {
                throw JWTError.claimVerificationFailure(failedClaim: iat, reason: "older than 24 hours without exp")
            }
            guard !jti.value.isEmpty else { throw JWTError.claimVerificationFailure(failedClaim: jti, reason: "empty") }
        }
    }

    /// The application a request's `Authorization` header proves, or why it proves none.
    public func authenticate(_ authorization: String?) async -> Result<String, Refusal> {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else {
            return .failure(Refusal(description: "Authorization: Bearer <JWT> is required"))
        }
        let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        // The token names its application; that application's key must have signed it.
        guard let applicationID = Self.unverifiedApplicationID(token) else {
            return .failure(Refusal(description: "the token is not a JWT with an application_id claim"))
        }
        guard let collection = keys[applicationID] else {
            return .failure(Refusal(description: "unknown application \(applicationID)"))
        }
        do {
            let claims = try await collection.verify(token, as: Claims.self)
            return .success(claims.applicationID)
        } catch {
            return .failure(Refusal(description: "the token does not verify: \(error)"))
        }
    }

    /// `application_id` from a JWT's payload, before any check (only to choose the key).
    public static func unverifiedApplicationID(_ token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(parts[1]),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return nil }
        return object["application_id"] as? String
    }
}
