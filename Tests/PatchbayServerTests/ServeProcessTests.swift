import Foundation
import NIOCore
import NIOPosix
import NIOWebSocket
import PatchbayConfiguration
import PatchbayServer
import PatchbayTestSupport
import Synchronization
import Testing

@testable import PatchbayServerTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Drives the real `patchbay serve` binary as systemd would: a configuration file, SIGTERM to stop.
@Suite struct ServeProcessTests {
    static let binary = Fixtures.patchbayBinary

    /// A `patchbay` child process: the test's own environment without any PATCHBAY_ setting that would
    /// change the result, and `directory` as its working directory (the call records' default database
    /// goes there).
    static func launch(_ arguments: [String], environment: [String: String] = [:], directory: URL) throws -> ChildProcess {
        try ChildProcess(
            binary, arguments, environment: environment, inherit: { !$0.hasPrefix("PATCHBAY_") }, workingDirectory: directory)
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func writeConfig(_ json: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("patchbay.json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func health(port: Int, group: any EventLoopGroup) async throws -> String {
        try await rawHTTP(port: port, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", group: group)
    }

    /// Polls `/health` until the connection is refused (the listener is closed) or `timeout` passes.
    /// Returns how long that took, or nil if connections were still accepted at the end.
    static func waitForRefusal(port: Int, group: any EventLoopGroup, timeout: Duration) async -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now < start + timeout {
            do {
                _ = try await health(port: port, group: group)
                try? await Task.sleep(for: .milliseconds(10))
            } catch {
                return clock.now - start
            }
        }
        return nil
    }

    /// Starts `patchbay serve` on a free port and waits until `/health` answers 200.
    /// Retries on a fresh port should another process take the chosen one before the child binds it.
    static func startServer(
        config: (Int) -> String, in dir: URL, group: any EventLoopGroup,
        launching: ((_ configPath: String) throws -> ChildProcess)? = nil
    ) async throws -> (child: ChildProcess, port: Int) {
        var lastFailure = ""
        for _ in 0..<3 {
            let port = try await freePort(group: group)
            let path = try writeConfig(config(port), in: dir)
            let child = try launching?(path) ?? launch(["serve", "--config", path], directory: dir)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            var lastAnswer = "nothing yet"
            while clock.now < deadline, child.isRunning {
                do {
                    let answer = try await health(port: port, group: group)
                    if answer.hasPrefix("HTTP/1.1 200") { return (child, port) }
                    lastAnswer = "answered \(answer.debugDescription)"
                } catch {
                    lastAnswer = "\(error)"
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            lastFailure =
                "exited \(child.isRunning ? "(still running)" : "\(child.process.terminationStatus)"); /health on \(port): \(lastAnswer); "
                + "stderr: \(child.stderr)"
            child.kill()
            guard lastFailure.contains("in use") else { break }
        }
        Issue.record("patchbay serve did not become healthy: \(lastFailure)")
        throw NotHealthy()
    }

    struct NotHealthy: Error {}

    @Test("SIGTERM drains: no new connections, legs go on until drain_seconds, then 1001, exit 0")
    func sigtermDrains() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "no patchbay binary at \(Self.binary.path)")
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let group = MultiThreadedEventLoopGroup.singleton

        let (child, port) = try await Self.startServer(
            config: { port in
                """
                {
                  "host": "127.0.0.1",
                  "port": \(port),
                  "shards": 1,
                  "log_level": "info",
                  "limits": { "drain_seconds": 1 }
                }
                """
            }, in: dir, group: group)
        defer { child.kill() }

        let peer = try await TestPeer.connect(port: port, path: "/socket", group: group)
        try await peer.sendConnected(rate: 16000)
        #expect(await eventually(timeout: .seconds(10)) { peer.received.binary.count >= 5 })
        #expect(peer.received.binary.allSatisfy { $0.count == 640 })

        let clock = ContinuousClock()
        let signalled = clock.now
        let framesAtSignal = peer.received.binary.count
        #expect(kill(child.pid, SIGTERM) == 0)

        // New connections are refused once the listener is closed.
        let refusedAfter = await Self.waitForRefusal(port: port, group: group, timeout: .seconds(5))
        #expect(refusedAfter != nil, "still accepting connections 5 s after SIGTERM")
        #expect(refusedAfter.map { $0 < .seconds(2) } != false, "connections refused only \(String(describing: refusedAfter)) after SIGTERM")

        // The connected leg goes on during the drain, then is closed with 1001 at the deadline.
        #expect(await eventually(timeout: .seconds(10)) { peer.received.closeCode != nil })
        let closedAfter = clock.now - signalled
        #expect(peer.received.closeCode == .goingAway, "close code \(String(describing: peer.received.closeCode))")
        #expect(peer.received.closeReason?.isEmpty == false)
        #expect(closedAfter >= .milliseconds(900), "closed \(closedAfter) after SIGTERM, before the 1 s drain")
        #expect(closedAfter < .seconds(5), "closed \(closedAfter) after SIGTERM")
        #expect(peer.received.binary.count > framesAtSignal + 20, "frames stopped during the drain")
        #expect(await eventually(timeout: .seconds(5)) { peer.isClosed })

        #expect(await child.waitForExit(timeout: .seconds(10)), "still running 10 s after SIGTERM")
        let exitedAfter = clock.now - signalled
        #expect(exitedAfter < .seconds(6), "exited \(exitedAfter) after SIGTERM")
        #expect(child.process.terminationReason == .exit)
        #expect(child.process.terminationStatus == 0, "\(child.stderr)")
        let log = child.stderr
        #expect(log.contains("received SIGTERM"), "\(log)")
        #expect(log.contains("draining"), "\(log)")
        #expect(log.contains("stopped"), "\(log)")
        // Every leg is a record, in the working directory's patchbay.sqlite by default.
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("patchbay.sqlite").path))
        await peer.close()
    }

    @Test("SIGINT with no legs exits at once, not after drain_seconds")
    func sigintIdleExitsPromptly() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let group = MultiThreadedEventLoopGroup.singleton
        let (child, _) = try await Self.startServer(
            config: { #"{"host":"127.0.0.1","port":\#($0),"shards":1,"limits":{"drain_seconds":60}}"# }, in: dir,
            group: group)
        defer { child.kill() }
        let clock = ContinuousClock()
        let signalled = clock.now
        #expect(kill(child.pid, SIGINT) == 0)
        #expect(await child.waitForExit(timeout: .seconds(20)), "still running 20 s after SIGINT with no legs")
        #expect(clock.now - signalled < .seconds(10))
        #expect(child.process.terminationStatus == 0, "\(child.stderr)")
        #expect(child.stderr.contains("received SIGINT"), "\(child.stderr)")
    }

    @Test("a second SIGTERM during the drain stops at once, with exit status 1")
    func secondSignalStops() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let group = MultiThreadedEventLoopGroup.singleton
        let (child, port) = try await Self.startServer(
            config: { #"{"host":"127.0.0.1","port":\#($0),"shards":1,"limits":{"drain_seconds":60}}"# }, in: dir,
            group: group)
        defer { child.kill() }
        // A leg keeps the drain going for its full 60 s.
        let peer = try await TestPeer.connect(port: port, path: "/socket", group: group)
        try await peer.sendConnected(rate: 8000)
        #expect(kill(child.pid, SIGTERM) == 0)
        #expect(await eventually(timeout: .seconds(10)) { child.stderr.contains("draining") }, "\(child.stderr)")
        #expect(child.isRunning)
        #expect(kill(child.pid, SIGTERM) == 0)
        #expect(await child.waitForExit(timeout: .seconds(10)), "still running after the second SIGTERM")
        #expect(child.process.terminationReason == .exit)
        #expect(child.process.terminationStatus == 1, "\(child.stderr)")
        #expect(child.stderr.contains("second SIGTERM during the drain: stopping now"), "\(child.stderr)")
        await peer.close()
    }

    /// Runs `patchbay` to completion (it must exit within `timeout`).
    static func run(_ arguments: [String], environment: [String: String] = [:], in dir: URL) async throws -> ChildProcess {
        let child = try launch(arguments, environment: environment, directory: dir)
        if !(await child.waitForExit(timeout: .seconds(30))) {
            child.kill()
            Issue.record("patchbay \(arguments) did not exit within 30 s")
        }
        return child
    }

    @Test(
        "a bad configuration exits non-zero and names the problem",
        arguments: [
            (#"{"port": 8080,"#, ["is not valid JSON"]),
            (#"{"log_level": "loud"}"#, [#"log_level must be one of trace, debug, info, notice, warning, error, critical (got "loud")"#]),
            (#"{"port": 70000}"#, ["port must be 0...65535 (got 70000)"]),
            (#"{"port": "8080"}"#, ["port: Expected to decode Int"]),
            (#"{"limits": {"drain_seconds": -1}}"#, ["limits.drain_seconds must be 0...86400"]),
            (#"{"routes": [{"path": "/health", "mode": "echo"}]}"#, [#"route path "/health" is reserved"#]),
            (#"{"routes": [{"mode": "echo"}]}"#, [#"missing "path""#]),
            (#"{"routes": [{"path": "/a", "mode": "loop"}]}"#, ["mode", "loop"]),
            (
                #"{"routes": [{"path": "/a", "mode": "echo", "dtmf_events": true}]}"#,
                ["route /a: an echo route hears only itself (no stream, no dtmf_events)"]
            ),
            (
                #"{"routes": [{"path": "/a", "mode": "conversation", "stream": {"stream_url": "x.mp3", "level": 3}}]}"#,
                ["route /a: stream.level must be -1...1 (got 3.0)"]
            ),
            (
                #"{"routes": [{"path": "/a", "mode": "conversation", "stream": {"url": "x.mp3"}}]}"#,
                [#"unknown key "routes[0].stream.url""#]
            ),
            (
                #"{"routes": [{"path": "/ai", "mode": "conversation", "connect": [{"uri": "http://agent/voice"}]}]}"#,
                [#"routes[/ai].connect[0].uri must be a ws:// or wss:// URL (got "http://agent/voice")"#]
            ),
            (
                #"{"routes": [{"path": "/ai", "mode": "conversation", "connect": [{"uri": "ws://a/", "content-type": "audio/l16;rate=11025"}]}]}"#,
                ["routes[/ai].connect[0].content-type must be audio/l16;rate=8000, 16000, 24000 or 48000"]
            ),
            (
                #"{"routes": [{"path": "/ai", "mode": "conversation", "connect": [{"uri": "ws://a/", "timeout": 3}]}]}"#,
                [#"unknown key "routes[0].connect[0].timeout""#]
            ),
            (
                #"{"routes": [{"path": "/ai", "mode": "conversation", "connect": [{"uri": "ws://a/", "authorization": {"type": "vonage"}}]}]}"#,
                ["routes[/ai].connect[0].authorization type vonage signs with auth.jwt_secret: set it"]
            ),
            (
                #"{"routes": [{"path": "/ai", "mode": "echo", "connect": [{"uri": "ws://a/"}]}]}"#,
                ["route /ai: connect gives each leg a conversation of its own"]
            ),
            (
                #"{"routes": [{"path": "/ai", "mode": "conversation", "connect": [{"uri": "ws://a/", "protocol": "carrier-pigeon"}]}]}"#,
                ["routes[0].connect[0].protocol"]
            ),
            (
                #"{"tls": {"certificate": "/nonexistent/cert.pem", "private_key": "/nonexistent/key.pem"}}"#,
                ["cannot load TLS certificate /nonexistent/cert.pem / key /nonexistent/key.pem"]
            ),
        ])
    func badConfiguration(json: String, messages: [String]) async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.writeConfig(json, in: dir)
        // --listen is left out so that the port from the file is the one checked.
        let child = try await Self.run(["serve", "--config", path], in: dir)
        // A clean exit with a message: not a crash, and not a signal.
        #expect(child.process.terminationReason == .exit, "for \(json): \(child.stderr)")
        #expect(child.process.terminationStatus != 0, "\(json) was accepted")
        for message in messages {
            #expect(child.stderr.contains(message), "for \(json): \(child.stderr)")
        }
        #expect(!child.stderr.contains("listening"), "\(child.stderr)")
    }

    @Test("a missing configuration file and a bad PATCHBAY_LISTEN are named")
    func missingFileAndBadEnvironment() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("nope.json").path
        let noFile = try await Self.run(["serve", "--config", missing], in: dir)
        #expect(noFile.process.terminationStatus != 0)
        #expect(noFile.stderr.contains("cannot read configuration \(missing)"), "\(noFile.stderr)")

        let badListen = try await Self.run(["serve", "--print-config"], environment: ["PATCHBAY_LISTEN": "localhost"], in: dir)
        #expect(badListen.process.terminationStatus != 0)
        #expect(badListen.stderr.contains("PATCHBAY_LISTEN must be host:port"), "\(badListen.stderr)")
    }

    @Test("a port already in use exits non-zero, naming the problem, without crashing")
    func portInUse() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = holder.localAddress!.port!
        let child = try await Self.run(["serve", "--listen", "127.0.0.1:\(port)"], in: dir)
        try await holder.close()
        #expect(child.process.terminationReason == .exit, "\(child.stderr.prefix(2000))")
        #expect(child.process.terminationStatus != 0)
        #expect(child.stderr.contains("Address already in use"), "\(child.stderr.prefix(2000))")
    }

    @Test("--print-config prints the file with environment overrides, and --listen beats the environment")
    func printConfig() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.writeConfig(
            #"{"host":"0.0.0.0","port":8080,"log_level":"debug","limits":{"drain_seconds":5}}"#, in: dir)

        let env = try await Self.run(
            ["serve", "--config", path, "--print-config"],
            environment: ["PATCHBAY_LISTEN": "127.0.0.1:9999", "PATCHBAY_MAX_LEGS": "12"], in: dir)
        #expect(env.process.terminationStatus == 0, "\(env.stderr)")
        #expect(env.stdout.contains(#""port" : 9999"#), "\(env.stdout)")
        let printed = try #require(
            try JSONSerialization.jsonObject(with: Data(env.stdout.utf8)) as? [String: Any], "\(env.stdout)")
        #expect(printed["host"] as? String == "127.0.0.1")
        #expect(printed["port"] as? Int == 9999)
        #expect(printed["log_level"] as? String == "debug")
        let limits = printed["limits"] as? [String: Any]
        #expect(limits?["drain_seconds"] as? Double == 5)
        #expect(limits?["max_legs"] as? Int == 12)
        // Defaults are printed too: the output is the whole effective configuration.
        #expect((printed["routes"] as? [Any])?.count == 2)
        #expect(printed["detect_dtmf"] as? Bool == true)

        let flag = try await Self.run(
            ["serve", "--config", path, "--listen", "127.0.0.1:7777", "--print-config"],
            environment: ["PATCHBAY_LISTEN": "127.0.0.1:9999"], in: dir)
        #expect(flag.process.terminationStatus == 0, "\(flag.stderr)")
        #expect(flag.stdout.contains(#""port" : 7777"#), "\(flag.stdout)")

        // The printed configuration is itself a valid configuration that prints the same.
        let roundTrip = try Self.writeConfig(flag.stdout, in: dir)
        let again = try await Self.run(["serve", "--config", roundTrip, "--print-config"], in: dir)
        #expect(again.process.terminationStatus == 0, "\(again.stderr)")
        #expect(again.stdout == flag.stdout)
    }

    @Test("drain edge cases: an upgrade arriving after SIGTERM, and a leg that never sent connected")
    func drainEdgeCases() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let group = MultiThreadedEventLoopGroup.singleton
        let (child, port) = try await Self.startServer(
            config: { #"{"host":"127.0.0.1","port":\#($0),"shards":1,"limits":{"drain_seconds":1}}"# }, in: dir,
            group: group)
        defer { child.kill() }

        // Upgraded, but no websocket:connected yet (the connect timeout, 10 s, is far off).
        let pending = try await TestPeer.connect(port: port, path: "/socket", group: group)
        // A connection accepted before SIGTERM whose upgrade request comes only after it.
        let early = try await RawConnection.connect(port: port, group: group)
        // The one listening channel accepts in order: once a later connection is answered, `early` is accepted.
        #expect(try await Self.health(port: port, group: group).hasPrefix("HTTP/1.1 200"))

        #expect(kill(child.pid, SIGTERM) == 0)
        #expect(await Self.waitForRefusal(port: port, group: group, timeout: .seconds(5)) != nil)

        try await early.send(
            "GET /socket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(await eventually(timeout: .seconds(5)) { early.text.contains("\r\n\r\n") })
        #expect(!early.text.hasPrefix("HTTP/1.1 101"), "upgraded during the drain: \(early.text)")
        #expect(early.text.hasPrefix("HTTP/1.1 503"), "\(early.text)")

        // At the drain deadline every leg should hear 1001, including one still waiting to start.
        #expect(await eventually(timeout: .seconds(10)) { pending.isClosed })
        #expect(pending.received.closeCode == .goingAway)

        #expect(await child.waitForExit(timeout: .seconds(10)))
        #expect(child.process.terminationStatus == 0, "\(child.stderr)")
        await early.close()
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("systemd/patchbay.json is valid, and patchbay.service gives the drain time to finish")
    func shippedSystemdFiles() async throws {
        let json = Self.repository.appendingPathComponent("systemd/patchbay.json").path
        let configuration = try ServerConfiguration.load(path: json).validated()
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 8080)

        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let printed = try await Self.run(["serve", "--config", json, "--print-config"], in: dir)
        #expect(printed.process.terminationStatus == 0, "\(printed.stderr)")

        let unit = try String(contentsOf: Self.repository.appendingPathComponent("systemd/patchbay.service"), encoding: .utf8)
        var settings: [String: [String]] = [:]
        for line in unit.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<eq]), default: []].append(String(line[line.index(after: eq)...]))
        }
        #expect(settings["ExecStart"] == ["/usr/local/bin/patchbay serve --config /etc/patchbay/patchbay.json"])
        #expect(settings["KillSignal"] == ["SIGTERM"])
        // The call records' default place ($STATE_DIRECTORY) is the one writable folder.
        #expect(settings["StateDirectory"] == ["patchbay"])
        #expect(
            ServerConfiguration.Storage.defaultDatabase(environment: ["STATE_DIRECTORY": "/var/lib/patchbay"], workingDirectory: "/")
                == "/var/lib/patchbay/patchbay.sqlite")
        // The drain, the 2 s the server gives legs to close, and a margin, before systemd's SIGKILL.
        let stopTimeout = try #require(settings["TimeoutStopSec"]?.last.flatMap { Double($0) })
        #expect(stopTimeout >= configuration.limits.drainSeconds + 10, "TimeoutStopSec=\(stopTimeout)")
        let files = try #require(settings["LimitNOFILE"]?.last.flatMap { Int($0) })
        #expect(files >= 4 * configuration.limits.maxLegs, "LimitNOFILE=\(files)")
    }
}
