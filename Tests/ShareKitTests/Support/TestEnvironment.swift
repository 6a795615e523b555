import Foundation

/// What the test run may rely on.
///
/// `Scripts/test` sets `SHARE_TEST_REQUIRE=x`: then a suite whose environment is missing fails. Outside it
/// (a plain `swift test` on a laptop), such suites are switched off with a message saying how to run them.
enum TestEnvironment {
    /// True when the project's test command asked for the real X server.
    static var requiresX: Bool {
        (ProcessInfo.processInfo.environment["SHARE_TEST_REQUIRE"] ?? "").split(separator: ",").contains {
            $0 == "x" || $0 == "all"
        }
    }

    /// The Xvfb binary, if installed.
    static var xvfbPath: String? {
        ["/usr/bin/Xvfb", "/usr/local/bin/Xvfb"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Run X suites when Xvfb is there, and always under Scripts/test (so that a missing Xvfb fails).
    static var runsXSuites: Bool { requiresX || xvfbPath != nil }

    /// Where Scripts/test wants the PIDs of processes the tests start, so that it can kill them by PID even if
    /// a test crashes before cleaning up.
    static var pidDirectory: String? { ProcessInfo.processInfo.environment["SHARE_TEST_PID_DIR"] }

    /// Writes a started process's PID where Scripts/test will find it.
    static func recordPID(_ pid: Int32) {
        guard let directory = pidDirectory else { return }
        _ = FileManager.default.createFile(atPath: "\(directory)/\(pid)", contents: Data())
    }

    /// Forgets a PID once its process is gone.
    static func forgetPID(_ pid: Int32) {
        guard let directory = pidDirectory else { return }
        try? FileManager.default.removeItem(atPath: "\(directory)/\(pid)")
    }

    /// A system-bus address where nothing listens: `share start` processes run in the root network namespace get
    /// it, so that even on a machine with a running avahi-daemon no test ever advertises on the real network.
    static let noBus = "unix:path=/nonexistent/share-tests/bus"

    /// The `share` executable built next to this test bundle.
    static var shareExecutable: String {
        if let path = ProcessInfo.processInfo.environment["SHARE_BINARY"] { return path }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("share").path
    }
}

/// A failure of the test environment itself, with what to do about it.
struct EnvironmentError: Error, CustomStringConvertible {
    let description: String
}
