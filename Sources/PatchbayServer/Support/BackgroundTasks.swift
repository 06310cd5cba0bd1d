import Synchronization

/// The server's background tasks (route streams being fetched, event forwarding), kept so a drain can
/// cancel them and wait for them instead of leaving them running past the shutdown.
final class BackgroundTasks: Sendable {
    private struct State {
        var next = 0
        var tasks: [Int: Task<Void, Never>] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// Starts `operation` as a tracked task (nothing starts once `cancelAll` has run).
    func run(_ operation: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            guard !state.closed else { return }
            let id = state.next
            state.next += 1
            state.tasks[id] = Task { [weak self] in
                await operation()
                self?.finished(id)
            }
        }
    }

    /// Tasks running now.
    var count: Int { state.withLock { $0.tasks.count } }

    private func finished(_ id: Int) {
        _ = state.withLock { $0.tasks.removeValue(forKey: id) }
    }

    /// Cancels every task, refuses new ones, and waits for the running ones to end.
    func cancelAll() async {
        let tasks = state.withLock { state in
            state.closed = true
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }
}
