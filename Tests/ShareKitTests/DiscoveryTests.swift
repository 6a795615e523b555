import Foundation
import Testing

@testable import ShareKit

/// Discovery between two test hosts, each a network namespace with its own real avahi-daemon: a presenter
/// (10.77.0.1) running `share start`, and an audience (10.77.0.2) running `share list` and `share open`.
@Suite(
    "Finding shares on the LAN with real Avahi",
    .enabled(if: TestEnvironment.runsAvahiSuites, "needs root, avahi-daemon, dbus and iproute2; run Scripts/test"),
    .serialized
)
struct DiscoveryTests {
    @Test("A share is seen by avahi-browse and share list on the other host, and its URL serves the page and PNG")
    func presenterToAudience() async throws {
        try await withTestHosts { hosts in
            let share = try await HostedShare.start(on: hosts.presenter, name: "Room 4")
            // The peer tool sees the service, with its subtype, address, port and path.
            let line = try await eventually("avahi-browse sees Room 4") {
                let browse = try await hosts.audience.run(
                    "/usr/bin/avahi-browse",
                    ["-rtpk", ShareAdvertisement.subtype]
                )
                return browse.output.split(separator: "\n").first { $0.hasPrefix("=;") && $0.contains("Room\\0324") }
            }
            #expect(line.contains(";10.77.0.1;\(share.port);"))
            #expect(line.contains("\"path=/\""))
            #expect(line.contains("\"txtvers=1\""))

            let found = try await listShares(on: hosts.audience)
            let room = try #require(found.first { $0.name == "Room 4" })
            #expect(room.host.hasSuffix(".local"))
            #expect(room.port == share.port)
            #expect(room.path == "/")
            #expect(room.addresses == ["10.77.0.1"])
            #expect(room.url == "http://10.77.0.1:\(share.port)/")
            #expect(room.txt["txtvers"] == "1" && room.txt["version"] == ShareVersion.current)
            #expect(room.isShare)

            // The URL works from the audience host.
            let page = try await hosts.audience.run("/usr/bin/curl", ["-sS", "-f", room.url])
            #expect(page.status == 0 && page.output.contains("<title>Room 4"))
            let png = try await hosts.audience.run(
                "/usr/bin/curl",
                ["-sS", "-f", "-o", "/dev/null", "-w", "%{content_type}", room.url + "screen.png"]
            )
            #expect(png.status == 0 && png.output == "image/png")
            share.stop()
        }
    }

    @Test("share list prints a table on stdout; share open hands the URL to $BROWSER")
    func tableAndOpen() async throws {
        try await withTestHosts { hosts in
            let share = try await HostedShare.start(on: hosts.presenter, name: "Lecture Hall")
            _ = try await eventually("share list sees the share") {
                try await listShares(on: hosts.audience).first { $0.name == "Lecture Hall" }
            }
            let table = try await hosts.audience.run(TestEnvironment.shareExecutable, ["list"])
            #expect(table.status == 0)
            let lines = table.output.split(separator: "\n")
            #expect(lines.first?.hasPrefix("NAME") == true)
            #expect(lines.contains { $0.hasPrefix("Lecture Hall") && $0.contains("http://10.77.0.1:\(share.port)/") })

            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "browser-\(UUID().uuidString)"
            )
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let script = directory.appendingPathComponent("browser").path
            let record = directory.appendingPathComponent("opened").path
            try "#!/bin/sh\necho \"$1\" >> \(record)\n".write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            let opened = try await hosts.audience.run(
                TestEnvironment.shareExecutable,
                ["open"],
                environment: ["BROWSER": script]
            )
            #expect(opened.status == 0, "\(opened.error)")
            #expect((try? String(contentsOfFile: record, encoding: .utf8)) == "http://10.77.0.1:\(share.port)/\n")

            let named = try await hosts.audience.run(
                TestEnvironment.shareExecutable,
                ["open", "lecture hall"],
                environment: ["BROWSER": script]
            )
            #expect(named.status == 0, "a name matches regardless of case")

            let unknown = try await hosts.audience.run(
                TestEnvironment.shareExecutable,
                ["open", "Kitchen"],
                environment: ["BROWSER": script]
            )
            #expect(unknown.status != 0)
            #expect(unknown.error.contains("No share called \"Kitchen\""))
            #expect(unknown.error.contains("\"Lecture Hall\""))

            // No browser at all: the URL is printed.
            let none = try await hosts.audience.run(
                TestEnvironment.shareExecutable,
                ["open"],
                environment: ["BROWSER": "/nonexistent/browser", "PATH": "/nonexistent"]
            )
            #expect(none.status == 0)
            #expect(none.output == "http://10.77.0.1:\(share.port)/\n")
            #expect(none.error.contains("open this URL yourself"))
            share.stop()
        }
    }

    @Test("A service from avahi-publish shows in share list --all, marked as not a share, and not in share list")
    func interoperability() async throws {
        try await withTestHosts { hosts in
            let publisher = try hosts.presenter.spawn(
                "/usr/bin/avahi-publish",
                ["-s", "Printer Page", "_http._tcp", "631", "path=/admin"]
            )
            defer { publisher.stop() }
            let printer = try await eventually("share list --all sees the printer") {
                try await listShares(on: hosts.audience, all: true).first { $0.name == "Printer Page" }
            }
            #expect(!printer.isShare)
            #expect(printer.url == "http://10.77.0.1:631/admin")
            #expect(try await listShares(on: hosts.audience).contains { $0.name == "Printer Page" } == false)
        }
    }

    @Test("SIGTERM withdraws the share: share list --watch on the other host sees it go within 2 s")
    func withdrawOnSIGTERM() async throws {
        try await withTestHosts { hosts in
            let share = try await HostedShare.start(on: hosts.presenter, name: "Going Away")
            let watchOutput = FileManager.default.temporaryDirectory.appendingPathComponent(
                "watch-\(UUID().uuidString)"
            ).path
            defer { try? FileManager.default.removeItem(atPath: watchOutput) }
            let watcher = try hosts.audience.spawn(
                TestEnvironment.shareExecutable,
                ["list", "--watch", "--json"],
                standardOutputPath: watchOutput
            )
            defer { watcher.stop() }
            _ = try await eventually("the watcher sees the share") {
                let text = (try? String(contentsOfFile: watchOutput, encoding: .utf8)) ?? ""
                return text.contains("\"event\":\"added\"") && text.contains("Going Away") ? true : nil
            }
            let stopped = ContinuousClock.now
            share.process.send(SIGTERM)
            _ = try await eventually("the watcher sees the share go", timeout: .seconds(10)) {
                let text = (try? String(contentsOfFile: watchOutput, encoding: .utf8)) ?? ""
                return text.contains("\"event\":\"removed\"") ? true : nil
            }
            let took = ContinuousClock.now - stopped
            #expect(took < .seconds(2), "removal reached the other host after \(took)")
            #expect(try await share.process.wait(timeout: .seconds(5)) == 0)
        }
    }

    @Test(
        "After the presenter's avahi-daemon restarts, the share is advertised again within 5 s; viewers never see an error"
    )
    func reAdvertisesAfterDaemonRestart() async throws {
        try await withTestHosts { hosts in
            let share = try await HostedShare.start(on: hosts.presenter, name: "Resilient")
            _ = try await eventually("the share is advertised") {
                try await listShares(on: hosts.presenter).first { $0.name == "Resilient" }
            }
            // A viewer on the audience host keeps fetching frames through the restart.
            let frameURL = share.url + "screen.png"
            let viewer = Task { () -> [String] in
                var answers: [String] = []
                while !Task.isCancelled {
                    let fetch: (status: Int32, output: String, error: String)
                    do {
                        fetch = try await hosts.audience.run(
                            "/usr/bin/curl",
                            ["-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", frameURL]
                        )
                    } catch {
                        // Cancelled while a fetch was running: that fetch is not the share's answer.
                        if Task.isCancelled { break }
                        throw error
                    }
                    answers.append(fetch.output.isEmpty ? "failed: \(fetch.error)" : fetch.output)
                    try? await Task.sleep(for: .milliseconds(200))
                }
                return answers
            }
            try await Task.sleep(for: .milliseconds(500))
            try await hosts.presenter.restartAvahi()
            let restarted = ContinuousClock.now
            // The presenter's fresh daemon knows nothing until share registers again.
            _ = try await eventually("the share is registered with the new daemon", timeout: .seconds(15)) {
                try await listShares(on: hosts.presenter).first { $0.name == "Resilient" }
            }
            let took = ContinuousClock.now - restarted
            #expect(took < .seconds(5), "re-advertised after \(took)")
            _ = try await eventually("the audience sees it") {
                try await listShares(on: hosts.audience).first { $0.name == "Resilient" }
            }
            #expect(share.process.isRunning, "share start keeps running through the restart")
            viewer.cancel()
            let answers = try await viewer.value
            #expect(answers.count >= 5, "the viewer kept asking: \(answers)")
            #expect(answers.allSatisfy { $0 == "200" }, "every frame was served: \(answers)")
            share.stop()
        }
    }

    @Test("A share locked with a PIN says auth=pin in its TXT record, never the PIN; share list shows it locked")
    func lockedShareTXT() async throws {
        try await withTestHosts { hosts in
            let share = try await HostedShare.start(
                on: hosts.presenter,
                address: hosts.presenter.address,
                arguments: ["start", "--test-card", "--port", "0", "--name", "Locked Room", "--pin", "4711"]
            )
            let line = try await eventually("avahi-browse sees Locked Room") {
                let browse = try await hosts.audience.run(
                    "/usr/bin/avahi-browse",
                    ["-rtpk", ShareAdvertisement.subtype]
                )
                return browse.output.split(separator: "\n").first {
                    $0.hasPrefix("=;") && $0.contains("Locked\\032Room")
                }
            }
            #expect(line.contains("\"auth=pin\""), "\(line)")
            #expect(!line.contains("4711"), "the PIN is never multicast: \(line)")

            let found = try await listShares(on: hosts.audience)
            let locked = try #require(found.first { $0.name == "Locked Room" })
            #expect(locked.isLocked && locked.txt["auth"] == "pin")
            let json = try await hosts.audience.run(TestEnvironment.shareExecutable, ["list", "--json"])
            #expect(json.output.contains("\"locked\" : true"), "\(json.output)")
            let table = try await hosts.audience.run(TestEnvironment.shareExecutable, ["list"])
            let lines = table.output.split(separator: "\n")
            #expect(lines.first?.contains("ACCESS") == true)
            #expect(lines.contains { $0.hasPrefix("Locked Room") && $0.hasSuffix("PIN") }, "\(table.output)")
            // And the URL from the list asks for the PIN.
            let page = try await hosts.audience.run(
                "/usr/bin/curl",
                ["-sS", "-o", "/dev/null", "-w", "%{http_code}", locked.url + "screen.png"]
            )
            #expect(page.output == "401")
            share.stop()
        }
    }

    @Test("Two shares with one name on two hosts: both are listed, one renamed, and the rename is reported")
    func nameCollision() async throws {
        try await withTestHosts { hosts in
            let first = try await HostedShare.start(on: hosts.presenter, name: "Same")
            _ = try await eventually("the first share is advertised") {
                try await listShares(on: hosts.audience).first { $0.name == "Same" }
            }
            let second = try await HostedShare.start(on: hosts.audience, name: "Same")
            let names = try await eventually("both are listed") { () -> [String]? in
                let names = try await listShares(on: hosts.audience).map(\.name).sorted()
                return names.count == 2 ? names : nil
            }
            #expect(names == ["Same", "Same #2"])
            let renamed = try await eventually("the rename is reported") {
                second.standardError.contains("now advertised as 'Same #2'") ? true : nil
            }
            #expect(renamed)

            // share open without a name: it lists them and asks for one.
            let open = try await hosts.audience.run(
                TestEnvironment.shareExecutable,
                ["open"],
                environment: ["BROWSER": "/bin/false"]
            )
            #expect(open.status != 0)
            #expect(open.output.contains("Same #2") && open.output.contains("http://10.77.0."))
            #expect(open.error.contains("2 shares are on the network; name the one to open"))
            first.stop()
            second.stop()
        }
    }

    @Test("No Avahi daemon: share start warns and still serves; share list fails with the cause and the fix")
    func noDaemon() async throws {
        try await withTestHosts { hosts in
            hosts.presenter.stopAvahi()
            let share = try await HostedShare.start(on: hosts.presenter, name: "Lonely")
            let warned = try await eventually("share start warns") {
                share.standardError.contains("Cannot reach the Avahi daemon") ? share.standardError : nil
            }
            #expect(warned.contains("still served at http://10.77.0.1:\(share.port)/"))
            #expect(warned.contains("avahi-daemon"))
            let png = try await hosts.presenter.run(
                "/usr/bin/curl",
                ["-sS", "-f", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(share.port)/screen.png"]
            )
            #expect(png.output == "200")

            let list = try await hosts.presenter.run(TestEnvironment.shareExecutable, ["list"])
            #expect(list.status != 0)
            #expect(list.error.contains("Cannot reach the Avahi daemon"))
            #expect(list.error.contains("avahi-daemon"))

            // When the daemon comes, the share is advertised after all.
            try await hosts.presenter.startAvahi()
            _ = try await eventually("advertised once the daemon runs") {
                try await listShares(on: hosts.audience).first { $0.name == "Lonely" }
            }
            share.stop()
        }
    }

    @Test("Nothing on the network: share list says why on stderr and exits 0; --json prints []")
    func nothingFound() async throws {
        try await withTestHosts { hosts in
            let table = try await hosts.audience.run(TestEnvironment.shareExecutable, ["list"])
            #expect(table.status == 0)
            #expect(table.output.isEmpty)
            #expect(table.error.contains("No shares found"))
            #expect(table.error.contains("UDP port 5353"))
            #expect(table.error.contains("client isolation"))
            let json = try await hosts.audience.run(TestEnvironment.shareExecutable, ["list", "--json"])
            #expect(json.status == 0)
            #expect(json.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        }
    }
}

// MARK: - Helpers

/// `share list --json` on `host`.
func listShares(on host: TestHost, all: Bool = false) async throws -> [DiscoveredShare] {
    let result = try await host.run(TestEnvironment.shareExecutable, ["list", "--json"] + (all ? ["--all"] : []))
    guard result.status == 0 else {
        throw TestHostError(description: "share list failed on \(host.name): \(result.error)")
    }
    return try JSONDecoder().decode([DiscoveredShare].self, from: Data(result.output.utf8))
}

/// Retries `probe` until it returns a value, or fails the test after `timeout`.
func eventually<T>(
    _ what: String,
    timeout: Duration = .seconds(15),
    _ probe: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestHostError(description: "Timed out waiting: \(what)")
}
