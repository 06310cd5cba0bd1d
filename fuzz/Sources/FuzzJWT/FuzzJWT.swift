// The tokens on a websocket upgrade (HS256, the Voice API's) and on a control API request (RS256, an
// application's: which application it names, then jwt-kit's check with a real key).
import Dispatch
import Foundation
import PatchbayAuth

let upgrade = HS256JWT(secret: "the-voice-api-signature-secret")
let secret = "the-voice-api-signature-secret"
/// One application, whose RSA public key (PEM) is at $FUZZ_JWT_KEY (fuzz/run.sh makes one with openssl).
let auth: ApplicationAuth = {
    guard let path = ProcessInfo.processInfo.environment["FUZZ_JWT_KEY"] else { fatalError("set FUZZ_JWT_KEY to an RSA public key (PEM)") }
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var loaded: ApplicationAuth?
    Task {
        loaded = try? await ApplicationAuth.load([.init(applicationID: "app", publicKey: path)])
        done.signal()
    }
    done.wait()
    guard let loaded else { fatalError("\(path) is not an RSA public key") }
    return loaded
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    // Whatever the bytes, a token Patchbay signed itself verifies.
    if count > 0 {
        let claims: [String: Any] = ["iat": Int(Date().timeIntervalSince1970), "jti": text, "iss": "fuzz"]
        precondition((try? upgrade.verify(HS256JWT.sign(claims: claims, secret: secret))) != nil, "a signed token did not verify")
    }
    if (try? upgrade.verify(text)) != nil {
        precondition(text.split(separator: ".").count == 3, "a token that is not three parts verified")
    }
    // Only a token naming the application reaches jwt-kit (any other is refused before a key is chosen).
    guard ApplicationAuth.unverifiedApplicationID(text) == "app" else { return 0 }
    let done = DispatchSemaphore(value: 0)
    Task {
        if case .success = await auth.authenticate("Bearer " + text) { preconditionFailure("an unsigned token was accepted") }
        done.signal()
    }
    done.wait()
    return 0
}
