import ArgumentParser

/// The `patchbay` command: the gateway and its audio tools.
@main
struct Patchbay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patchbay",
        abstract: "A real-time media gateway for Voice API websocket audio, and its audio tools.",
        version: "0.1.0",
        subcommands: [ServeCommand.self, BenchCommand.self, DTMFCommand.self, ResampleCommand.self]
    )
}
