import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import ShareKit

/// `share monitors` and `share start --monitor/--region/--window/--no-cursor/--max-width` as a user runs them,
/// against a real Xvfb.
@Suite(
    "Choosing what to share from the command line",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these"),
    .serialized
)
struct AreaCLITests {
    /// `share start` on `display` with `arguments`, serving on loopback; returns the process and its port.
    func start(_ display: String, _ arguments: [String]) async throws -> (ShareProcess, Int) {
        let share = try ShareProcess(
            ["start", "--port", "0", "--bind", "127.0.0.1", "--display", display] + arguments,
            environment: ["DISPLAY": ""]
        )
        let lines = try await share.outputLines(atLeast: 1)
        let url = try #require(lines.first, "stderr: \(share.standardError)")
        let port = URLComponents(string: url)?.port ?? -1
        return (share, port)
    }

    /// The PNG `GET path` returns, decoded.
    func picture(port: Int, _ path: String = "/screen.png") async throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let client = TestClient(host: "127.0.0.1", port: port)
        client.connect()
        let response = try await client.execute(.init(path, method: .get))
        try await client.shutdown()
        return try decodePNG(Array(buffer: try #require(response.body)))
    }

    @Test("share monitors prints the table and JSON; start says which monitor is shared; --monitor serves it")
    func monitors() async throws {
        try await withXvfb(width: 640, height: 240) { xvfb in
            let pattern = TestPattern(width: 640, height: 240, depth: 24, seed: 6)
            try pattern.draw(on: xvfb.displayName)
            let monitors = try TestMonitors(on: xvfb.displayName, monitors: AreaCaptureTests.layout)
            defer { monitors.remove() }

            let table = try ShareProcess(["monitors", "--display", xvfb.displayName])
            #expect(try await table.exitStatus() == 0, "\(table.standardError)")
            #expect(table.standardOutput.contains("1      RIGHT  340x240+300+0"))
            let json = try ShareProcess(["monitors", "--json"], environment: ["DISPLAY": xvfb.displayName])
            #expect(try await json.exitStatus() == 0)
            let decoded = try JSONDecoder().decode([Monitor].self, from: Data(json.standardOutput.utf8))
            #expect(decoded.map(\.name) == ["LEFT", "RIGHT"] && decoded.map(\.primary) == [true, false])

            let (whole, _) = try await start(xvfb.displayName, [])
            #expect(whole.standardError.contains("Sharing the whole screen, which spans 2 monitors"))
            #expect(whole.standardError.contains("--monitor NAME or --monitor INDEX"))
            whole.send(SIGTERM)
            _ = try await whole.exitStatus(within: .seconds(5))

            let (right, port) = try await start(xvfb.displayName, ["--monitor", "1"])
            let frame = try await picture(port: port)
            #expect(frame.width == 340 && frame.height == 240)
            let expected = TestDisplay.crop(pattern.expected, width: 640, x: 300, y: 0, cropWidth: 340, cropHeight: 240)
            #expect(firstDifference(frame.rgb, expected, width: 340) == nil)
            #expect(right.standardError.contains("monitor 'RIGHT'"), "the log names the monitor shared")

            // Unplugged: the share ends with a message and exit 1.
            monitors.remove()
            #expect(try await right.exitStatus(within: .seconds(10)) == 1)
            #expect(right.standardError.contains("The shared monitor 'RIGHT' is gone"), "\(right.standardError)")
        }
    }

    @Test("--region serves exactly that rectangle; fully outside, share start refuses with advice")
    func region() async throws {
        try await withXvfb(width: 320, height: 240) { xvfb in
            let pattern = TestPattern(width: 320, height: 240, depth: 24, seed: 7)
            try pattern.draw(on: xvfb.displayName)
            let (share, port) = try await start(xvfb.displayName, ["--region", "101x67+13+29"])
            let frame = try await picture(port: port)
            #expect(frame.width == 101 && frame.height == 67)
            let expected = TestDisplay.crop(pattern.expected, width: 320, x: 13, y: 29, cropWidth: 101, cropHeight: 67)
            #expect(firstDifference(frame.rgb, expected, width: 101) == nil)
            share.send(SIGTERM)
            #expect(try await share.exitStatus(within: .seconds(5)) == 0)

            let outside = try ShareProcess([
                "start", "--port", "0", "--display", xvfb.displayName, "--region", "50x50+400+0",
            ])
            #expect(try await outside.exitStatus() == 1)
            #expect(outside.standardError.contains("lies fully outside the screen, which is 320x240+0+0"))
            #expect(outside.standardOutput.isEmpty, "nothing was served")
        }
    }

    @Test("--window: the page hears that sharing ended when the window closes, and share start exits with a message")
    func windowCloses() async throws {
        try await withXvfb(width: 320, height: 240) { xvfb in
            let window = try TestWindow(on: xvfb.displayName, x: 20, y: 30, width: 90, height: 50)
            defer { window.close() }
            let (share, port) = try await start(xvfb.displayName, ["--window", "0x" + String(window.id, radix: 16)])
            let frame = try await picture(port: port)
            #expect(frame.width == 90 && frame.height == 50)
            #expect(firstDifference(frame.rgb, window.expected, width: 90) == nil)

            // A viewer's long poll, as the page keeps one open.
            let client = TestClient(host: "127.0.0.1", port: port)
            client.connect()
            async let status = client.execute(.init("/status?wait=20", method: .get))
            try await Task.sleep(for: .milliseconds(300))
            window.close()
            let answer = try await status
            try? await client.shutdown()
            #expect(String(buffer: try #require(answer.body)) == #"{"state":"ended"}"#)
            #expect(try await share.exitStatus(within: .seconds(10)) == 1)
            #expect(share.standardError.contains("The shared window 0x\(String(window.id, radix: 16)) was closed"))
        }
    }

    @Test("The pointer is in the served picture by default and not with --no-cursor")
    func cursor() async throws {
        try await withPointer(seed: 8, x: 150, y: 100) { xvfb, pattern, cursor in
            let opaque = try #require(cursor.argb.firstIndex { $0 >> 24 == 255 })
            let (x, y) = (cursor.x + opaque % cursor.width, cursor.y + opaque / cursor.width)
            let argb = cursor.argb[opaque]

            let (drawn, drawnPort) = try await start(xvfb.displayName, [])
            let withCursor = try await picture(port: drawnPort)
            let i = (y * 320 + x) * 3
            #expect(
                Array(withCursor.rgb[i..<(i + 3)]) == [
                    UInt8(argb >> 16 & 255), UInt8(argb >> 8 & 255), UInt8(argb & 255),
                ]
            )
            drawn.send(SIGTERM)
            _ = try await drawn.exitStatus(within: .seconds(5))

            let (plain, plainPort) = try await start(xvfb.displayName, ["--no-cursor"])
            let withoutCursor = try await picture(port: plainPort)
            #expect(firstDifference(withoutCursor.rgb, pattern.expected, width: 320) == nil)
            plain.send(SIGTERM)
            _ = try await plain.exitStatus(within: .seconds(5))
        }
    }

    @Test("--max-width downscales with the aspect ratio kept")
    func maxWidth() async throws {
        try await withXvfb(width: 640, height: 480) { xvfb in
            try TestPattern(width: 640, height: 480, depth: 24).draw(on: xvfb.displayName)
            let (share, port) = try await start(xvfb.displayName, ["--max-width", "200", "--max-height", "400"])
            let frame = try await picture(port: port)
            #expect(frame.width == 200 && frame.height == 150)
            share.send(SIGTERM)
            _ = try await share.exitStatus(within: .seconds(5))
        }
    }

    @Test(
        "Wrong area options are refused with what to change",
        arguments: [
            (["--region", "100x100"], "--region must be WIDTHxHEIGHT+X+Y"),
            (["--window", "tab"], "--window needs a window id"),
            (["--monitor", "A", "--region", "1x1+0+0"], "Give only one of --monitor, --region and --window"),
            (["--max-width", "4"], "--max-width must be between 16 and 16384"),
            (["--test-card", "--region", "10x10+0+0"], "cannot go with --test-card"),
        ]
    )
    func wrongOptions(arguments: [String], message: String) async throws {
        let share = try ShareProcess(["start"] + arguments)
        #expect(try await share.exitStatus() == 64)
        #expect(share.standardError.contains(message), "\(share.standardError)")
    }
}
