// The configuration file: decoded, checked against every key the types know, validated; a refusal names
// what is wrong, never a crash.
import Foundation
import PatchbayConfiguration

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard let configuration = try? ServerConfiguration.decode(data, source: "fuzz") else { return 0 }
    _ = try? configuration.applyingEnvironment(["PATCHBAY_LISTEN": "127.0.0.1:0"]).validated()
    return 0
}
