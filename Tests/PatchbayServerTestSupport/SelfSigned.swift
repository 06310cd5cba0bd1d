import Foundation
import PatchbayTestSupport
import Testing

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
        let exit = await ChildProcess.run(openssl, arguments, mergingOutput: true)
        guard exit.status == 0 else {
            Issue.record("openssl \(arguments.first ?? "") failed (\(exit.status)): \(exit.output)")
            throw MissingOpenSSL()
        }
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

struct MissingOpenSSL: Error {}
