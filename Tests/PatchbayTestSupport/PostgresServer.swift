public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real PostgreSQL server (Debian's `postgresql` package, installed by `scripts/setup`) for the tests:
/// one cluster per test process in a temporary directory, on a loopback port, trusting local
/// connections, started on first use and stopped when the process exits. PostgreSQL refuses to run as
/// root, so as root it runs as the dedicated user `patchbay-pg` (made by `scripts/setup`).
///
/// Each test takes a database of its own (`database()`), so tests never see each other's rows.
public actor PostgresServer {
    public static let shared = PostgresServer()

    /// A server of its own (for a test that stops and starts it; others share `shared`).
    public init() {}

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private var started: Task<Result<Int, Failure>, Never>?
    private var directory: URL?
    private var databases = 0
    /// The user the server runs as (and the tests connect as).
    public static let user = "patchbay"

    /// The server's port, starting it on first use.
    public func port() async throws -> Int {
        // One start however many tests ask at once (an actor method is re-entered at each await).
        let task = started ?? Task { await start() }
        started = task
        return try await task.value.get()
    }

    /// A new empty database: its name.
    public func database() async throws -> String {
        let port = try await port()
        databases += 1
        let name = "t\(getpid())_\(databases)_\(UInt32.random(in: 0...UInt32.max))"
        let made = await Self.run("psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", Self.user, "-d", "postgres", "-c", "CREATE DATABASE \(name)"])
        guard made.status == 0 else { throw Failure(description: "CREATE DATABASE failed: \(made.output)") }
        return name
    }

    /// Stops the server (its clients' connections are cut; the tests' server trades durability for speed,
    /// so a clean stop, not a crash); `resume()` brings it back on the same port and data.
    public func halt() async throws {
        _ = try await port()
        guard let directory else { return }
        _ = await Self.run("pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "fast", "-w", "stop"])
    }

    /// Starts a halted server again.
    public func resume() async throws {
        let port = try await port()
        guard let directory else { return }
        let up = await Self.run(
            "pg_ctl",
            [
                "-D", directory.appendingPathComponent("data").path, "-l", directory.appendingPathComponent("log").path, "-w", "-o",
                Self.options(port, directory), "start",
            ])
        guard up.status == 0 else { throw Failure(description: "PostgreSQL did not start again: \(up.output)") }
    }

    /// `postgres://patchbay@127.0.0.1:PORT/NAME` for a new database.
    public func url() async throws -> String {
        let name = try await database()
        return "postgres://\(Self.user)@127.0.0.1:\(try await port())/\(name)"
    }

    /// Stops the server and removes its files (the tests' process exit does it too).
    public func stop() async {
        guard let directory, case .success = await started?.value else { return }
        _ = await Self.run("pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: directory)
        started = nil
    }

    private static func options(_ port: Int, _ directory: URL) -> String {
        "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory.path) -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    }

    private func start() async -> Result<Int, Failure> {
        guard Self.binaries != nil else {
            return .failure(Failure(description: "PostgreSQL is not installed (scripts/setup installs Debian's postgresql)"))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("patchbay-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            return .failure(Failure(description: "cannot make \(dir.path): \(error)"))
        }
        directory = dir
        if getuid() == 0 {
            let owned = await Self.run("/bin/chown", ["patchbay-pg", dir.path], direct: true)
            guard owned.status == 0 else {
                return .failure(Failure(description: "chown to patchbay-pg failed (scripts/setup makes the user): \(owned.output)"))
            }
        }
        let data = dir.appendingPathComponent("data").path
        let initialised = await Self.run("initdb", ["-D", data, "-U", Self.user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        guard initialised.status == 0 else { return .failure(Failure(description: "initdb failed: \(initialised.output)")) }
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...60_000)
            let up = await Self.run(
                "pg_ctl", ["-D", data, "-l", dir.appendingPathComponent("log").path, "-w", "-o", Self.options(port, dir), "start"])
            if up.status == 0 {
                Self.stopAtExit(data: data)
                return .success(port)
            }
        }
        let log = (try? String(contentsOf: dir.appendingPathComponent("log"), encoding: .utf8)) ?? ""
        return .failure(Failure(description: "PostgreSQL did not start: \(log.suffix(2000))"))
    }

    /// Debian's server binaries (`/usr/lib/postgresql/N/bin`), the newest.
    static let binaries: URL? = {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).compactMap(Int.init).sorted()
        return versions.last.map { root.appendingPathComponent("\($0)/bin") }
    }()

    /// Runs a PostgreSQL tool (as `patchbay-pg` when the tests run as root).
    ///
    /// Through a shell that first closes every descriptor above stderr: Foundation's `Process` leaves one
    /// of its own open in the child, and the server `pg_ctl` leaves running would hold it, so the
    /// `pg_ctl` that started it would never be seen to exit.
    static func run(_ tool: String, _ arguments: [String], direct: Bool = false) async -> ChildProcess.Exit {
        let path = direct ? tool : (binaries?.appendingPathComponent(tool).path ?? tool)
        let command = (!direct && getuid() == 0 ? ["/usr/sbin/runuser", "-u", "patchbay-pg", "--"] : []) + [path] + arguments
        let script = #"for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; exec "$@""#
        return await ChildProcess.run(
            URL(fileURLWithPath: "/bin/bash"), ["-c", script, "bash"] + command, mergingOutput: true, timeout: .seconds(60))
    }

    /// The servers are stopped when the tests' process exits (a normal exit: a killed one leaves them to
    /// the machine).
    private static func stopAtExit(data: String) {
        let first = pidFiles.withLock { files -> Bool in
            files.append(data + "/postmaster.pid")
            return files.count == 1
        }
        guard first else { return }
        atexit {
            for path in PostgresServer.pidFiles.withLock({ $0 }) {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = Int32(text.split(separator: "\n").first ?? "")
                else { continue }
                kill(pid, SIGQUIT)  // immediate shutdown
            }
        }
    }

    private static let pidFiles = Mutex<[String]>([])
}
