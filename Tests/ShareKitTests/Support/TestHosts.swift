import Foundation
import Glibc
import Synchronization

// Real Avahi on test hosts made of Linux network namespaces (see docs/mdns-test-hosts.md).
//
// mDNS is multicast and this machine's eth0 leads to a shared network, so every mDNS sender runs inside a
// namespace made here: avahi-daemon never runs in the root network namespace. While hosts are up, the root
// namespace has `unreachable 10.77.0.0/24` (metric = our PID), so a stray connection to a test address fails
// at once instead of leaving through eth0. Daemons are started with `ChildProcess` (recorded by PID for
// Scripts/test) and killed by PID, avahi-daemon before its dbus-daemon.

extension TestEnvironment {
    /// True when the project's test command asked for real Avahi (`SHARE_TEST_REQUIRE` holds "avahi" or "all"):
    /// then the Avahi suites fail, rather than skip, when their environment cannot be made.
    static var requiresAvahi: Bool { requires("avahi") }

    /// Run the Avahi suites under Scripts/test, and wherever they can run: as root with avahi-daemon, dbus-daemon
    /// and ip installed.
    static var runsAvahiSuites: Bool {
        requiresAvahi
            || (geteuid() == 0 && HarnessTools.find("avahi-daemon") != nil
                && HarnessTools.find("dbus-daemon") != nil && HarnessTools.find("ip") != nil)
    }
}

/// A command of the harness that failed or hung.
struct TestHostError: Error, CustomStringConvertible {
    let description: String
}

/// How the harness's shared helpers (Namespace.swift) report a failed or hung command.
private let hostFailure: @Sendable (String) -> any Error = { TestHostError(description: $0) }

/// The programs the harness runs, by absolute path.
private struct HostTools: Sendable {
    let ip: String
    let dbusDaemon: String
    let dbusSend: String
    let avahiDaemon: String
    let shell: String

    /// Finds every tool, or says what is missing and how to install it.
    static func locate() throws -> HostTools {
        guard geteuid() == 0 else {
            throw EnvironmentError(
                description: "The test hosts with real Avahi need root (network namespaces, veth links, mounts); "
                    + "run Scripts/test as root."
            )
        }
        let names = ["ip", "dbus-daemon", "dbus-send", "avahi-daemon", "sh", "mount", "avahi-browse", "avahi-publish"]
        let paths = names.map { HarnessTools.find($0) }
        let missing = zip(names, paths).filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else {
            throw EnvironmentError(
                description: "The test hosts with real Avahi cannot be made: \(missing.joined(separator: ", ")) "
                    + "not found. Install them with: apt-get install avahi-daemon avahi-utils dbus iproute2"
            )
        }
        return HostTools(
            ip: paths[0]!,
            dbusDaemon: paths[1]!,
            dbusSend: paths[2]!,
            avahiDaemon: paths[3]!,
            shell: paths[4]!
        )
    }
}

/// State shared by every set of hosts in this test process.
private let harness = Mutex<(nextIndex: Int, routeUsers: Int)>((0, 0))

/// One test host: a network namespace with its own system bus and avahi-daemon.
final class TestHost: NamespaceHost {
    /// A short label, "presenter" or "audience".
    let name: String
    /// The network namespace, unique per test process and per set of hosts.
    let namespace: String
    /// This host's IPv4 address on the test link (on `veth0`).
    let address: String
    /// DBUS_SYSTEM_BUS_ADDRESS for clients of this host's Avahi.
    let busAddress: String
    /// This host's scratch folder (bus socket, configs, daemon logs); removed at teardown.
    let directory: String
    /// The Avahi host name, so this host's services resolve to `<avahiHostName>.local`.
    let avahiHostName: String

    /// The namespace itself: made and deleted by `TestHosts`.
    let network: TestNamespace
    private let tools: HostTools
    private let bus = Mutex<ChildProcess?>(nil)
    private let avahi = Mutex<ChildProcess?>(nil)
    private let avahiStarts = Atomic<Int>(0)

    fileprivate init(
        name: String,
        namespace: String,
        address: String,
        directory: String,
        hostName: String,
        tools: HostTools
    ) throws {
        self.name = name
        self.namespace = namespace
        self.address = address
        self.directory = directory
        self.avahiHostName = hostName
        self.tools = tools
        self.busAddress = "unix:path=\(directory)/bus"
        self.network = TestNamespace(
            name: namespace,
            ip: tools.ip,
            scratch: directory,
            label: "on \(name)",
            failure: hostFailure
        )
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.dbusConfig(socket: "\(directory)/bus").write(toFile: dbusConfigPath, atomically: true, encoding: .utf8)
        try Self.avahiConfig(hostName: hostName).write(toFile: avahiConfigPath, atomically: true, encoding: .utf8)
    }

    private var dbusConfigPath: String { "\(directory)/dbus.conf" }
    private var avahiConfigPath: String { "\(directory)/avahi-daemon.conf" }

    /// The log (stderr) of the avahi-daemon started last.
    var avahiLogPath: String { "\(directory)/avahi-\(avahiStarts.load(ordering: .relaxed)).log" }

    /// The PIDs of this host's daemons that are running: avahi-daemon, then dbus-daemon.
    var daemonPIDs: [pid_t] {
        [avahi.withLock { $0 }, bus.withLock { $0 }].compactMap { $0 }.filter(\.isRunning).map(\.pid)
    }

    /// Environment for a client of this host's Avahi: the current environment plus DBUS_SYSTEM_BUS_ADDRESS.
    var clientEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DBUS_SYSTEM_BUS_ADDRESS"] = busAddress
        return environment
    }

    /// `run` lets a command take 20 s unless told otherwise.
    static var defaultRunTimeout: Duration { .seconds(20) }

    /// What `spawn` and `run` give a program inside (a bare name is looked up on PATH): `clientEnvironment` plus
    /// `extra`. `run` throws `TestHostError` when a command hangs.
    func spawnEnvironment(_ extra: [String: String]) -> [String: String] {
        clientEnvironment.merging(extra) { $1 }
    }

    /// Avahi's server state on this host (`org.freedesktop.Avahi.Server.GetState`: 2 is running), or nil when no
    /// daemon answers.
    func avahiState() async throws -> Int32? {
        let result = try await run(
            tools.dbusSend,
            [
                "--system", "--print-reply=literal", "--reply-timeout=2000", "--dest=org.freedesktop.Avahi", "/",
                "org.freedesktop.Avahi.Server.GetState",
            ],
            timeout: .seconds(5)
        )
        guard result.status == 0 else { return nil }
        return result.output.split(whereSeparator: \.isWhitespace).last.flatMap { Int32($0) }
    }

    /// Kills this host's avahi-daemon by PID (SIGTERM, then SIGKILL) and waits for it.
    func stopAvahi() {
        let process = avahi.withLock { current -> ChildProcess? in
            defer { current = nil }
            return current
        }
        process?.stop(grace: .seconds(3))
    }

    /// Starts this host's avahi-daemon and waits until it is running (GetState answers 2).
    func startAvahi() async throws {
        guard avahi.withLock({ $0 }) == nil else {
            throw TestHostError(description: "avahi-daemon is already running on \(name)")
        }
        let start = avahiStarts.wrappingAdd(1, ordering: .relaxed).newValue
        // `ip netns exec` gives the command its own mount namespace: a tmpfs on /run/avahi-daemon gives this
        // daemon its own pid file and socket, and one on /etc/avahi/services hides static services of the machine.
        let script = """
            set -e
            mount -t tmpfs tmpfs /run/avahi-daemon
            if [ -d /etc/avahi/services ]; then mount -t tmpfs tmpfs /etc/avahi/services; fi
            exec "$1" -f "$2" --no-drop-root --no-chroot --no-rlimits
            """
        let process = try spawn(
            tools.shell,
            ["-c", script, "sh", tools.avahiDaemon, avahiConfigPath],
            standardOutputPath: "\(directory)/avahi-\(start).out",
            standardErrorPath: "\(directory)/avahi-\(start).log"
        )
        avahi.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let status = process.exitStatus {
                stopAvahi()
                throw TestHostError(
                    description: "avahi-daemon on \(name) ended with status \(status) before it was ready: "
                        + log("avahi-\(start).log")
                )
            }
            if try await avahiState() == 2 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        stopAvahi()
        throw TestHostError(
            description: "avahi-daemon on \(name) was not running within 10 s: " + log("avahi-\(start).log")
        )
    }

    /// Stops this host's avahi-daemon and starts a new one.
    func restartAvahi() async throws {
        stopAvahi()
        try await startAvahi()
    }

    /// Starts this host's dbus-daemon (system bus) and waits for its socket.
    fileprivate func startBus() async throws {
        let process = try spawn(
            tools.dbusDaemon,
            ["--config-file=\(dbusConfigPath)", "--nofork", "--nopidfile"],
            standardOutputPath: "\(directory)/dbus.out",
            standardErrorPath: "\(directory)/dbus.log"
        )
        bus.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let status = process.exitStatus {
                throw TestHostError(
                    description: "dbus-daemon on \(name) ended with status \(status): " + log("dbus.log")
                )
            }
            if FileManager.default.fileExists(atPath: "\(directory)/bus") { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestHostError(description: "dbus-daemon on \(name) made no socket within 10 s: " + log("dbus.log"))
    }

    /// Stops avahi-daemon, then the bus it uses.
    fileprivate func stopDaemons() {
        stopAvahi()
        let process = bus.withLock { current -> ChildProcess? in
            defer { current = nil }
            return current
        }
        process?.stop(grace: .seconds(2))
    }

    private func log(_ file: String) -> String {
        let text = (try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)) ?? ""
        return text.isEmpty ? "(no output)" : String(text.suffix(2_000))
    }

    private static func dbusConfig(socket: String) -> String {
        """
        <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
         "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
        <busconfig>
          <type>system</type>
          <listen>unix:path=\(socket)</listen>
          <auth>EXTERNAL</auth>
          <policy context="default">
            <allow user="*"/>
            <deny own="*"/>
            <deny send_type="method_call"/>
            <allow send_type="signal"/>
            <allow send_requested_reply="true" send_type="method_return"/>
            <allow send_requested_reply="true" send_type="error"/>
            <allow receive_type="method_call"/>
            <allow receive_type="method_return"/>
            <allow receive_type="error"/>
            <allow receive_type="signal"/>
            <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
            <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
            <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
            <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
                  send_member="UpdateActivationEnvironment"/>
          </policy>
          <includedir>/usr/share/dbus-1/system.d</includedir>
          <includedir>/etc/dbus-1/system.d</includedir>
        </busconfig>

        """
    }

    private static func avahiConfig(hostName: String) -> String {
        """
        [server]
        host-name=\(hostName)
        use-ipv4=yes
        use-ipv6=no
        allow-interfaces=veth0
        enable-dbus=yes
        ratelimit-interval-usec=1000000
        ratelimit-burst=1000

        [wide-area]
        enable-wide-area=no

        [publish]
        publish-addresses=yes
        publish-aaaa-on-ipv4=no
        publish-hinfo=no
        publish-workstation=no

        [reflector]
        enable-reflector=no

        """
    }
}

/// Two hosts on one veth link: presenter (10.77.0.1) and audience (10.77.0.2), each with its own bus and Avahi.
final class TestHosts: Sendable {
    let presenter: TestHost
    let audience: TestHost
    var all: [TestHost] { [presenter, audience] }

    private let tools: HostTools
    private let directory: String
    /// What has been made so far, so that teardown undoes exactly that (also after a failed start).
    private let made = Mutex<(route: Bool, stopped: Bool)>((false, false))

    static let subnet = "10.77.0.0/24"

    private init(tools: HostTools, directory: String, index: Int) throws {
        let pid = getpid()
        self.tools = tools
        self.directory = directory
        presenter = try TestHost(
            name: "presenter",
            namespace: "share-a-\(pid)-\(index)",
            address: "10.77.0.1",
            directory: "\(directory)/presenter",
            hostName: "share-presenter-\(pid)-\(index)",
            tools: tools
        )
        audience = try TestHost(
            name: "audience",
            namespace: "share-b-\(pid)-\(index)",
            address: "10.77.0.2",
            directory: "\(directory)/audience",
            hostName: "share-audience-\(pid)-\(index)",
            tools: tools
        )
    }

    /// Makes the namespaces, the link, the buses and the Avahi daemons, and waits until both daemons run.
    /// Throws `EnvironmentError` saying what to install when the machine cannot do it.
    static func start() async throws -> TestHosts {
        let tools = try HostTools.locate()
        // A unix socket path must fit in 108 bytes.
        let directory = try makeScratchDirectory(prefix: "share-hosts", deepest: "/presenter/bus", limit: 100)
        let index = harness.withLock { state in
            defer { state.nextIndex += 1 }
            return state.nextIndex
        }
        let hosts: TestHosts
        do {
            hosts = try TestHosts(tools: tools, directory: directory, index: index)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        do {
            try await hosts.setUp()
        } catch {
            hosts.stop()
            throw error
        }
        return hosts
    }

    private func setUp() async throws {
        try addRoute()
        for host in all { try host.network.create() }
        try presenter.network.configure([
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", audience.namespace,
        ])
        for host in all {
            try host.network.configure(["addr", "add", "\(host.address)/24", "dev", "veth0"])
            try host.network.configure(["link", "set", "veth0", "up"])
        }
        // The mount point for each daemon's private /run/avahi-daemon (an empty folder in the root namespace).
        try FileManager.default.createDirectory(atPath: "/run/avahi-daemon", withIntermediateDirectories: true)
        for host in all { try await host.startBus() }
        async let presenterReady: Void = presenter.startAvahi()
        async let audienceReady: Void = audience.startAvahi()
        _ = try await (presenterReady, audienceReady)
    }

    /// Full teardown: avahi-daemons, then buses (by PID), namespaces, the unreachable route, the scratch folder.
    /// Idempotent.
    func stop() {
        let alreadyStopped = made.withLock { state in
            defer { state.stopped = true }
            return state.stopped
        }
        guard !alreadyStopped else { return }
        for host in all { host.stopAvahi() }
        for host in all { host.stopDaemons() }
        for host in all { host.network.delete() }
        removeRoute()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    /// The route, one per test process (metric = PID), shared by the sets of hosts that are up in this process.
    private var routeArguments: [String] { ["route", "add", "unreachable", Self.subnet, "metric", "\(getpid())"] }

    private func addRoute() throws {
        try harness.withLock { state in
            if state.routeUsers == 0 {
                do {
                    try runChecked(tools.ip, routeArguments, scratch: directory, failure: hostFailure)
                } catch let error as TestHostError where error.description.contains("File exists") {
                    // Left by an earlier process with our PID: ours now.
                }
            }
            state.routeUsers += 1
        }
        made.withLock { $0.route = true }
    }

    private func removeRoute() {
        let added = made.withLock { state in
            defer { state.route = false }
            return state.route
        }
        guard added else { return }
        harness.withLock { state in
            state.routeUsers -= 1
            if state.routeUsers == 0 {
                var arguments = routeArguments
                arguments[1] = "delete"
                _ = try? runChecked(tools.ip, arguments, scratch: directory, failure: hostFailure)
            }
        }
    }
}

/// Runs `body` with fresh test hosts, and tears them down afterwards whatever happens.
func withTestHosts<T>(_ body: (TestHosts) async throws -> T) async throws -> T {
    let hosts = try await TestHosts.start()
    do {
        let result = try await body(hosts)
        hosts.stop()
        return result
    } catch {
        hosts.stop()
        throw error
    }
}
