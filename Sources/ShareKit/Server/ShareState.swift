import ServiceLifecycle
import Synchronization

/// Whether the share is live or has ended, and the viewers' long polls waiting to hear it.
///
/// The page keeps one `GET /status?wait=…` open; `end()` answers all of them at once, so every viewer shows
/// "presenter stopped sharing" instead of a frozen picture or a vague connection error.
package final class ShareState: Sendable {
    private struct State {
        var ended = false
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter = 0
    }
    private let state = Mutex(State())

    package init() {}

    /// True once the presenter stopped sharing.
    package var hasEnded: Bool { state.withLock { $0.ended } }

    /// Marks the share ended and answers every waiting viewer; returns how many were waiting.
    @discardableResult
    package func end() -> Int {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.ended = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
        return waiters.count
    }

    /// Waits until the share ends or `timeout` passes; true if it ended.
    package func waitForEnd(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.ended() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || hasEnded
        }
    }

    private func ended() async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { state -> Bool? in
                    if state.ended { return true }
                    if Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }
}

/// Tells viewers the share ended when `share start` shuts down gracefully (Ctrl-C, SIGTERM, or the X server
/// going away), then gives their long polls a moment to be answered before the server stops.
struct ShareEndService: Service {
    let state: ShareState

    func run() async throws {
        try? await gracefulShutdown()
        if state.end() > 0 {
            // Give the answers a moment to be written before the server stops.
            try? await Task.sleep(for: .milliseconds(150))
        }
    }
}
