import Foundation
import Testing

@testable import ShareKit

/// The viewer page in a real browser: headless Chromium (Debian's) driven through chromedriver, inside a network
/// namespace with only loopback, loading the page from a real `share start` that captures a real Xvfb.
@Suite(
    "The viewer page in headless Chromium",
    .enabled(if: TestEnvironment.runsBrowserSuites, "needs root, chromium and chromium-driver; run Scripts/test"),
    .serialized
)
struct ViewerTests {
    @Test("The page shows the screen, follows changes without reloading, and runs under its CSP without errors")
    func showsAndFollowsTheScreen() async throws {
        try await withViewerSetup { setup in
            let browser = try await BrowserSession.start(in: setup.host)
            defer { browser.stop() }
            try await browser.navigate(to: setup.share.url)
            try await expectPattern(setup.pattern, in: browser, within: .seconds(10))
            let title = try await browser.evaluate("return document.title")
            #expect(title.contains("Viewer Test") && title.contains("screen shared from"))

            // Change the screen; the page must follow within interval + 1 s, without a reload.
            _ = try await browser.evaluate("window.__notReloaded = true; return true")
            let changed = TestPattern(width: setup.xvfb.width, height: setup.xvfb.height, depth: 24, seed: 5)
            try changed.draw(on: setup.xvfb.displayName)
            let drawn = ContinuousClock.now
            // The screenshot that first shows the change was started at most this long after the drawing.
            let shownBy = try await expectPattern(changed, in: browser, within: .seconds(10))
            let took = shownBy - drawn
            #expect(took <= .seconds(2), "the change showed after \(took) (interval 1 s)")
            #expect(try await browser.evaluate("return window.__notReloaded === true") == "true")

            let status = try await browser.evaluate("return document.getElementById('status').textContent")
            #expect(status.contains("Viewer Test") && status.contains("updated"))
            #expect(try await browser.consoleErrors() == [], "the page runs under its CSP with no console errors")
        }
    }

    @Test("Server killed: the status says the connection is lost; restarted: the image updates again on its own")
    func connectionLostAndRecovered() async throws {
        try await withViewerSetup { setup in
            let browser = try await BrowserSession.start(in: setup.host)
            defer { browser.stop() }
            try await browser.navigate(to: setup.share.url)
            try await expectPattern(setup.pattern, in: browser, within: .seconds(10))

            setup.share.process.send(SIGKILL)
            _ = try await eventually("the status says the connection is lost") {
                let text = try await browser.evaluate("return document.getElementById('state').textContent")
                return text.contains("connection lost") ? text : nil
            }

            let changed = TestPattern(width: setup.xvfb.width, height: setup.xvfb.height, depth: 24, seed: 7)
            try changed.draw(on: setup.xvfb.displayName)
            let again = try await HostedShare.viewer(
                in: setup.host,
                display: setup.xvfb.displayName,
                port: setup.share.port
            )
            defer { again.stop() }
            try await expectPattern(changed, in: browser, within: .seconds(30))
            _ = try await eventually("the status is live again") {
                let text = try await browser.evaluate("return document.getElementById('state').textContent")
                return text.contains("updated") ? text : nil
            }
        }
    }

    @Test("SIGTERM: the page says the presenter stopped sharing")
    func presenterStopped() async throws {
        try await withViewerSetup { setup in
            let browser = try await BrowserSession.start(in: setup.host)
            defer { browser.stop() }
            try await browser.navigate(to: setup.share.url)
            try await expectPattern(setup.pattern, in: browser, within: .seconds(10))
            setup.share.process.send(SIGTERM)
            let text = try await eventually("the page says sharing stopped", timeout: .seconds(5)) {
                let text = try await browser.evaluate("return document.getElementById('state').textContent")
                return text.contains("presenter stopped sharing") ? text : nil
            }
            #expect(!text.contains("updated"), "a stopped share never looks live")
        }
    }

    @Test("A hidden tab makes no requests; shown again, it refreshes at once")
    func hiddenTabIsSilent() async throws {
        try await withViewerSetup(interval: 0.2) { setup in
            let browser = try await BrowserSession.start(in: setup.host)
            defer { browser.stop() }
            try await browser.navigate(to: setup.share.url)
            try await expectPattern(setup.pattern, in: browser, within: .seconds(10))
            #expect(setup.share.requestCount() > 0)

            try await browser.hidePage()
            try await Task.sleep(for: .milliseconds(500))  // let a request already on the wire finish
            let before = setup.share.requestCount()
            try await Task.sleep(for: .seconds(3))
            #expect(setup.share.requestCount() == before, "no request while hidden (15 intervals)")

            try await browser.showPage()
            _ = try await eventually("requests resume when shown", timeout: .seconds(5)) {
                setup.share.requestCount() > before ? true : nil
            }
        }
    }

    @Test("Without JavaScript the page still shows the screen")
    func worksWithoutJavaScript() async throws {
        try await withViewerSetup { setup in
            let browser = try await BrowserSession.start(in: setup.host, javaScript: false)
            defer { browser.stop() }
            try await browser.navigate(to: setup.share.url)
            try await expectPattern(setup.pattern, in: browser, within: .seconds(10), useScript: false)
            if let path = ProcessInfo.processInfo.environment["SHARE_SCREENSHOT_PATH"] {
                // The README's picture: the test card, as a viewer sees it.
                let card = try await HostedShare.viewer(in: setup.host, display: nil, name: "Room 4")
                defer { card.stop() }
                let shot = try await BrowserSession.start(in: setup.host, width: 960, height: 600)
                defer { shot.stop() }
                try await shot.navigate(to: card.url)
                try await Task.sleep(for: .seconds(2))
                try await shot.saveScreenshot(to: path)
            }
        }
    }
}

// MARK: - Helpers

/// Everything a viewer test needs: a loopback-only host, an Xvfb with the pattern, and `share start` on it.
struct ViewerSetup {
    let host: LoopbackHost
    let xvfb: XvfbServer
    let pattern: TestPattern
    let share: HostedShare
}

func withViewerSetup(interval: Double = 1, _ body: (ViewerSetup) async throws -> Void) async throws {
    try await withLoopbackHost { host in
        try await withXvfb(width: 480, height: 320) { xvfb in
            let pattern = TestPattern(width: 480, height: 320, depth: 24)
            try pattern.draw(on: xvfb.displayName)
            let share = try await HostedShare.viewer(in: host, display: xvfb.displayName, interval: interval)
            defer { share.stop() }
            try await body(ViewerSetup(host: host, xvfb: xvfb, pattern: pattern, share: share))
        }
    }
}

/// Waits until a browser screenshot shows `pattern` inside the page's image, sampling points inside cells.
/// Returns when the screenshot that showed it was started.
@discardableResult
func expectPattern(
    _ pattern: TestPattern,
    in browser: BrowserSession,
    within timeout: Duration,
    useScript: Bool = true
) async throws -> ContinuousClock.Instant {
    let expected = pattern.expected
    let deadline = ContinuousClock.now + timeout
    var lastProblem = "no screenshot taken"
    while ContinuousClock.now < deadline {
        let started = ContinuousClock.now
        let shot = try await browser.screenshot()
        // Where the image is: asked from the page, or (without JavaScript) found as the centred natural size.
        var left = (shot.width - pattern.width) / 2
        var top = (shot.height - 44 - pattern.height) / 2
        if useScript {
            let rect = try await browser.evaluate(
                "var r = document.getElementById('screen').getBoundingClientRect(); return [r.left, r.top]"
            )
            if let values = try? JSONDecoder().decode([Double].self, from: Data(rect.utf8)), values.count == 2 {
                left = Int(values[0].rounded())
                top = Int(values[1].rounded())
            }
        }
        var mismatches = 0
        var checked = 0
        for sy in stride(from: 8, to: pattern.height - 8, by: 23) {
            for sx in stride(from: 8, to: pattern.width - 8, by: 29) {
                let i = (sy * pattern.width + sx) * 3
                let colour = Array(expected[i..<(i + 3)])
                // Only points well inside a cell: the same colour 3 pixels around.
                let inside = [(-3, 0), (3, 0), (0, -3), (0, 3)].allSatisfy { dx, dy in
                    let j = ((sy + dy) * pattern.width + sx + dx) * 3
                    return Array(expected[j..<(j + 3)]) == colour
                }
                guard inside else { continue }
                checked += 1
                let px = left + sx
                let py = top + sy
                guard px >= 0, py >= 0, px < shot.width, py < shot.height else {
                    mismatches += 1
                    continue
                }
                let k = (py * shot.width + px) * 3
                let seen = Array(shot.rgb[k..<(k + 3)])
                if zip(seen, colour).contains(where: { abs(Int($0) - Int($1)) > 3 }) {
                    mismatches += 1
                    lastProblem = "at (\(sx), \(sy)) saw \(seen), expected \(colour)"
                }
            }
        }
        if checked > 20, mismatches == 0 { return started }
        if checked <= 20 { lastProblem = "only \(checked) sample points" }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("The browser did not show the pattern within \(timeout): \(lastProblem)")
    return ContinuousClock.now
}
