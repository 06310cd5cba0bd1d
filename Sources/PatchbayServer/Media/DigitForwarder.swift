import Logging
import PatchbayEngine

/// Every digit of a conversation — detected in a leg's audio, or a key its peer reported — to the other
/// legs of the conversation, as a `dtmf` command each leg's transport says in its peer's terms: services
/// in the Voice API's role hear every digit as `websocket:dtmf`, a route with `dtmf_events` hears the
/// detected ones, and every other peer ignores it.
struct DigitForwarder: Sendable {
    let engine: Engine
    let logger: Logger

    /// Runs until the engine's events end.
    func run() async {
        while true {
            do {
                for try await event in engine.events.subscribe() {
                    guard case .dtmf(let digit, let duration, _, let detected) = event.kind else { continue }
                    for leg in engine.legs(inConversation: event.conversation) where leg.id != event.leg {
                        leg.transport.send(.dtmf(digit: digit, durationMilliseconds: duration, detected: detected))
                    }
                }
                return
            } catch {
                // Fell behind the engine (counted in patchbay_events_missed_total): those digits are lost;
                // the ones from now on still go.
                logger.error("digits not forwarded", metadata: ["error": "\(error)"])
            }
        }
    }
}
