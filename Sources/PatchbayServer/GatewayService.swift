public import ServiceLifecycle

/// The gateway as a swift-service-lifecycle `Service`, for a `ServiceGroup` that owns the process's
/// signals: `run` starts it (records' orphans closed, the control API ready, the webhooks' workers up,
/// then the listeners), waits for the group's graceful shutdown, then drains — no new legs, the legs go
/// on for `limits.drain_seconds` and are closed with 1001 — and stops in order: the engine, the webhooks
/// (queued events get up to 10 s), the call records (the last batch written, the database closed).
/// Cancelled instead (the group escalating), it stops at once.
public struct GatewayService: Service {
    public let server: GatewayServer

    public init(server: GatewayServer) {
        self.server = server
    }

    public func run() async throws {
        try await server.start()
        do {
            try await gracefulShutdown()
        } catch {
            await server.shutdown()
            return
        }
        await server.drain(timeout: .milliseconds(Int(server.configuration.limits.drainSeconds * 1000)))
    }
}
