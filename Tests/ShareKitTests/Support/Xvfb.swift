import CX11
import Foundation

/// A private Xvfb server for one test, on a display number it picks itself (`-displayfd`).
final class XvfbServer: Sendable {
    let displayName: String
    let width: Int
    let height: Int
    let depth: Int
    private let process: ChildProcess

    private init(process: ChildProcess, displayName: String, width: Int, height: Int, depth: Int) {
        self.process = process
        self.displayName = displayName
        self.width = width
        self.height = height
        self.depth = depth
    }

    /// Starts Xvfb with one screen of the given size and depth; `extraArguments` such as
    /// `["-extension", "MIT-SHM"]` switch features off.
    static func start(width: Int, height: Int, depth: Int, extraArguments: [String] = []) throws -> XvfbServer {
        guard let path = TestEnvironment.xvfbPath else {
            throw EnvironmentError(
                description: "Xvfb is not installed, so the X capture tests cannot run. Run Scripts/test, which "
                    + "installs it (apt-get install xvfb)."
            )
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw EnvironmentError(description: "pipe() failed") }
        defer { close(fds[0]) }
        let process: ChildProcess
        do {
            process = try ChildProcess(
                executable: path,
                arguments: [
                    "-displayfd", "1", "-screen", "0", "\(width)x\(height)x\(depth)", "-nolisten", "tcp", "-noreset",
                ]
                    + extraArguments,
                standardOutputFD: fds[1],
                closeInChild: [fds[0]]
            )
        } catch {
            close(fds[1])
            throw error
        }
        close(fds[1])
        // Xvfb writes its display number to fd 1 once it accepts connections.
        var number = ""
        var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let deadline = ContinuousClock.now + .seconds(10)
        while !number.hasSuffix("\n"), ContinuousClock.now < deadline {
            guard poll(&poller, 1, 100) >= 0 else { break }
            guard poller.revents != 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 16)
            let count = read(fds[0], &buffer, buffer.count)
            if count <= 0 { break }
            number += String(decoding: buffer[0..<count], as: UTF8.self)
        }
        let trimmed = number.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, Int(trimmed) != nil else {
            process.stop()
            throw EnvironmentError(description: "Xvfb did not start (it printed '\(number)').")
        }
        return XvfbServer(process: process, displayName: ":\(trimmed)", width: width, height: height, depth: depth)
    }

    /// Stops the server by its PID and waits for it.
    func stop() {
        process.stop()
    }
}

/// Runs `body` with a fresh Xvfb, and stops it afterwards whatever happens.
///
/// The pointer is made invisible unless `pointer` is true, so that `share start` (which draws the pointer by
/// default) serves exactly the pattern a test drew; the cursor tests ask for the pointer.
func withXvfb<T>(
    width: Int = 640,
    height: Int = 480,
    depth: Int = 24,
    extraArguments: [String] = [],
    pointer: Bool = false,
    _ body: (XvfbServer) async throws -> T
) async throws -> T {
    let server = try XvfbServer.start(width: width, height: height, depth: depth, extraArguments: extraArguments)
    defer { server.stop() }
    if !pointer { try TestDisplay.hidePointer(on: server.displayName) }
    return try await body(server)
}
