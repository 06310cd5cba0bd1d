/// The text messages Patchbay writes, in both roles of the Voice API's websocket protocol: the commands
/// it sends a caller (as a server), and the events it sends a service (in the Voice API's role).
public enum OutgoingText {
    // To a caller (the Voice API connected to Patchbay).

    /// Drop the audio you have queued (barge-in); answered with `websocket:cleared`.
    public static let clear = #"{"action":"clear"}"#

    /// Answer with `websocket:notify` and this payload (a JSON object, as text) when playout gets here.
    public static func notify(payload: String) -> String {
        #"{"action":"notify","payload":"# + payload + "}"
    }

    // To a service (Patchbay in the Voice API's role).

    /// A key pressed (or a digit detected) on the call, `duration` in milliseconds.
    public static func dtmf(digit: Character, durationMilliseconds: Int) -> String {
        #"{"event":"websocket:dtmf","digit":"\#(digit)","duration":\#(durationMilliseconds)}"#
    }

    /// The answer to a service's `clear`.
    public static let cleared = #"{"event":"websocket:cleared"}"#

    /// The answer to a service's `notify`, once playout reached it (the payload as compact JSON).
    public static func notified(payload: String) -> String {
        #"{"event":"websocket:notify","payload":"# + payload + "}"
    }
}
