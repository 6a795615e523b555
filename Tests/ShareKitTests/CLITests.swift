import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import ShareKit

/// `share` as a process: what a presenter sees on the terminal, and exit codes.
@Suite(
    "The share command",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these")
)
struct CLITests {
    @Test("share start prints its URL, serves the screen, and exits cleanly on SIGTERM")
    func startServesAndStops() async throws {
        try await withXvfb(width: 320, height: 240) { xvfb in
            let pattern = TestPattern(width: 320, height: 240, depth: 24, seed: 4)
            try pattern.draw(on: xvfb.displayName)
            let share = try ShareProcess(
                ["start", "--port", "0", "--display", xvfb.displayName, "--name", "CLI test", "--no-advertise"],
                environment: ["DISPLAY": ""]
            )
            let lines = try await share.outputLines(atLeast: 2)
            let hostLine = try #require(lines.last, "stderr: \(share.standardError)")
            #expect(hostLine.hasPrefix("http://") && hostLine.hasSuffix(".local:\(portOf(hostLine))/"))
            for line in lines {
                #expect(line.hasPrefix("http://"), "stdout carries URLs only: \(line)")
                #expect(!line.contains("127.0.0.1"), "loopback is not printed when listening everywhere")
            }
            let port = portOf(hostLine)
            #expect(port > 0, "--port 0 prints the port the system picked")

            let client = TestClient(host: "127.0.0.1", port: port)
            client.connect()
            let response = try await client.execute(.init("/screen.png", method: .get))
            try await client.shutdown()
            #expect(response.head.status == .ok)
            let decoded = try decodePNG(Array(buffer: try #require(response.body)))
            #expect(firstDifference(decoded.rgb, pattern.expected, width: 320) == nil)

            share.send(SIGTERM)
            let status = try await share.exitStatus(within: .seconds(5))
            #expect(status == 0, "stderr: \(share.standardError)")
        }
    }

    @Test("Graceful shutdown on SIGTERM takes under 1 s, with a viewer connected and waiting")
    func shutdownIsQuick() async throws {
        // The machines are shared and noisy: the best of three attempts must be under a second.
        try await withXvfb(width: 320, height: 240) { xvfb in
            var durations: [Duration] = []
            for _ in 0..<3 {
                let share = try ShareProcess(
                    [
                        "start", "--port", "0", "--bind", "127.0.0.1", "--display", xvfb.displayName, "--no-advertise",
                        "--log-level", "debug",
                    ]
                )
                let lines = try await share.outputLines(atLeast: 1)
                let port = portOf(try #require(lines.first, "stderr: \(share.standardError)"))
                // A viewer: one frame fetched, its connection kept alive, and a status long poll in flight.
                let viewer = TestClient(host: "127.0.0.1", port: port)
                viewer.connect()
                _ = try await viewer.execute(.init("/screen.png", method: .get))
                let poller = TestClient(host: "127.0.0.1", port: port)
                poller.connect()
                let poll = Task { try await poller.execute(.init("/status?wait=25", method: .get)) }
                // Wait until the server has the long poll (its debug log names each request as it starts).
                for _ in 0..<200 where !share.standardError.contains("path=/status") {
                    try await Task.sleep(for: .milliseconds(10))
                }

                let signalled = ContinuousClock.now
                share.send(SIGTERM)
                let status = try await share.exitStatus(within: .seconds(5))
                durations.append(ContinuousClock.now - signalled)
                #expect(status == 0, "stderr: \(share.standardError)")
                let answer = try? await poll.value
                #expect(answer.flatMap { $0.body.map { String(buffer: $0) } } == #"{"state":"ended"}"#)
                try? await viewer.shutdown()
                try? await poller.shutdown()
                if durations.last! < .seconds(1) { break }
            }
            #expect(durations.min()! < .seconds(1), "graceful shutdown took \(durations)")
        }
    }

    @Test("On a terminal, share start prints a QR code of the first URL; --no-qr turns it off")
    func qrCodeOnTerminal() async throws {
        for (arguments, expectsCode) in [([String](), true), (["--no-qr"], false), (["--pin", "4711"], true)] {
            let command =
                ([TestEnvironment.shareExecutable, "start", "--test-card", "--port", "0", "--bind", "127.0.0.1"]
                + arguments).joined(separator: " ")
            let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("tty-\(UUID().uuidString)")
                .path
            defer { try? FileManager.default.removeItem(atPath: outputPath) }
            // script(1) gives share a pseudo-terminal as stdout, as a presenter's terminal would.
            let terminal = try ChildProcess(
                executable: "/usr/bin/script",
                arguments: ["-qec", command, "/dev/null"],
                environment: ProcessInfo.processInfo.environment.merging([
                    "DBUS_SYSTEM_BUS_ADDRESS": TestEnvironment.noBus
                ]) { $1 },
                standardOutputPath: outputPath
            )
            var output = ""
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
                if output.contains("Sharing. Press Ctrl-C") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(200))
            output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            terminal.stop()
            #expect(output.contains("http://127.0.0.1:"))
            #expect(output.contains("Scan to open http://127.0.0.1:") == expectsCode, "\(arguments): \(output)")
            #expect(output.contains("\u{1B}[30;47m") == expectsCode)
            if arguments.contains("--pin") {
                // A scan opens the share without typing the PIN: the code's URL carries it.
                let scan = #"Scan to open http://127\.0\.0\.1:[0-9]+/\?pin=4711"#
                #expect(output.range(of: scan, options: .regularExpression) != nil, "\(output)")
            }
        }
    }

    @Test("The X server killed mid-share: share start stops with a message and a non-zero exit")
    func xServerKilled() async throws {
        let xvfb = try XvfbServer.start(width: 320, height: 240, depth: 24)
        defer { xvfb.stop() }
        let share = try ShareProcess(["start", "--port", "0", "--bind", "127.0.0.1", "--display", xvfb.displayName])
        let lines = try await share.outputLines(atLeast: 1)
        let url = try #require(lines.first, "stderr: \(share.standardError)")
        #expect(url.hasPrefix("http://127.0.0.1:"), "stderr: \(share.standardError)")
        // A viewer waiting on /status hears that the share ended.
        let poller = TestClient(host: "127.0.0.1", port: portOf(url))
        poller.connect()
        let poll = Task { try await poller.execute(.init("/status?wait=25", method: .get)) }
        try await Task.sleep(for: .milliseconds(300))
        xvfb.stop()
        let status = try await share.exitStatus(within: .seconds(10))
        #expect(status == 1, "stderr: \(share.standardError)")
        #expect(share.standardError.contains("The X display '\(xvfb.displayName)' went away"))
        #expect(share.standardError.contains("Start share again"))
        let answer = try? await poll.value
        #expect(answer.flatMap { $0.body.map { String(buffer: $0) } } == #"{"state":"ended"}"#, "the viewer was told")
        try? await poller.shutdown()
    }

    @Test("A wrong DISPLAY: a non-zero exit and advice on DISPLAY, --test-card and Wayland")
    func wrongDisplay() async throws {
        let share = try ShareProcess(["start", "--port", "0"], environment: ["DISPLAY": ":4243"])
        let status = try await share.exitStatus()
        #expect(status != nil && status != 0)
        let message = share.standardError
        #expect(message.contains("Cannot open the X display ':4243'"))
        #expect(message.contains("DISPLAY=:0"))
        #expect(message.contains("--test-card"))
        #expect(message.contains("Wayland"))
        #expect(share.standardOutput.isEmpty, "no URL is printed for a share that did not start")
    }

    @Test("No DISPLAY at all: the same advice")
    func noDisplay() async throws {
        let share = try ShareProcess(["start", "--port", "0"], environment: ["DISPLAY": ""])
        let status = try await share.exitStatus()
        #expect(status != nil && status != 0)
        #expect(share.standardError.contains("DISPLAY is not set"))
        #expect(share.standardError.contains("--test-card"))
    }

    @Test("A port in use: a non-zero exit that suggests --port 0")
    func portInUse() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let blocker = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(blocker.localAddress?.port)
        let share = try ShareProcess(["start", "--test-card", "--bind", "127.0.0.1", "--port", "\(port)"])
        let status = try await share.exitStatus()
        try await blocker.close()
        #expect(status != nil && status != 0)
        #expect(share.standardError.contains("Port \(port) on 127.0.0.1 is already in use"), "\(share.standardError)")
        #expect(share.standardError.contains("--port 0"))
        #expect(share.standardOutput.isEmpty)
    }

    @Test(
        "Out-of-range options are refused with the allowed range",
        arguments: [
            (["--interval", "0.05"], "--interval must be between 0.1 and 3600"),
            (["--interval", "4000"], "--interval must be between 0.1 and 3600"),
            (["--port", "70000"], "--port must be between 0 and 65535"),
            (["--bind", "my-laptop"], "--bind needs an IP address"),
        ]
    )
    func outOfRange(arguments: [String], message: String) async throws {
        let share = try ShareProcess(["start", "--test-card"] + arguments)
        let status = try await share.exitStatus()
        #expect(status == 64, "a usage error")
        #expect(share.standardError.contains(message), "\(share.standardError)")
    }

    @Test("--test-card serves a picture without any X display")
    func testCard() async throws {
        let share = try ShareProcess(
            ["start", "--test-card", "--bind", "127.0.0.1", "--port", "0"],
            environment: ["DISPLAY": ""]
        )
        let lines = try await share.outputLines(atLeast: 1)
        let url = try #require(lines.first, "stderr: \(share.standardError)")
        #expect(url.hasPrefix("http://127.0.0.1:"))
        let client = TestClient(host: "127.0.0.1", port: portOf(url))
        client.connect()
        let response = try await client.execute(.init("/screen.png", method: .get))
        try await client.shutdown()
        let decoded = try decodePNG(Array(buffer: try #require(response.body)))
        #expect(decoded.width == 1280 && decoded.height == 720)
        share.send(SIGINT)
        #expect(try await share.exitStatus(within: .seconds(5)) == 0)
    }

    @Test("--version and --help")
    func versionAndHelp() async throws {
        let version = try ShareProcess(["--version"])
        #expect(try await version.exitStatus() == 0)
        #expect(version.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == ShareVersion.current)
        let help = try ShareProcess(["start", "--help"])
        #expect(try await help.exitStatus() == 0)
        #expect(help.standardOutput.contains("Examples:"))
        #expect(help.standardOutput.contains("--test-card"))
    }

    private func portOf(_ url: String) -> Int {
        guard let components = URLComponents(string: url), let port = components.port else { return -1 }
        return port
    }
}
