public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process for a test — the real `patchbay` binary, a Python or Node.js peer, openssl — with its
/// output in files of its own temporary directory (never pipes: a chatty child can never block on a full
/// one), waited for by polling (a blocked `waitUntilExit()` would hold one of the few threads every
/// other test's async code runs on), and stopped SIGTERM first, SIGKILL after a grace, so that a failed
/// test never leaves one behind.
public final class ChildProcess: Sendable {
    /// How a child that ran to its end (or was stopped) ended.
    public struct Exit: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        /// It was still running at its deadline, and was stopped.
        public let timedOut: Bool

        /// Both outputs (one file when the child was started with `mergingOutput`).
        public var output: String { stdout + stderr }
    }

    public let process: Process
    public let directory: URL

    public var stdoutURL: URL { directory.appendingPathComponent("stdout") }
    public var stderrURL: URL { directory.appendingPathComponent("stderr") }

    /// Starts `executable` with `arguments`.
    /// - Parameters:
    ///   - environment: added to the test's own environment (the keys `inherit` refuses are left out of it).
    ///   - workingDirectory: default: its own temporary directory.
    ///   - mergingOutput: stdout and stderr go to one file (`stdoutURL`), in the order written.
    public init(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:], inherit: (String) -> Bool = { _ in true },
        workingDirectory: URL? = nil, mergingOutput: Bool = false
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { inherit($0.key) }
        env.merge(environment) { $1 }
        p.environment = env
        p.currentDirectoryURL = workingDirectory ?? directory
        p.standardInput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("stdout").path, contents: nil)
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("stderr").path, contents: nil)
        let out = try FileHandle(forWritingTo: directory.appendingPathComponent("stdout"))
        let err = try FileHandle(forWritingTo: directory.appendingPathComponent("stderr"))
        p.standardOutput = out
        p.standardError = mergingOutput ? out : err
        process = p
        try p.run()
        // The child has its own descriptors now.
        try out.close()
        try err.close()
    }

    /// A command found on PATH (`python3 ...`, `node ...`), with Python unbuffered and Node.js finding
    /// Debian's modules (`/usr/share/nodejs`).
    public static func command(_ command: [String], environment: [String: String] = [:], mergingOutput: Bool = true) throws -> ChildProcess {
        var env = ["PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "NODE_PATH": "/usr/share/nodejs"]
        env.merge(environment) { $1 }
        return try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), command, environment: env, mergingOutput: mergingOutput)
    }

    public var pid: pid_t { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// Waits for the process to exit; false if it is still running after `timeout`.
    public func waitForExit(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return !process.isRunning
    }

    /// SIGTERM, then SIGKILL if it has not gone after `grace`.
    public func stop(grace: Duration = .seconds(2)) async {
        guard process.isRunning else { return }
        process.terminate()
        if await !waitForExit(timeout: grace) { kill() }
    }

    /// SIGTERM, without waiting.
    public func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// SIGKILL now, if it is still running.
    public func kill() {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Deletes its directory (stop it first).
    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// How it ended (once it has exited).
    public func exit(timedOut: Bool = false) -> Exit {
        process.waitUntilExit()  // it has exited: this only collects the status
        return Exit(status: process.terminationStatus, stdout: stdout, stderr: stderr, timedOut: timedOut)
    }

    /// Runs a child to its end, stopping it at `timeout`; its files are removed. A child that cannot start
    /// ends with status -1 and the reason as its output.
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:], mergingOutput: Bool = false,
        timeout: Duration = .seconds(120)
    ) async -> Exit {
        let child: ChildProcess
        do {
            child = try ChildProcess(executable, arguments, environment: environment, mergingOutput: mergingOutput)
        } catch {
            return Exit(status: -1, stdout: "", stderr: "could not start \(executable.path): \(error)", timedOut: false)
        }
        defer { child.remove() }
        let finished = await child.waitForExit(timeout: timeout)
        if !finished { await child.stop() }
        return child.exit(timedOut: !finished)
    }

    /// Runs `python3 arguments` (found on PATH, as scripts/setup finds it) to its end; one output.
    public static func python(_ arguments: [String], environment: [String: String] = [:], timeout: Duration) async -> Exit {
        var env = ["PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"]
        env.merge(environment) { $1 }
        return await run(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments, environment: env, mergingOutput: true, timeout: timeout)
    }
}
