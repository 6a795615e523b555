import Foundation
import Testing

@testable import ShareKit

/// The page asks for a copy as wide as the viewer's screen, and for the full frame at actual size.
@Suite(
    "The viewer page asks for the width it needs",
    .enabled(if: TestEnvironment.runsBrowserSuites, "needs root, chromium and chromium-driver; run Scripts/test"),
    .serialized
)
struct ViewerWidthTests {
    @Test("A small screen gets a smaller standard width; actual size (key 1) gets the full 1280x720 frame")
    func smallScreenGetsSmallerCopy() async throws {
        try await withLoopbackHost { host in
            let share = try await HostedShare.viewer(in: host, display: nil)
            defer { share.stop() }
            let browser = try await BrowserSession.start(in: host, width: 400, height: 300)
            defer { browser.stop() }
            try await browser.navigate(to: share.url)
            let screenPixels = try await browser.evaluate(
                "return Math.ceil(Math.max(screen.width, screen.height) * (window.devicePixelRatio || 1))"
            )
            let wanted = try #require(Int(screenPixels))
            let expected = ScaledFrameStore.standardWidth(for: wanted, sourceWidth: 1280) ?? 1280
            #expect(expected < 1280, "the browser's screen (\(wanted) px) is smaller than the test card")
            let naturalWidth = "return document.getElementById('screen').naturalWidth"
            _ = try await eventually("the page shows the \(expected)-pixel copy", timeout: .seconds(10)) {
                try await browser.evaluate(naturalWidth) == "\(expected)" ? true : nil
            }
            _ = try await browser.evaluate(
                "document.dispatchEvent(new KeyboardEvent('keydown', { key: '1' })); return true"
            )
            _ = try await eventually("actual size shows the full frame", timeout: .seconds(10)) {
                try await browser.evaluate(naturalWidth) == "1280" ? true : nil
            }
            #expect(try await browser.consoleErrors() == [])
        }
    }
}
