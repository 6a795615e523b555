import Foundation
import Testing

@testable import ShareKit

/// A share locked with a PIN, in headless Chromium inside a loopback-only namespace: the PIN page, the PIN link
/// from the QR code, and what happens when the share restarts.
@Suite(
    "A locked share in headless Chromium",
    .enabled(if: TestEnvironment.runsBrowserSuites, "needs root, chromium and chromium-driver; run Scripts/test"),
    .serialized
)
struct AccessBrowserTests {
    /// A loopback host, an Xvfb with the pattern, and `share start --pin 4711` capturing it.
    func withLockedViewerSetup(_ body: (ViewerSetup) async throws -> Void) async throws {
        try await withLoopbackHost { host in
            try await withXvfb(width: 480, height: 320) { xvfb in
                let pattern = TestPattern(width: 480, height: 320, depth: 24)
                try pattern.draw(on: xvfb.displayName)
                let share = try await HostedShare.viewer(
                    in: host,
                    display: xvfb.displayName,
                    extraArguments: ["--pin", "4711"]
                )
                defer { share.stop() }
                try await body(ViewerSetup(host: host, xvfb: xvfb, pattern: pattern, share: share))
            }
        }
    }

    /// The page's text, or "" while it is between pages.
    private func text(of browser: BrowserSession) async -> String {
        (try? await browser.evaluate("return document.body ? document.body.textContent : ''")) ?? ""
    }

    private func submitPIN(_ pin: String, in browser: BrowserSession) async throws {
        _ = try await browser.evaluate(
            "document.getElementById('pin').value = '\(pin)'; document.querySelector('form').submit(); return true"
        )
    }

    @Test(
        "The PIN page asks for the PIN; a wrong one says so; the right one shows the screen at / with an HttpOnly cookie"
    )
    func pinPage() async throws {
        try await withLockedViewerSetup { setup in
            let browser = try await BrowserSession.start(in: setup.host)
            defer { browser.stop() }
            try await browser.navigate(to: setup.share.url)
            #expect(try await browser.evaluate("return document.getElementById('pin') !== null") == "true")
            #expect(try await browser.evaluate("return document.images.length") == "0", "no picture before the PIN")
            #expect(await text(of: browser).contains("This screen share is locked"))

            try await submitPIN("0000", in: browser)
            _ = try await eventually("the page says the PIN was wrong") {
                await text(of: browser).contains("Wrong PIN") ? true : nil
            }
            try await submitPIN("4711", in: browser)
            _ = try await eventually("the browser is at / without the PIN") {
                let href = try? await browser.evaluate("return location.href")
                let hasScreen = try? await browser.evaluate("return document.getElementById('screen') !== null")
                return href == "\"\(setup.share.url)\"" && hasScreen == "true" ? true : nil
            }
            try await expectPattern(setup.pattern, in: browser, within: .seconds(10))
            #expect(try await browser.evaluate("return document.cookie") == "\"\"", "the session cookie is HttpOnly")
            #expect(
                try await browser.consoleErrors().filter { !$0.contains("401") } == [],
                "both pages run under their CSP"
            )
        }
    }

    @Test("A link with the PIN (the QR code's) opens the screen and drops the PIN; after a restart the page asks again")
    func pinLinkAndRestart() async throws {
        try await withLockedViewerSetup { setup in
            let browser = try await BrowserSession.start(in: setup.host)
            defer { browser.stop() }
            try await browser.navigate(to: setup.share.url + "?pin=4711")
            #expect(try await browser.evaluate("return location.href") == "\"\(setup.share.url)\"")
            try await expectPattern(setup.pattern, in: browser, within: .seconds(10))

            // A new run of the share: the old session cookie is worth nothing, and the page asks for the PIN.
            setup.share.stop()
            let again = try await HostedShare.viewer(
                in: setup.host,
                display: setup.xvfb.displayName,
                port: setup.share.port,
                extraArguments: ["--pin", "4711"]
            )
            defer { again.stop() }
            _ = try await eventually("the page asks for the PIN again", timeout: .seconds(30)) {
                (try? await browser.evaluate("return document.getElementById('pin') !== null")) == "true" ? true : nil
            }
        }
    }
}
