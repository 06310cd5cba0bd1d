public import Foundation
public import PatchbayVoiceAPI

extension ServerConfiguration {
    /// Overrides from the environment:
    /// `PATCHBAY_LISTEN` (host:port), `PATCHBAY_TLS_CERTIFICATE`, `PATCHBAY_TLS_PRIVATE_KEY`,
    /// `PATCHBAY_AUTH_TOKEN`, `PATCHBAY_JWT_SECRET`, `PATCHBAY_LOG_LEVEL`, `PATCHBAY_MAX_LEGS`,
    /// `PATCHBAY_SHARDS`, `PATCHBAY_DETECT_DTMF` (true/false), `PATCHBAY_DATABASE` (storage.database).
    public func applyingEnvironment(_ environment: [String: String]) throws(ConfigurationError) -> ServerConfiguration {
        var c = self
        if let listen = environment["PATCHBAY_LISTEN"] {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                throw ConfigurationError("PATCHBAY_LISTEN must be host:port (got \"\(listen)\")")
            }
            c.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            c.port = port
        }
        switch (environment["PATCHBAY_TLS_CERTIFICATE"], environment["PATCHBAY_TLS_PRIVATE_KEY"]) {
        case (let cert?, let key?): c.tls = TLS(certificate: cert, privateKey: key)
        case (nil, nil): break
        default: throw ConfigurationError("set both PATCHBAY_TLS_CERTIFICATE and PATCHBAY_TLS_PRIVATE_KEY, or neither")
        }
        if let token = environment["PATCHBAY_AUTH_TOKEN"] { c.auth.token = token }
        if let secret = environment["PATCHBAY_JWT_SECRET"] { c.auth.jwtSecret = secret }
        if let level = environment["PATCHBAY_LOG_LEVEL"] { c.logLevel = level }
        if let value = environment["PATCHBAY_MAX_LEGS"] {
            guard let n = Int(value) else { throw ConfigurationError("PATCHBAY_MAX_LEGS must be a number (got \"\(value)\")") }
            c.limits.maxLegs = n
        }
        if let value = environment["PATCHBAY_SHARDS"] {
            guard let n = Int(value) else { throw ConfigurationError("PATCHBAY_SHARDS must be a number (got \"\(value)\")") }
            c.shards = n
        }
        if let value = environment["PATCHBAY_DETECT_DTMF"] {
            guard let b = Bool(value) else { throw ConfigurationError("PATCHBAY_DETECT_DTMF must be true or false (got \"\(value)\")") }
            c.detectDTMF = b
        }
        if let value = environment["PATCHBAY_DATABASE"] {
            guard !value.isEmpty else { throw ConfigurationError("PATCHBAY_DATABASE must be a path") }
            c.storage.database = value
        }
        if let value = environment["PATCHBAY_RECORDINGS"] {
            guard !value.isEmpty else { throw ConfigurationError("PATCHBAY_RECORDINGS must be a path") }
            c.storage.recordings = value
        }
        if let value = environment["PATCHBAY_PUBLIC_URL"] { c.api.publicURL = value }
        if let value = environment["PATCHBAY_POSTGRES"] {
            switch ServerConfiguration.Storage.Postgres.parse(url: value) {
            case .success(let pg): c.storage.postgres = pg
            case .failure(let error): throw ConfigurationError("PATCHBAY_POSTGRES: \(error.description)")
            }
        }
        if let value = environment["PATCHBAY_POSTGRES_PASSWORD"] {
            guard c.storage.postgres != nil else {
                throw ConfigurationError("PATCHBAY_POSTGRES_PASSWORD is set but there is no storage.postgres")
            }
            c.storage.postgres?.password = value
        }
        if let value = environment["PATCHBAY_NODE_ID"] { c.node.id = value }
        return c
    }
}
