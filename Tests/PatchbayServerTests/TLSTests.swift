import Foundation
import NIOCore
import NIOPosix
import PatchbayConfiguration
import PatchbayServer
import PatchbayVoiceAPI
import Testing

@testable import PatchbayServerTestSupport

/// The gateway with `tls` configured: wss works end to end, plain ws is refused, and a certificate
/// that cannot be loaded is a clear configuration error.
///
/// The certificate is made at test time with the `openssl` command (Debian package `openssl`).
@Suite struct TLSTests {

    @Test("echo over wss is bit-exact, and a plain ws client is refused on the TLS port")
    func wssEcho() async throws {
        let cert = try await SelfSigned.make()
        defer { cert.remove() }
        let gateway = try await RunningGateway.start {
            $0.tls = .init(certificate: cert.certificate, privateKey: cert.privateKey)
        }

        let peer = try await TestPeer.connect(port: gateway.port, path: "/echo", group: gateway.clients, tls: true)
        try await peer.sendConnected(rate: 16000)
        _ = await gateway.waitForLegs(1)
        var rng = SystemRandomNumberGenerator()
        var sent: [[UInt8]] = []
        for _ in 0..<50 {
            let frame = (0..<640).map { _ in UInt8.random(in: 0...255, using: &rng) }
            sent.append(frame)
            try await peer.send(bytes: frame)
        }
        #expect(await eventually(timeout: .seconds(10)) { peer.received.binary.count == 50 })
        #expect(peer.received.binary == sent)
        #expect(!peer.isClosed)

        // Plain websocket on the TLS port: the server's TLS handler sees an HTTP request, not a
        // ClientHello, and drops the connection before any upgrade.
        await #expect(throws: (any Error).self) {
            let plain = try await TestPeer.connect(port: gateway.port, path: "/echo", group: gateway.clients)
            await plain.close()
        }
        // Plain HTTP gets no HTTP answer either.
        let health = try? await rawHTTP(
            port: gateway.port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", group: gateway.clients)
        #expect(health?.hasPrefix("HTTP/1.1 200") != true, "\(health ?? "")")

        // The wss leg is untouched by the bad connections.
        try await peer.send(bytes: sent[0])
        #expect(await eventually(timeout: .seconds(10)) { peer.received.binary.count == 51 })
        #expect(peer.received.binary.last == sent[0])

        await peer.close()
        await gateway.stop()
    }

    @Test("a wss client against a plain gateway fails the handshake")
    func wssAgainstPlain() async throws {
        let gateway = try await RunningGateway.start()
        await #expect(throws: (any Error).self) {
            let peer = try await TestPeer.connect(port: gateway.port, path: "/echo", group: gateway.clients, tls: true)
            await peer.close()
        }
        await gateway.stop()
    }

    @Test("a certificate or key that cannot be loaded is a ConfigurationError naming the path")
    func missingCertificate() async throws {
        let cert = try await SelfSigned.make()
        defer { cert.remove() }
        let other = try await SelfSigned.make()
        defer { other.remove() }
        let missing = cert.directory.appendingPathComponent("nope.pem").path
        let cases: [[String]] = [
            [missing, cert.privateKey],  // no certificate file
            [cert.certificate, missing],  // no key file
            [cert.privateKey, cert.privateKey],  // a key where the certificate should be
            [cert.certificate, other.privateKey],  // a key that does not match the certificate
        ]
        // GatewayServer.init runs in a child process: should its error path crash, only this test fails,
        // not the whole test run.
        await #expect(processExitsWith: .success, "GatewayServer.init crashed instead of throwing") { [cases = cases as [[String]]] in
            for pair in cases {
                let (certificate, key) = (pair[0], pair[1])
                var c = ServerConfiguration()
                c.port = 0
                c.shards = 1
                c.tls = .init(certificate: certificate, privateKey: key)
                do {
                    let server = try GatewayServer(configuration: try c.validated())
                    Issue.record("GatewayServer.init accepted certificate \(certificate) / key \(key)")
                    await server.shutdown()
                } catch let error as ConfigurationError {
                    #expect(error.description.contains("cannot load TLS certificate"), "\(error)")
                    #expect(error.description.contains(certificate) && error.description.contains(key), "\(error)")
                }
            }
        }
    }
}
