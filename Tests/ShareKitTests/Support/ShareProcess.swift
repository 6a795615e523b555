import Foundation

/// The `share` executable run as a user would run it, with stdout and stderr captured in temporary files.
final class ShareProcess: Sendable {
    let process: ChildProcess
    private let stdoutURL: URL
    private let stderrURL: URL

    /// Runs `share` in this (root) network namespace; its Avahi client gets a bus address where nothing listens.
    /// `launcher` (such as `prlimit --data=N --`) runs share in its place, with share's path and `arguments`.
    init(_ arguments: [String], environment: [String: String] = [:], launcher: [String] = []) throws {
        let directory = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        stdoutURL = directory.appendingPathComponent("share-test-\(id).out")
        stderrURL = directory.appendingPathComponent("share-test-\(id).err")
        var env = ProcessInfo.processInfo.environment
        // Never let a test's share reach a real Avahi daemon from the root network namespace.
        env["DBUS_SYSTEM_BUS_ADDRESS"] = TestEnvironment.noBus
        env.merge(environment) { $1 }
        process = try ChildProcess(
            executable: launcher.first ?? TestEnvironment.shareExecutable,
            arguments: launcher.isEmpty
                ? arguments : launcher.dropFirst() + [TestEnvironment.shareExecutable] + arguments,
            environment: env,
            standardOutputPath: stdoutURL.path,
            standardErrorPath: stderrURL.path
        )
    }

    deinit {
        process.stop(grace: .milliseconds(500))
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }

    var standardOutput: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var standardError: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// Waits until stdout holds at least `count` lines, or the process ends, or `timeout` passes.
    func outputLines(atLeast count: Int, timeout: Duration = .seconds(20)) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let lines = standardOutput.split(separator: "\n").map(String.init)
            if lines.count >= count || !process.isRunning { return lines }
            try await Task.sleep(for: .milliseconds(50))
        }
        return standardOutput.split(separator: "\n").map(String.init)
    }

    /// Sends `signal` by PID.
    func send(_ signal: Int32) {
        process.send(signal)
    }

    /// Waits for the process to end; returns its exit status, or nil if it still runs after `timeout`.
    func exitStatus(within timeout: Duration = .seconds(20)) async throws -> Int32? {
        try await process.wait(timeout: timeout)
    }
}
