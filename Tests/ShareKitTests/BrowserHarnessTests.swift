import Foundation
import Glibc
import Testing

/// The browser harness itself: a real headless Chromium, driven through chromedriver inside a network namespace with
/// only loopback, against pages served by python3's http.server in the same namespace; and a teardown that leaves no
/// namespace, process or folder behind.
@Suite(
    "Browser harness: headless Chromium in a loopback namespace",
    .enabled(if: TestEnvironment.runsBrowserSuites, "needs root, chromium and chromium-driver; run Scripts/test"),
    .serialized
)
struct BrowserHarnessTests {
    /// A page with a blue box in the top left corner on white, that says whether its script ran and records its
    /// visibility changes.
    static let page = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Harness Page</title><link rel="icon" href="data:,">
        <style>
        html, body { margin: 0; background: #fff; }
        #box { position: absolute; left: 0; top: 0; width: 200px; height: 100px; background: rgb(0, 128, 255); }
        #script { position: absolute; top: 200px; }
        </style></head>
        <body data-answer="42">
        <div id="box"></div>
        <p id="script">no script</p>
        <noscript><p id="fallback">JavaScript is off</p></noscript>
        <script>
        document.getElementById('script').textContent = 'script ran';
        window.visibilityEvents = [];
        document.addEventListener('visibilitychange', function () {
          window.visibilityEvents.push(document.visibilityState);
        });
        </script>
        </body></html>
        """

    /// A page whose Content-Security-Policy blocks its inline script, and whose own script logs an error.
    static let strictPage = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Strict</title><link rel="icon" href="data:,">
        <meta http-equiv="Content-Security-Policy" content="script-src 'self'">
        <script src="/boom.js"></script>
        </head>
        <body><script>document.title = 'inline ran';</script></body></html>
        """

    @Test("A coloured box shows in the screenshot, at the requested viewport size, and evaluate returns JSON")
    func screenshotAndEvaluate() async throws {
        try await withLoopbackHost { host in
            let server = try await serve(["index.html": Self.page], in: host)
            defer { server.stop() }
            let started = ContinuousClock.now
            let browser = try await BrowserSession.start(in: host)
            defer { browser.stop() }
            let startTime = ContinuousClock.now - started
            #expect(startTime < .seconds(20), "the session took \(startTime) to start")
            try await browser.navigate(to: "http://127.0.0.1:8000/")

            #expect(try await browser.evaluate("return document.title") == "\"Harness Page\"")
            #expect(try await browser.evaluate("return Number(document.body.dataset.answer)") == "42")
            #expect(try await browser.evaluate("return null") == "null")
            #expect(try await browser.evaluate("document.title") == "null")
            #expect(try await browser.evaluate("return {a: [1, 'two'], b: true}") == #"{"a":[1,"two"],"b":true}"#)
            #expect(
                try await browser.evaluate("return document.getElementById('script').textContent") == "\"script ran\""
            )
            #expect(
                try await browser.evaluate("return fetch('/').then(function (r) { return r.status; })") == "200"
            )
            #expect(
                try await browser.evaluateAsync(
                    "var done = arguments[arguments.length - 1]; setTimeout(function () { done(location.pathname); }, 50);"
                ) == "\"/\""
            )
            await #expect(throws: BrowserError.self) { try await browser.evaluate("throw new Error('thrown')") }

            let shot = try await browser.screenshot()
            #expect(shot.width == 1280)
            #expect(shot.height == 800)
            #expect(pixel(shot, 50, 50) == [0, 128, 255])
            #expect(pixel(shot, 199, 99) == [0, 128, 255])
            #expect(pixel(shot, 200, 50) == [255, 255, 255])
            #expect(pixel(shot, 1279, 799) == [255, 255, 255])

            let path = "\(host.directory)/shot.png"
            try await browser.saveScreenshot(to: path)
            let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            let saved = try decodePNG(png)
            #expect(saved.width == 1280 && saved.height == 800)
        }
    }

    @Test("With JavaScript off, page scripts do not run and noscript content shows; evaluate still works")
    func javaScriptOff() async throws {
        try await withLoopbackHost { host in
            let server = try await serve(["index.html": Self.page], in: host)
            defer { server.stop() }
            let withScripts = try await BrowserSession.start(in: host)
            defer { withScripts.stop() }
            let withoutScripts = try await BrowserSession.start(in: host, width: 640, height: 480, javaScript: false)
            defer { withoutScripts.stop() }
            let state = """
                var fallback = document.getElementById('fallback');
                return [document.getElementById('script').textContent, fallback ? fallback.textContent : null,
                        typeof window.visibilityEvents];
                """

            try await withScripts.navigate(to: "http://127.0.0.1:8000/")
            #expect(try await withScripts.evaluate(state) == #"["script ran",null,"object"]"#)

            try await withoutScripts.navigate(to: "http://127.0.0.1:8000/")
            #expect(try await withoutScripts.evaluate(state) == #"["no script","JavaScript is off","undefined"]"#)
            let shot = try await withoutScripts.screenshot()
            #expect(shot.width == 640)
            #expect(shot.height == 480)
            #expect(pixel(shot, 50, 50) == [0, 128, 255])
        }
    }

    @Test("hidePage hides the page (visibilitychange fires) and showPage makes it visible again")
    func hideAndShow() async throws {
        try await withLoopbackHost { host in
            let server = try await serve(["index.html": Self.page], in: host)
            defer { server.stop() }
            let browser = try await BrowserSession.start(in: host)
            defer { browser.stop() }
            try await browser.navigate(to: "http://127.0.0.1:8000/")
            let state = "return [document.visibilityState, document.hidden, window.visibilityEvents]"
            #expect(try await browser.evaluate(state) == #"["visible",false,[]]"#)

            try await browser.hidePage()
            #expect(try await browser.evaluate(state) == #"["hidden",true,["hidden"]]"#)
            #expect(try await browser.evaluate("return location.href") == "\"http://127.0.0.1:8000/\"")
            // Animation frames stop while hidden.
            let frames = """
                var done = arguments[arguments.length - 1], count = 0;
                (function frame() { count += 1; requestAnimationFrame(frame); })();
                setTimeout(function () { done(count); }, 300);
                """
            #expect(try await browser.evaluateAsync(frames) == "1")
            await #expect(throws: BrowserError.self) { _ = try await browser.screenshot() }

            try await browser.showPage()
            #expect(try await browser.evaluate(state) == #"["visible",false,["hidden","visible"]]"#)
            #expect(try await browser.evaluate("return [innerWidth, innerHeight]") == "[1280,800]")
            let shot = try await browser.screenshot()
            #expect(shot.width == 1280 && shot.height == 800)
            #expect(pixel(shot, 50, 50) == [0, 128, 255])

            // And again.
            try await browser.hidePage()
            try await browser.showPage()
            #expect(try await browser.evaluate(state) == #"["visible",false,["hidden","visible","hidden","visible"]]"#)
        }
    }

    @Test("consoleErrors reports console.error and CSP violations, each once")
    func consoleErrors() async throws {
        try await withLoopbackHost { host in
            let server = try await serve(
                ["index.html": Self.page, "strict.html": Self.strictPage, "boom.js": "console.error(\"boom\");\n"],
                in: host
            )
            defer { server.stop() }
            let browser = try await BrowserSession.start(in: host)
            defer { browser.stop() }

            try await browser.navigate(to: "http://127.0.0.1:8000/")
            #expect(try await browser.consoleErrors() == [])

            try await browser.navigate(to: "http://127.0.0.1:8000/strict.html")
            #expect(try await browser.evaluate("return document.title") == "\"Strict\"")
            let errors = try await browser.consoleErrors()
            #expect(errors.contains { $0.contains("\"boom\"") }, "\(errors)")
            #expect(errors.contains { $0.contains("Content Security Policy") }, "\(errors)")
            #expect(errors.count == 2, "\(errors)")
            #expect(try await browser.consoleErrors() == [])

            _ = try await browser.evaluate("console.log('fine'); console.warn('careful'); console.error('later')")
            let later = try await browser.consoleErrors()
            #expect(later.count == 1 && later[0].contains("later"), "\(later)")
        }
    }

    @Test("Teardown ends the browser, chromedriver and server by PID and deletes the namespace and folders")
    func teardownLeavesNothing() async throws {
        let host = try LoopbackHost.start()
        defer { host.stop() }
        let server = try await serve(["index.html": Self.page], in: host)
        defer { server.stop() }
        let browser = try await BrowserSession.start(in: host)
        defer { browser.stop() }
        try await browser.navigate(to: "http://127.0.0.1:8000/")
        #expect(FileManager.default.fileExists(atPath: "/run/netns/\(host.namespace)"))
        #expect(host.namespace.hasPrefix("share-web-\(getpid())-"))

        // The browser and everything else runs inside the namespace, nothing of it in ours.
        let inside = host.processIDs()
        #expect(inside.contains(browser.browserPID))
        #expect(inside.contains(server.pid))
        #expect(inside.count > 3, "chromedriver, the browser and its helpers: \(inside)")

        // Stopping the session ends the browser and chromedriver, not the server.
        browser.stop()
        browser.stop()
        try await waitUntil { host.processIDs() == [server.pid] }
        #expect(host.processIDs() == [server.pid])

        // A second browser left running (as after a crash) is ended by the host's teardown.
        let leftOver = try await BrowserSession.start(in: host)
        let leftOverPIDs = host.processIDs().filter { $0 != server.pid }
        #expect(leftOverPIDs.contains(leftOver.browserPID))
        let directory = host.directory
        host.stop()
        host.stop()
        _ = server.exitStatus
        leftOver.stop()
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(host.namespace)"))
        #expect(!FileManager.default.fileExists(atPath: directory))
        try await waitUntil { (inside + leftOverPIDs).allSatisfy { !isRunning($0) } }
        #expect((inside + leftOverPIDs).filter(isRunning) == [])
        let list = try listNamespaces()
        #expect(!list.contains(host.namespace), "ip netns list: \(list)")
    }
}

// MARK: - Helpers

/// The colour of the pixel at (`x`, `y`).
private func pixel(_ image: (width: Int, height: Int, rgb: [UInt8]), _ x: Int, _ y: Int) -> [UInt8] {
    let offset = (y * image.width + x) * 3
    return Array(image.rgb[offset..<offset + 3])
}

/// Serves `files` (name → content) with python3's http.server on 127.0.0.1:`port` inside `host`, and waits until it
/// answers.
private func serve(_ files: [String: String], in host: LoopbackHost, port: Int = 8000) async throws -> ChildProcess {
    let python = "/usr/bin/python3"
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw EnvironmentError(
            description: "The browser harness tests serve pages with python3: apt-get install python3"
        )
    }
    let site = "\(host.directory)/site-\(port)"
    try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
    for (name, content) in files {
        try content.write(toFile: "\(site)/\(name)", atomically: true, encoding: .utf8)
    }
    let server = try host.spawn(
        python,
        ["-m", "http.server", "--bind", "127.0.0.1", "\(port)", "--directory", site],
        standardOutputPath: "\(host.directory)/http-\(port).log",
        standardErrorPath: "\(host.directory)/http-\(port).err"
    )
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if let status = server.exitStatus {
            let log = (try? String(contentsOfFile: "\(host.directory)/http-\(port).err", encoding: .utf8)) ?? ""
            throw BrowserError(description: "python3 -m http.server ended with status \(status): \(log)")
        }
        let answer = try await host.run(
            "/usr/bin/curl",
            ["-s", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"],
            timeout: .seconds(5)
        )
        if answer.output == "200" { return server }
        try await Task.sleep(for: .milliseconds(25))
    }
    server.stop()
    throw BrowserError(description: "python3 -m http.server did not answer within 10 s")
}

/// Whether `pid` is a live process (not gone, not a zombie).
private func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let end = stat.lastIndex(of: ")")
    else { return false }
    return !stat[stat.index(after: end)...].hasPrefix(" Z")
}

/// Polls `condition` for up to 5 s.
private func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
}

/// `ip netns list`, run in this namespace (it only reads /run/netns).
private func listNamespaces() throws -> String {
    let path = "\(NSTemporaryDirectory())/share-netns-\(UUID().uuidString).txt"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    let process = try ChildProcess(
        executable: ip ?? "/usr/sbin/ip",
        arguments: ["netns", "list"],
        standardOutputPath: path
    )
    let deadline = ContinuousClock.now + .seconds(10)
    while process.exitStatus == nil, ContinuousClock.now < deadline { usleep(2_000) }
    return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}
