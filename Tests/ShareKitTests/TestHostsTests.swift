import Foundation
import Glibc
import Testing

/// The test-host harness itself: two network namespaces with their own bus and avahi-daemon, where a service
/// published on one host is found on the other, and which leave nothing behind.
@Suite(
    "Test hosts with real Avahi",
    .enabled(if: TestEnvironment.runsAvahiSuites, "needs root, avahi-daemon, dbus and iproute2; run Scripts/test"),
    .serialized
)
struct TestHostsTests {
    @Test("A service published on the presenter is browsed and resolved on the audience")
    func publishedOnPresenterIsResolvedOnAudience() async throws {
        try await withTestHosts { hosts in
            let outputPath = "\(hosts.presenter.directory)/publish.out"
            let errorPath = "\(hosts.presenter.directory)/publish.err"
            let publisher = try hosts.presenter.spawn(
                "avahi-publish",
                ["-s", "Harness Probe", "_http._tcp", "8080", "path=/"],
                standardOutputPath: outputPath,
                standardErrorPath: errorPath
            )
            defer { publisher.stop() }

            // Registering takes about a second (name probing); browse until the service resolves.
            let deadline = ContinuousClock.now + .seconds(10)
            var resolved: [Substring] = []
            var lastBrowse = ""
            while resolved.isEmpty, ContinuousClock.now < deadline {
                let browse = try await hosts.audience.run("avahi-browse", ["-rtpk", "_http._tcp"])
                lastBrowse = "status \(browse.status), stdout: \(browse.output) stderr: \(browse.error)"
                resolved = browse.output.split(separator: "\n")
                    .filter { $0.hasPrefix("=;") && $0.contains("Harness\\032Probe") }
                if resolved.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
            }
            let published = [outputPath, errorPath]
                .compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
            let line = try #require(
                resolved.first,
                "the audience never resolved the service; last browse: \(lastBrowse); avahi-publish: \(published)"
            )
            // =;interface;protocol;name;type;domain;host;address;port;txt
            let fields = line.split(separator: ";", omittingEmptySubsequences: false)
            try #require(fields.count >= 10, "unexpected line: \(line)")
            #expect(fields[2] == "IPv4")
            #expect(fields[4] == "_http._tcp")
            #expect(fields[6] == "\(hosts.presenter.avahiHostName).local")
            #expect(fields[7] == "10.77.0.1")
            #expect(fields[8] == "8080")
            #expect(fields[9].contains("path=/"))
            #expect(published.contains("Established under name 'Harness Probe'"), "avahi-publish said: \(published)")
            #expect(publisher.isRunning)
        }
    }

    @Test("Avahi restarts on a host, and teardown leaves no namespace, daemon or folder behind")
    func restartsAndTearsDown() async throws {
        let hosts = try await TestHosts.start()
        defer { hosts.stop() }
        let namespaces = [hosts.presenter.namespace, hosts.audience.namespace]
        let folders = [hosts.presenter.directory, hosts.audience.directory]
        #expect(try await hosts.presenter.avahiState() == 2)
        #expect(try await hosts.audience.avahiState() == 2)
        let listed = try await listNamespaces()
        #expect(namespaces.allSatisfy(listed.contains), "ip netns list: \(listed)")

        let before = hosts.presenter.daemonPIDs
        try #require(before.count == 2, "avahi-daemon and dbus-daemon run on the presenter")
        try await hosts.presenter.restartAvahi()
        #expect(try await hosts.presenter.avahiState() == 2)
        let after = hosts.presenter.daemonPIDs
        #expect(after.count == 2 && after[0] != before[0], "a new avahi-daemon: \(before) -> \(after)")
        #expect(after.last == before.last, "the same bus")
        #expect(kill(before[0], 0) != 0, "the old avahi-daemon is gone")

        hosts.presenter.stopAvahi()
        #expect(try await hosts.presenter.avahiState() == nil)
        try await hosts.presenter.startAvahi()
        #expect(try await hosts.presenter.avahiState() == 2)

        let daemons = hosts.presenter.daemonPIDs + hosts.audience.daemonPIDs
        #expect(daemons.count == 4)
        hosts.stop()
        hosts.stop()
        let remaining = try await listNamespaces()
        #expect(!namespaces.contains { remaining.contains($0) }, "ip netns list: \(remaining)")
        for pid in daemons { #expect(kill(pid, 0) != 0, "daemon \(pid) is gone") }
        for folder in folders { #expect(!FileManager.default.fileExists(atPath: folder)) }
        #expect(hosts.presenter.daemonPIDs.isEmpty && hosts.audience.daemonPIDs.isEmpty)
    }

    /// The names `ip netns list` shows (a read-only query of the root namespace).
    private func listNamespaces() async throws -> [String] {
        let ip =
            ["/usr/sbin/ip", "/sbin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"
        let path = NSTemporaryDirectory() + "netns-\(UUID().uuidString).txt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = try ChildProcess(executable: ip, arguments: ["netns", "list"], standardOutputPath: path)
        #expect(try await process.wait(timeout: .seconds(10)) == 0)
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    }
}
