import Foundation
import PatchbayEngine
import PatchbayServer
import PatchbayTestSupport
import Testing

@testable import PatchbayServerTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Drives the gateway with Python's `websockets` library acting as the Voice API
/// (Tests/python/voice_api_peer.py): a websocket client nobody on the team wrote checks the wire format.
/// `scripts/setup` installs `websockets`; without it (or without python3) these tests fail.
@Suite("a Python websockets client as the Voice API", .serialized) struct PythonPeerTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("python").appendingPathComponent("voice_api_peer.py")
    /// The digits the dtmf scenario plays in its audio (it also reports a "5" with `websocket:dtmf`).
    static let dtmfDigits = "1*9#"
    static let scriptTimeout: Duration = .seconds(30)

    @Test("the Python peer's checks pass", arguments: ["echo", "conversation", "dtmf"])
    func scenario(_ scenario: String) async throws {
        let python = await ChildProcess.python(["-c", "import websockets; print(websockets.__version__)"], timeout: .seconds(20))
        guard python.status == 0 else {
            Issue.record(
                """
                python3 with the websockets package is needed for this test: run scripts/setup \
                (python3 -c 'import websockets' exited \(python.status)): \(python.output)
                """)
            return
        }

        let gateway = try await RunningGateway.start()
        let engine = gateway.server.engine
        let events = engine.events.subscribe()
        // Collects events until the (first) leg ends; cancelled if that never comes.
        let collector = Task {
            var seen: [EngineEvent] = []
            for try await event in events {
                seen.append(event)
                if case .legEnded = event.kind { break }
            }
            return seen
        }
        var arguments = [Self.script.path, "--port", "\(gateway.port)", "--scenario", scenario]
        if scenario == "dtmf" { arguments += ["--digits", Self.dtmfDigits] }
        let run = await ChildProcess.python(arguments, timeout: Self.scriptTimeout)
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(20))  // a deadline for the leg's end, not a wait
            collector.cancel()
        }
        let seen = (try? await collector.value) ?? []
        watchdog.cancel()
        let metrics = try await fetchMetrics(gateway)
        let (framesIn, framesRejected) = (Int(metrics["patchbay_frames_in_total"] ?? -1), Int(metrics["patchbay_frames_rejected_total"] ?? -1))
        let (reportedCount, detectedCount) = (Int(metrics["patchbay_dtmf_reported_total"] ?? -1), Int(metrics["patchbay_dtmf_detected_total"] ?? -1))
        await gateway.stop()

        #expect(!run.timedOut, "voice_api_peer.py \(scenario) still running after \(Self.scriptTimeout): killed\n\(run.output)")
        #expect(run.status == 0, "voice_api_peer.py \(scenario) exited \(run.status):\n\(run.output)")
        // Nothing the Python client sent was refused (wrong size, before connected, over the rate limit).
        #expect(framesRejected == 0, "\(framesRejected) of the Python client's frames refused\n\(run.output)")
        switch scenario {
        case "echo":
            #expect(framesIn == 50, "\(framesIn) frames in")
        case "conversation":
            #expect(framesIn == 100, "\(framesIn) frames in")
        case "dtmf":
            // The script's audio: 100 ms of silence, four 100 ms digits each with a 100 ms gap, 200 ms of silence.
            #expect(framesIn == 55, "\(framesIn) frames in")
            var reported: [(Character, Int, Int?)] = []
            var detected: [(Character, Int)] = []
            for event in seen {
                guard case .dtmf(let digit, let duration, let start, let isDetected) = event.kind else { continue }
                if isDetected { detected.append((digit, duration)) } else { reported.append((digit, duration, start)) }
            }
            #expect(
                seen.contains {
                    if case .legEnded = $0.kind { return true }
                    return false
                }, "the leg's end was never published: \(seen.map(\.kind))")
            #expect(reported.count == 1 && reportedCount == 1, "peer-reported DTMF: \(reported)")
            #expect(reported.first?.0 == "5" && reported.first?.1 == 260 && reported.first?.2 == nil, "\(reported)")
            #expect(String(detected.map(\.0)) == Self.dtmfDigits, "detected \(detected) (\(detectedCount) counted)\n\(run.output)")
        default:
            Issue.record("unknown scenario \(scenario)")
        }
    }

    /// The result of running python3.
}
