// What a service sends a Realtime dialect: any sequence of text messages (one per line of the input) is
// answered with actions, never a crash, and the actions keep their promises.
import FuzzSupport
import PatchbayVoiceAPI

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRealtimeDialect(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var dialect = ServiceDialect(endpoint: FuzzEndpoints.realtime, callerHeaders: ["from": "447700900001"], textLimit: 1 << 16)
    FuzzEndpoints.drive(&dialect, UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
