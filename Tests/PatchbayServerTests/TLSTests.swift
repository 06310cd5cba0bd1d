import Foundation
import NIOCore
import NIOPosix
import PatchbayServer
import Testing

/// The gateway with `tls` configured: wss works end to end, plain ws is refused, and a certificate
/// that cannot be loaded is a clear configuration error.
///
/// The certificate is made at test time with the `openssl` command (Debian package `openssl`).
@Suite struct TLSTests {
    /// A self-signed certificate and its key, in a temporary directory.
    struct SelfSigned {
        let directory: URL
        var certificate: String { directory.appendingPathComponent("cert.pem").path }
        var privateKey: String { directory.appendingPathComponent("key.pem").path }

        static let openssl: URL? = ["/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"]
            .map { URL(fileURLWithPath: $0) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }

        static func make() async throws -> SelfSigned {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let made = SelfSigned(directory: dir)
            try await run(
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", made.privateKey, "-out", made.certificate, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                ], in: dir)
            guard FileManager.default.fileExists(atPath: made.certificate), FileManager.default.fileExists(atPath: made.privateKey) else {
                Issue.record("openssl made no certificate")
                throw MissingOpenSSL()
            }
            return made
        }

        /// Runs the `openssl` command with `arguments` in `dir`; a failure is recorded with its output.
        static func run(_ arguments: [String], in dir: URL) async throws {
            guard let openssl else {
                Issue.record("the openssl command is needed: apt-get install openssl")
                throw MissingOpenSSL()
            }
            let p = Process()
            p.executableURL = openssl
            p.arguments = arguments
            let log = dir.appendingPathComponent("openssl-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            // Polled, not `waitUntilExit()`: a blocked wait would hold a thread the other tests' async
            // code needs.
            while p.isRunning { try await Task.sleep(for: .milliseconds(10)) }
            p.waitUntilExit()  // it has exited: this only collects the status
            try handle.close()
            guard p.terminationStatus == 0 else {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                Issue.record("openssl \(arguments.first ?? "") failed (\(p.terminationStatus)): \(output)")
                throw MissingOpenSSL()
            }
        }

        func remove() {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    struct MissingOpenSSL: Error {}

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
