// What a Voice API peer writes as text: every message parses or is refused, never a crash.
import PatchbayVoiceAPI

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPeerMessage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    if case .connected(let rate, _)? = try? PeerMessage.parse(text) {
        precondition(L16.callRates.contains(rate), "a rate outside the table was accepted")
    }
    _ = try? ServiceCommand.parse(text)
    _ = try? L16.rate(ofContentType: text, allowed: L16.rates)
    return 0
}
