import Foundation

@testable import ShareKit

/// A process started with `posix_spawn`, with a clean signal mask and default signal handlers.
///
/// Foundation's `Process` passes on the signal mask of the thread that starts it, and the test process blocks
/// SIGTERM and SIGINT on its threads (for swift-service-lifecycle), so children started that way ignore
/// SIGTERM. This helper resets both, so that the child reacts to signals as it would from a shell.
final class ChildProcess: Sendable {
    let pid: pid_t
    private let exitCode = ExitCodeBox()

    /// Starts `executable`.
    /// - Parameters:
    ///   - standardOutput: a file to write stdout to, or a pipe's write end with `standardOutputFD`.
    init(
        executable: String,
        arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        standardOutputPath: String? = nil,
        standardOutputFD: Int32? = nil,
        standardErrorPath: String? = nil,
        closeInChild: [Int32] = []
    ) throws {
        let output: Spawn.Output =
            if let fd = standardOutputFD { .descriptor(fd) } else { standardOutputPath.map { .file($0) } ?? .devNull }
        let pid: pid_t
        do {
            pid = try Spawn.start(
                executable,
                arguments,
                environment: environment,
                standardOutput: output,
                standardError: standardErrorPath.map { .file($0) } ?? .devNull,
                closeInChild: closeInChild
            )
        } catch {
            throw EnvironmentError(description: "\(error)")
        }
        self.pid = pid
        TestEnvironment.recordPID(pid)
    }

    /// Sends `signal` to this child, by PID.
    func send(_ signal: Int32) {
        if exitCode.value == nil { kill(pid, signal) }
    }

    /// The exit status if the child has ended (128+N when killed by signal N); reaps it.
    var exitStatus: Int32? {
        if let code = exitCode.value { return code }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        exitCode.value = code
        TestEnvironment.forgetPID(pid)
        return code
    }

    var isRunning: Bool { exitStatus == nil }

    /// Waits up to `timeout` for the child to end.
    func wait(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus { return status }
            try await Task.sleep(for: .milliseconds(10))
        }
        return exitStatus
    }

    /// Asks the child to stop (SIGTERM), then kills it (SIGKILL) if it has not ended within `grace`, and reaps it.
    func stop(grace: Duration = .seconds(3)) {
        guard exitStatus == nil else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while exitStatus == nil, ContinuousClock.now < deadline { usleep(10_000) }
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitCode.value = 128 + SIGKILL
            TestEnvironment.forgetPID(pid)
        }
    }

    deinit { stop(grace: .milliseconds(500)) }
}

/// The exit code, once known. @unchecked Sendable: every access holds `lock`.
private final class ExitCodeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int32?
    var value: Int32? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
