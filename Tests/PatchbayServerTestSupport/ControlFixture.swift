import AsyncHTTPClient
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import NIOSSL
import PatchbayConfiguration
import PatchbayServer
import Synchronization
import Testing

/// Two applications' keys, a certificate, and a gateway with records and the API on https.
final class ControlFixture: Sendable {
    let tls: SelfSigned
    let gateway: RunningGateway
    let client: HTTPClient
    let signers: [String: JWTKeyCollection]
    let base: String
    /// The gateway's configuration before the test's adjustments (for another gateway of the same cluster).
    let configure: @Sendable (inout ServerConfiguration) -> Void

    init(
        tls: SelfSigned, gateway: RunningGateway, client: HTTPClient, signers: [String: JWTKeyCollection],
        configure: @escaping @Sendable (inout ServerConfiguration) -> Void
    ) {
        self.configure = configure
        self.tls = tls
        self.gateway = gateway
        self.client = client
        self.signers = signers
        base = "https://127.0.0.1:\(gateway.port)"
    }

    /// `adjust` sees the configuration with both applications (app-1, app-2) and two routes set.
    static func make(_ adjust: @escaping (inout ServerConfiguration) -> Void = { _ in }) async throws -> ControlFixture {
        let tls = try await SelfSigned.make()
        var signers: [String: JWTKeyCollection] = [:]
        var applications: [ServerConfiguration.API.Application] = []
        for app in ["app-1", "app-2"] {
            let privatePath = tls.directory.appendingPathComponent("\(app).key").path
            let publicPath = tls.directory.appendingPathComponent("\(app).pub.pem").path
            try await SelfSigned.run(
                ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", privatePath], in: tls.directory)
            try await SelfSigned.run(["pkey", "-in", privatePath, "-pubout", "-out", publicPath], in: tls.directory)
            let key = try Insecure.RSA.PrivateKey(pem: try String(contentsOfFile: privatePath, encoding: .utf8))
            signers[app] = await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256)
            applications.append(.init(applicationID: app, publicKey: publicPath))
        }
        let database = tls.directory.appendingPathComponent("records/patchbay.sqlite").path
        let configure: @Sendable (inout ServerConfiguration) -> Void = { [applications] c in
            c.tls = .init(certificate: tls.certificate, privateKey: tls.privateKey)
            c.storage.database = database
            c.api.applications = applications
            c.routes = [
                .init(path: "/socket", mode: .conversation, conversationHeader: "conversation", applicationID: "app-1"),
                .init(path: "/app2", mode: .conversation, applicationID: "app-2"),
            ]
        }
        let gateway = try await RunningGateway.start { c in
            configure(&c)
            adjust(&c)
        }
        var configuration = HTTPClient.Configuration()
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.trustRoots = .file(tls.certificate)
        configuration.tlsConfiguration = tlsConfiguration
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        return ControlFixture(tls: tls, gateway: gateway, client: client, signers: signers, configure: configure)
    }

    /// Another gateway with the same applications, certificate and routes, `adjust`ed.
    func another(_ adjust: (inout ServerConfiguration) -> Void) async throws -> RunningGateway {
        try await RunningGateway.start { c in
            configure(&c)
            adjust(&c)
        }
    }

    /// `method` on `path` of another gateway (same certificate, same tokens).
    func request(
        on gateway: RunningGateway, _ method: HTTPMethod, _ path: String, body: String? = nil, as authorization: String?
    ) async throws -> (HTTPResponseStatus, [String: Any]) {
        try await request(method, path, body: body, as: authorization, base: "https://127.0.0.1:\(gateway.port)")
    }

    func stop() async {
        stopped.withLock { $0 = true }
        try? await client.shutdown()
        await gateway.stop()
        tls.remove()
    }

    private let stopped = Mutex(false)

    /// A test that threw before `stop()`: the client is shut down here (its own deinit would trap), and
    /// the gateway is left to the process's end.
    deinit {
        if !stopped.withLock({ $0 }) { try? client.syncShutdown() }
    }

    /// A token as the Voice API's SDKs make it (claims application_id, iat, jti, exp = iat + 900).
    func token(_ app: String, signedBy signer: String? = nil, issued: Date = Date(), lifetime: TimeInterval? = 900) async throws -> String {
        let claims = TestClaims(
            applicationID: app, iat: .init(value: issued), jti: .init(value: UUID().uuidString),
            exp: lifetime.map { .init(value: issued.addingTimeInterval($0)) })
        return try await signers[signer ?? app]!.sign(claims)
    }

    /// GET `path` as `app` (nil: no Authorization): the status and the JSON body.
    func get(_ path: String, as authorization: String?) async throws -> (HTTPResponseStatus, [String: Any]) {
        try await request(.GET, path, as: authorization)
    }

    /// `method` on `path` with `body` (JSON text) as the bearer `authorization`: the status and the
    /// JSON body (empty for a 204, which has no content type).
    func request(_ method: HTTPMethod, _ path: String, body: String? = nil, as authorization: String?, base: String? = nil) async throws
        -> (HTTPResponseStatus, [String: Any])
    {
        var request = HTTPClientRequest(url: (base ?? self.base) + path)
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: "Bearer " + authorization) }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(String(buffer: bytes).utf8))) as? [String: Any] ?? [:]
        if response.status == .noContent {
            #expect(bytes.readableBytes == 0 && response.headers.first(name: "content-type") == nil)
        } else {
            #expect(response.headers.first(name: "content-type") == "application/json")
        }
        return (response.status, object)
    }
}

struct TestClaims: JWTPayload {
    var applicationID: String
    var iat: IssuedAtClaim
    var jti: IDClaim
    var exp: ExpirationClaim?

    enum CodingKeys: String, CodingKey {
        case applicationID = "application_id"
        case iat, jti, exp
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
