package import NIOCore

extension EventLoop {
    /// Waits on this event loop's timer; throws `CancellationError` when the task is cancelled.
    package func sleep(for amount: TimeAmount) async throws {
        let scheduled = scheduleTask(in: amount) {}
        try await withTaskCancellationHandler {
            do {
                try await scheduled.futureResult.get()
            } catch EventLoopError.cancelled {
                throw CancellationError()
            }
        } onCancel: {
            scheduled.cancel()
        }
    }
}
