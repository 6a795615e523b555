import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import ShareKit

/// A screen too large for the memory share may use is refused with advice, not a crash.
@Suite("Frames too large for the memory limits")
struct FrameBudgetTests {
    @Test("Half the limit is the most a shared area may need; the message says what to do")
    func budget() throws {
        let budget = FrameBudget(limitBytes: 100_000_000, limitSource: "the data size limit, ulimit -d")
        try budget.check(width: 1920, height: 1080)  // 29 MB
        let error = try #require(throws: ShareError.self) { try budget.check(width: 4096, height: 4096) }
        let message = "\(error)"
        #expect(message.contains("4096x4096") && message.contains("234 MB") && message.contains("100 MB"))
        #expect(message.contains("ulimit -d") && message.contains("--region") && message.contains("--monitor"))
        #expect(throws: ShareError.self) { try budget.check(width: Int.max, height: 2) }
    }

    @Test("This process's budget is some real limit")
    func measured() {
        #expect(FrameBudget.current.limitBytes > 0 && !FrameBudget.current.limitSource.isEmpty)
    }
}

/// The same through the command, under a real `ulimit -d` (prlimit), on a real 4096x4096 Xvfb.
@Suite(
    "A screen too large for the memory limits, as a process",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these")
)
struct FrameBudgetCLITests {
    /// 400 MB of data: enough for share itself and a 640x480 region, not for a 4096x4096 screen (235 MB > 200 MB).
    static let launcher = ["/usr/bin/prlimit", "--data=400000000", "--"]

    @Test("share start on a screen too large for its limit exits 1 with advice, and serves nothing")
    func refused() async throws {
        try await withXvfb(width: 4096, height: 4096) { xvfb in
            let share = try ShareProcess(
                ["start", "--port", "0", "--bind", "127.0.0.1", "--display", xvfb.displayName, "--no-advertise"],
                launcher: Self.launcher
            )
            let status = try await share.exitStatus(within: .seconds(20))
            #expect(status == 1, "stderr: \(share.standardError)")
            #expect(share.standardOutput.isEmpty, "no URL is printed for a share that cannot start")
            let message = share.standardError
            #expect(message.contains("4096x4096") && message.contains("data size limit, ulimit -d"), "\(message)")
            #expect(message.contains("--region"), "\(message)")

            // A region (like a monitor or a window) as large is refused at start too, not with 503s later.
            let region = try ShareProcess(
                [
                    "start", "--port", "0", "--bind", "127.0.0.1", "--display", xvfb.displayName, "--no-advertise",
                    "--region", "4000x4000+0+0",
                ],
                launcher: Self.launcher
            )
            #expect(try await region.exitStatus(within: .seconds(20)) == 1, "stderr: \(region.standardError)")
            #expect(region.standardOutput.isEmpty && region.standardError.contains("4000x4000"))

            // Listing the monitors captures nothing, so it works on that screen, to pick a part of it.
            let monitors = try ShareProcess(["monitors", "--display", xvfb.displayName], launcher: Self.launcher)
            #expect(try await monitors.exitStatus(within: .seconds(20)) == 0, "stderr: \(monitors.standardError)")
            #expect(monitors.standardOutput.contains("4096x4096+0+0"), "\(monitors.standardOutput)")
        }
    }

    @Test("Under the same limit, a region of that screen is shared")
    func regionFits() async throws {
        try await withXvfb(width: 4096, height: 4096) { xvfb in
            let share = try ShareProcess(
                [
                    "start", "--port", "0", "--bind", "127.0.0.1", "--display", xvfb.displayName, "--no-advertise",
                    "--region", "640x480+100+100",
                ],
                launcher: Self.launcher
            )
            let lines = try await share.outputLines(atLeast: 1)
            let url = try #require(lines.first, "stderr: \(share.standardError)")
            let port = try #require(URLComponents(string: url)?.port)
            let client = TestClient(host: "127.0.0.1", port: port)
            client.connect()
            let response = try await client.execute(.init("/screen.png", method: .get))
            try await client.shutdown()
            #expect(response.head.status == .ok, "stderr: \(share.standardError)")
            let decoded = try decodePNG(Array(buffer: try #require(response.body)))
            #expect(decoded.width == 640 && decoded.height == 480)
            share.send(SIGTERM)
            #expect(try await share.exitStatus(within: .seconds(5)) == 0)
        }
    }
}
