import Foundation
import Glibc
import Synchronization

// A real headless Chromium, driven through chromedriver (W3C WebDriver), for tests of the viewer page.
//
// Chromium may send multicast (mDNS, SSDP media-router discovery) and this machine's eth0 leads to a shared network,
// so Chromium and chromedriver never run in the root network namespace: they run inside a `LoopbackHost`, a network
// namespace made here with only `lo` up, together with the `share start` server they test (at http://127.0.0.1:PORT/).
// The harness talks to chromedriver from inside the namespace too (`ip netns exec NS curl ...`). Everything is started
// with `ChildProcess` (recorded by PID for Scripts/test) and ended by PID; at teardown every process still inside the
// namespace (all of them started here: nothing else ever enters it) is ended by PID before the namespace is deleted.

extension TestEnvironment {
    /// True when the project's test command asked for the real browser (`SHARE_TEST_REQUIRE` holds "browser" or
    /// "all"): then the browser suites fail, rather than skip, when their environment cannot be made.
    static var requiresBrowser: Bool { requires("browser") }

    /// Run the browser suites when asked to, and wherever they can run: as root with Debian's chromium and
    /// chromium-driver installed.
    static var runsBrowserSuites: Bool {
        requiresBrowser
            || (geteuid() == 0 && FileManager.default.isExecutableFile(atPath: BrowserTools.chromium)
                && FileManager.default.isExecutableFile(atPath: BrowserTools.chromedriver))
    }
}

/// A browser, WebDriver or loopback-host command that failed or hung.
struct BrowserError: Error, CustomStringConvertible {
    let description: String
}

/// How the harness's shared helpers (Namespace.swift) report a failed or hung command.
private let browserFailure: @Sendable (String) -> any Error = { BrowserError(description: $0) }

/// The programs the harness runs, by absolute path.
private enum BrowserTools {
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"

    static func requireRoot() throws {
        guard geteuid() == 0 else {
            throw EnvironmentError(
                description: "The browser tests need root (a network namespace for Chromium); run Scripts/test as root."
            )
        }
    }
}

/// Numbers unique in this test process: namespaces and chromedriver ports.
private let loopbackHostIndex = Atomic<Int>(0)
private let browserSessionIndex = Atomic<Int>(0)

/// A network namespace with only loopback up, for a browser and the server it tests.
///
/// Programs run inside it with `spawn` or `run` (`ip netns exec NS program args`, which execs, so a child's PID is the
/// program's own). Nothing inside can reach any other network: a server there binds 127.0.0.1 and a browser there
/// loads http://127.0.0.1:PORT/. `stop()` ends every process still inside by PID, deletes the namespace and removes
/// `directory`.
final class LoopbackHost: NamespaceHost {
    /// The namespace's name, `share-web-<pid>-<n>`: unique per test process and per host.
    let namespace: String
    /// A scratch folder for this host (command output, browser profiles, pages to serve); removed by `stop()`.
    let directory: String

    /// The namespace itself; teardown deletes it if it was made (also after a failed start).
    let network: TestNamespace
    private let stopped = Mutex<Bool>(false)

    private init(namespace: String, directory: String, ip: String) {
        self.namespace = namespace
        self.directory = directory
        self.network = TestNamespace(
            name: namespace,
            ip: ip,
            scratch: directory,
            label: "in \(namespace)",
            failure: browserFailure
        )
    }

    /// Makes the namespace and brings its loopback up. Throws `EnvironmentError` saying what to do when the machine
    /// cannot (not root, or iproute2 missing).
    static func start() throws -> LoopbackHost {
        try BrowserTools.requireRoot()
        guard let ip = HarnessTools.find("ip") else {
            throw EnvironmentError(
                description: "The browser tests' loopback host cannot be made: ip not found. Install it with: "
                    + "apt-get install iproute2"
            )
        }
        // Chromium puts a unix socket (at most 107 bytes) under its session's TMPDIR, inside this folder.
        let directory = try makeScratchDirectory(
            prefix: "share-web",
            deepest: "/browser-9999/tmp/.org.chromium.Chromium.XXXXXX/SingletonSocket",
            limit: 107
        )
        let index = loopbackHostIndex.wrappingAdd(1, ordering: .relaxed).oldValue
        let host = LoopbackHost(namespace: "share-web-\(getpid())-\(index)", directory: directory, ip: ip)
        do {
            try host.network.create()
        } catch {
            host.stop()
            throw error
        }
        return host
    }

    /// The environment of programs run inside: this process's, minus proxy settings (nothing inside could reach a
    /// proxy), with a system-bus address where nothing listens (so a `share start` there never reaches any Avahi),
    /// plus `extra`.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.lowercased().hasSuffix("_proxy") }
        environment["DBUS_SYSTEM_BUS_ADDRESS"] = TestEnvironment.noBus
        return environment.merging(extra) { $1 }
    }

    /// `run` lets a command take 30 s unless told otherwise.
    static var defaultRunTimeout: Duration { .seconds(30) }

    /// What `spawn` and `run` give a program inside (a bare name is looked up on PATH): `environment(extra)`. They
    /// throw `BrowserError` when the host is not running, and `run` when a command hangs.
    func spawnEnvironment(_ extra: [String: String]) throws -> [String: String] {
        guard isRunning else { throw BrowserError(description: "The loopback host \(namespace) is not running") }
        return environment(extra)
    }

    private var isRunning: Bool { network.isUp && !stopped.withLock { $0 } }

    /// Like `run`, but blocking the thread (for teardown paths that cannot suspend). Status nil on timeout.
    fileprivate func runBlockingInside(
        _ executable: String,
        _ arguments: [String],
        timeout: Duration
    ) -> (status: Int32?, output: String, error: String) {
        guard isRunning else { return (nil, "", "") }
        return network.runBlocking(executable, arguments, environment: environment(), timeout: timeout)
    }

    /// The PIDs of the processes inside the namespace now (zombies excluded). All of them were started here.
    func processIDs() -> [pid_t] { network.processIDs() }

    /// Ends every process still inside (by PID), deletes the namespace and removes `directory`. Idempotent.
    func stop() {
        let alreadyStopped = stopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        if network.isUp { network.endProcesses() }
        network.delete()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

/// Runs `body` with a fresh loopback host, and tears it down afterwards whatever happens.
func withLoopbackHost<T>(_ body: (LoopbackHost) async throws -> T) async throws -> T {
    let host = try LoopbackHost.start()
    do {
        let result = try await body(host)
        host.stop()
        return result
    } catch {
        host.stop()
        throw error
    }
}

/// One headless Chromium session through chromedriver (W3C WebDriver), inside a `LoopbackHost`.
///
/// - The viewport (not the window) is `width` × `height` CSS pixels at device scale factor 1, so screenshots are
///   exactly that many pixels.
/// - `javaScript: false` turns JavaScript off the way a user would (the content setting): page scripts do not run and
///   `<noscript>` content is used. `evaluate` still works (WebDriver runs its scripts outside the page's settings).
/// - `hidePage()` minimises the window: the page stays the current one (so `evaluate` still runs in it) but is hidden
///   (`document.visibilityState == "hidden"`, `visibilitychange` fired, no animation frames; timers still run, maybe throttled).
///   `screenshot()` refuses while hidden (Chromium would stall ~10 s and return a stale image); `showPage()` restores
///   the window to its size and the page is visible again.
/// - `consoleErrors()` returns the browser log's SEVERE entries: `console.error`, uncaught exceptions and rejections,
///   failed loads (e.g. a 404) and Content-Security-Policy violations.
final class BrowserSession: Sendable {
    let host: LoopbackHost
    /// The WebDriver session's id.
    let sessionID: String
    /// The PID of the browser's main process (its children are ended with it).
    let browserPID: pid_t
    /// The viewport size in CSS pixels (= screenshot pixels).
    let width: Int
    let height: Int

    private let driver: ChildProcess
    private let port: Int
    /// This session's folder: profile, HOME, TMPDIR, chromedriver's log, request bodies. Removed by `stop()`.
    private let directory: String
    /// The window size that gives the requested viewport, to restore after `hidePage()`.
    private let windowSize: Mutex<(width: Int, height: Int)>
    private let state = Mutex<(hidden: Bool, stopped: Bool)>((false, false))

    private init(
        host: LoopbackHost,
        sessionID: String,
        browserPID: pid_t,
        width: Int,
        height: Int,
        driver: ChildProcess,
        port: Int,
        directory: String
    ) {
        self.host = host
        self.sessionID = sessionID
        self.browserPID = browserPID
        self.width = width
        self.height = height
        self.driver = driver
        self.port = port
        self.directory = directory
        self.windowSize = Mutex((width, height))
    }

    /// Starts chromedriver and a headless Chromium inside `host`, with a fresh temporary profile, and sizes the
    /// viewport. Throws `EnvironmentError` with the packages to install when chromium, chromium-driver or curl is
    /// missing.
    static func start(
        in host: LoopbackHost,
        width: Int = 1280,
        height: Int = 800,
        javaScript: Bool = true
    ) async throws -> BrowserSession {
        try BrowserTools.requireRoot()
        let needed = [BrowserTools.chromium, BrowserTools.chromedriver, "/usr/bin/curl"]
        let missing = needed.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        guard missing.isEmpty else {
            throw EnvironmentError(
                description: "The browser tests cannot run: \(missing.joined(separator: ", ")) not found. "
                    + "Install them with: apt-get install chromium chromium-driver curl"
            )
        }
        let index = browserSessionIndex.wrappingAdd(1, ordering: .relaxed).oldValue
        let directory = "\(host.directory)/browser-\(index)"
        for folder in ["profile", "home", "tmp"] {
            try FileManager.default.createDirectory(
                atPath: "\(directory)/\(folder)",
                withIntermediateDirectories: true
            )
        }
        // In a fresh namespace every port is free; distinct per session in case a host has several.
        let port = 9515 + index % 1000
        let driver: ChildProcess
        do {
            driver = try host.spawn(
                BrowserTools.chromedriver,
                ["--port=\(port)"],
                environment: [
                    "HOME": "\(directory)/home",
                    "XDG_CONFIG_HOME": "\(directory)/home/.config",
                    "XDG_CACHE_HOME": "\(directory)/home/.cache",
                    "XDG_DATA_HOME": "\(directory)/home/.local/share",
                    "TMPDIR": "\(directory)/tmp",
                ],
                standardOutputPath: "\(directory)/chromedriver.log",
                standardErrorPath: "\(directory)/chromedriver.err"
            )
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }

        let session: BrowserSession
        do {
            try await waitUntilReady(host: host, driver: driver, port: port, directory: directory)
            let arguments = [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking",
                "--disable-features=MediaRouter,DialMediaRouteProvider,OptimizationHints,Translate",
                "--user-data-dir=\(directory)/profile", "--window-size=\(width),\(height)",
                "--force-device-scale-factor=1", "--hide-scrollbars",
            ]
            var chromeOptions: [String: Any] = ["binary": BrowserTools.chromium, "args": arguments]
            if !javaScript { chromeOptions["prefs"] = ["profile.managed_default_content_settings.javascript": 2] }
            let capabilities: [String: Any] = [
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "timeouts": ["implicit": 0, "pageLoad": 30_000, "script": 30_000],
                "goog:loggingPrefs": ["browser": "ALL"],
                "goog:chromeOptions": chromeOptions,
            ]
            let answer = try await webDriver(
                host: host,
                port: port,
                directory: directory,
                driver: driver,
                "POST",
                "/session",
                ["capabilities": ["alwaysMatch": capabilities]]
            )
            guard let value = answer as? [String: Any], let sessionID = value["sessionId"] as? String,
                let processID = (value["capabilities"] as? [String: Any])?["goog:processID"] as? Int
            else {
                throw BrowserError(description: "chromedriver made no session: \(answer)")
            }
            TestEnvironment.recordPID(pid_t(processID))
            session = BrowserSession(
                host: host,
                sessionID: sessionID,
                browserPID: pid_t(processID),
                width: width,
                height: height,
                driver: driver,
                port: port,
                directory: directory
            )
        } catch {
            // chromedriver ends a browser it started when its session cannot be made; anything else left inside is
            // ended by the host's teardown.
            driver.stop()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        do {
            // Headless Chromium keeps room for browser UI in its window: size the window so the viewport is exact.
            let frame = try await session.evaluate("return [outerWidth - innerWidth, outerHeight - innerHeight]")
            let extra = try JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [Int] ?? []
            guard extra.count == 2 else { throw BrowserError(description: "Unexpected window frame: \(frame)") }
            session.windowSize.withLock { $0 = (width + extra[0], height + extra[1]) }
            try await session.restoreWindow()
            let viewport = try await session.evaluate("return [innerWidth, innerHeight, devicePixelRatio]")
            guard viewport == "[\(width),\(height),1]" else {
                throw BrowserError(
                    description: "The viewport is \(viewport) ([width, height, scale]), not [\(width),\(height),1]"
                )
            }
            // Start the console log afresh: only what pages log from now on counts.
            _ = try await session.consoleErrors()
        } catch {
            session.stop()
            throw error
        }
        return session
    }

    /// Polls chromedriver's GET /status until it says it is ready.
    private static func waitUntilReady(
        host: LoopbackHost,
        driver: ChildProcess,
        port: Int,
        directory: String
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        var last = ""
        while ContinuousClock.now < deadline {
            if let status = driver.exitStatus {
                throw BrowserError(
                    description: "chromedriver ended with status \(status) before it was ready: "
                        + log(directory, "chromedriver.log") + " " + log(directory, "chromedriver.err")
                )
            }
            let result = try await host.run(
                "/usr/bin/curl",
                ["-sS", "--noproxy", "*", "-m", "2", "http://127.0.0.1:\(port)/status"],
                timeout: .seconds(5)
            )
            last = result.output + result.error
            if result.status == 0,
                let object = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
                let value = object["value"] as? [String: Any], value["ready"] as? Bool == true
            {
                return
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw BrowserError(
            description: "chromedriver was not ready within 20 s; last /status: \(last); log: "
                + log(directory, "chromedriver.log") + " " + log(directory, "chromedriver.err")
        )
    }

    /// Sends one WebDriver command with curl inside the namespace and returns the answer's `value`, or throws the
    /// WebDriver error it holds.
    private static func webDriver(
        host: LoopbackHost,
        port: Int,
        directory: String,
        driver: ChildProcess,
        _ method: String,
        _ path: String,
        _ body: [String: Any]? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Any {
        var arguments = ["-sS", "--noproxy", "*", "-m", "\(timeout.components.seconds)", "-X", method]
        var bodyPath: String?
        if let body {
            let path = "\(directory)/request-\(UUID().uuidString).json"
            try JSONSerialization.data(withJSONObject: body).write(to: URL(fileURLWithPath: path))
            bodyPath = path
            arguments += ["-H", "Content-Type: application/json", "--data-binary", "@\(path)"]
        }
        defer { if let bodyPath { try? FileManager.default.removeItem(atPath: bodyPath) } }
        arguments.append("http://127.0.0.1:\(port)\(path)")
        let result = try await host.run("/usr/bin/curl", arguments, timeout: timeout + .seconds(5))
        guard result.status == 0 else {
            throw BrowserError(
                description: "WebDriver `\(method) \(path)` failed (curl status \(result.status)): \(result.error)"
                    + (driver.isRunning ? "" : " chromedriver has ended: " + log(directory, "chromedriver.log"))
            )
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
            let value = object["value"]
        else {
            throw BrowserError(description: "WebDriver `\(method) \(path)` answered: \(result.output.prefix(2_000))")
        }
        if let failure = value as? [String: Any], let error = failure["error"] as? String {
            let message =
                (failure["message"] as? String ?? "")
                .components(separatedBy: "\n  (Session info").first ?? ""
            throw BrowserError(description: "WebDriver `\(method) \(path)` failed: \(error): \(message)")
        }
        return value
    }

    /// A WebDriver command on this session (`path` is after /session/{id}).
    private func command(
        _ method: String,
        _ path: String,
        _ body: [String: Any]? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Any {
        guard !state.withLock({ $0.stopped }) else {
            throw BrowserError(description: "The browser session has been stopped")
        }
        return try await Self.webDriver(
            host: host,
            port: port,
            directory: directory,
            driver: driver,
            method,
            "/session/\(sessionID)\(path)",
            body,
            timeout: timeout
        )
    }

    /// Loads `url` and waits for its load event (at most 30 s).
    func navigate(to url: String) async throws {
        _ = try await command("POST", "/url", ["url": url])
    }

    /// Runs a script (WebDriver "execute/sync": the body of a function; use `return`) and returns the JSON of its
    /// result, e.g. "\"hidden\"" or "42" or "null". A returned promise is awaited. The JSON is made in the page by
    /// `JSON.stringify` (undefined gives "null"; DOM elements give "{}").
    func evaluate(_ script: String) async throws -> String {
        let wrapped = """
            var __result = (function () {
            \(script)
            }).apply(this, arguments);
            return Promise.resolve(__result).then(function (value) {
              var json = value === undefined ? undefined : JSON.stringify(value);
              return json === undefined ? 'null' : json;
            });
            """
        return try await json(of: command("POST", "/execute/sync", ["script": wrapped, "args": [Any]()]))
    }

    /// Like `evaluate` but "execute/async": the script's last argument is the callback to call with the result
    /// (within 30 s).
    func evaluateAsync(_ script: String) async throws -> String {
        let wrapped = """
            var __arguments = Array.prototype.slice.call(arguments, 0, -1);
            var __done = arguments[arguments.length - 1];
            __arguments.push(function (value) {
              var json = value === undefined ? undefined : JSON.stringify(value);
              __done(json === undefined ? 'null' : json);
            });
            (function () {
            \(script)
            }).apply(this, __arguments);
            """
        return try await json(of: command("POST", "/execute/async", ["script": wrapped, "args": [Any]()]))
    }

    private func json(of value: Any) throws -> String {
        guard let text = value as? String else {
            throw BrowserError(description: "The script's result came back as \(value), not as JSON text")
        }
        return text
    }

    /// The viewport's PNG, as WebDriver takes it.
    private func screenshotPNG() async throws -> [UInt8] {
        guard !state.withLock({ $0.hidden }) else {
            throw BrowserError(description: "The page is hidden (hidePage); call showPage() before screenshot()")
        }
        let value = try await command("GET", "/screenshot")
        guard let text = value as? String, let data = Data(base64Encoded: text) else {
            throw BrowserError(description: "WebDriver's screenshot is not base64")
        }
        return [UInt8](data)
    }

    /// The viewport as pixels (decoded from WebDriver's screenshot PNG).
    func screenshot() async throws -> (width: Int, height: Int, rgb: [UInt8]) {
        try decodePNG(try await screenshotPNG())
    }

    /// Saves the raw screenshot PNG to a path (for docs).
    func saveScreenshot(to path: String) async throws {
        try Data(try await screenshotPNG()).write(to: URL(fileURLWithPath: path))
    }

    /// Browser console messages at level SEVERE (errors), including CSP violations, since the session started (or
    /// since the last call). Each is chromedriver's text, e.g. `http://127.0.0.1:8000/ 7:8 "boom"`.
    func consoleErrors() async throws -> [String] {
        let value = try await command("POST", "/se/log", ["type": "browser"])
        guard let entries = value as? [[String: Any]] else {
            throw BrowserError(description: "Unexpected browser log: \(value)")
        }
        return entries.filter { $0["level"] as? String == "SEVERE" }.compactMap { $0["message"] as? String }
    }

    /// Makes the current page hidden (it stays the current page: `evaluate` runs in it): minimises the window, then
    /// waits until `document.visibilityState` is "hidden" (its `visibilitychange` has fired by then).
    func hidePage() async throws {
        _ = try await command("POST", "/window/minimize", [String: Any]())
        state.withLock { $0.hidden = true }
        try await waitForVisibility("hidden")
    }

    /// Makes the page visible again: restores the window to its size, then waits until `document.visibilityState`
    /// is "visible".
    func showPage() async throws {
        try await restoreWindow()
        state.withLock { $0.hidden = false }
        try await waitForVisibility("visible")
    }

    private func restoreWindow() async throws {
        let size = windowSize.withLock { $0 }
        _ = try await command("POST", "/window/rect", ["width": size.width, "height": size.height])
    }

    private func waitForVisibility(_ wanted: String) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        var last = ""
        while ContinuousClock.now < deadline {
            last = try await evaluate("return document.visibilityState")
            if last == "\"\(wanted)\"" { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BrowserError(description: "document.visibilityState stayed \(last), not \"\(wanted)\", for 5 s")
    }

    /// Quits the session, ends the browser and chromedriver (by PID), and removes this session's folder (profile
    /// included). Idempotent.
    func stop() {
        let alreadyStopped = state.withLock { state in
            defer { state.stopped = true }
            return state.stopped
        }
        guard !alreadyStopped else { return }
        _ = host.runBlockingInside(
            "/usr/bin/curl",
            ["-sS", "--noproxy", "*", "-m", "10", "-X", "DELETE", "http://127.0.0.1:\(port)/session/\(sessionID)"],
            timeout: .seconds(12)
        )
        Self.endBrowser(browserPID, in: host)
        driver.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    /// Ends the browser's main process by PID if it still runs inside `host` (SIGTERM: it ends its children), then
    /// forgets its PID.
    private static func endBrowser(_ pid: pid_t, in host: LoopbackHost) {
        if host.processIDs().contains(pid) {
            kill(pid, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(3)
            while host.processIDs().contains(pid), ContinuousClock.now < deadline { usleep(20_000) }
            if host.processIDs().contains(pid) { kill(pid, SIGKILL) }
        }
        TestEnvironment.forgetPID(pid)
    }

    private static func log(_ directory: String, _ file: String) -> String {
        let text = (try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)) ?? ""
        return text.isEmpty ? "(no output)" : String(text.suffix(2_000))
    }
}
