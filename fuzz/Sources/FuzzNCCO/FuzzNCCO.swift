// NCCOs and websocket endpoint objects as an application sends them: a PUT /v1/calls body (a transfer's
// NCCO) and a POST /v1/calls body, from the same bytes. Each is read or refused naming its fields.
import PatchbayVoiceAPI

let rules = NCCORules(allowedWebSocketHosts: HostPatterns(["*"]), jwtSecret: "0123456789abcdef", maximumTalkCharacters: 1500) {
    language, style in language.isEmpty ? .unknownLanguage : style < 10 ? .voice(language) : .unsupportedStyle(styles: 10)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNCCO(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let wrapped = Array(#"{"action":"transfer","destination":{"type":"ncco","ncco":"#.utf8) + bytes + Array("}}".utf8)
    _ = try? CallRequest.modification(bytes, rules: rules)
    _ = try? CallRequest.modification(wrapped, rules: rules)
    if let call = try? CallRequest.creation(bytes, rules: rules) {
        precondition(call.endpoint.sampleRate != nil, "an endpoint without a rate was accepted")
        _ = call.endpoint.connectedMessage(caller: call.headers)
    }
    _ = try? CallRequest.talk(bytes, rules: rules)
    _ = try? CallRequest.stream(bytes)
    _ = try? CallRequest.digits(bytes)
    return 0
}
