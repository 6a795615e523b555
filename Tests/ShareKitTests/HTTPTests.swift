import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import ShareKit

/// The HTTP surface over a real socket, serving a real Xvfb screen.
@Suite(
    "Serving the screen over HTTP",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these")
)
struct HTTPTests {
    static let logger = Logger(label: "share.tests")

    /// Runs `body` against a live server sharing a fresh Xvfb that shows the test pattern.
    func withServedScreen(
        interval: Double = 1,
        _ body: @Sendable (any TestClientProtocol, FrameStore, TestPattern) async throws -> Void
    ) async throws {
        try await withXvfb(width: 320, height: 240) { xvfb in
            let pattern = TestPattern(width: 320, height: 240, depth: 24)
            try pattern.draw(on: xvfb.displayName)
            let source = try await XScreenSource.open(displayName: xvfb.displayName)
            let frames = FrameStore(source: source, interval: .milliseconds(Int64(interval * 1000)))
            let application = ShareServer.buildApplication(
                configuration: StartConfiguration(port: 0, bindAddress: "127.0.0.1", interval: interval),
                frames: frames,
                name: "Room <4>",
                host: "lectern",
                logger: Self.logger
            )
            do {
                try await application.test(.live) { client in try await body(client, frames, pattern) }
            } catch {
                await source.close()
                throw error
            }
            await source.close()
        }
    }

    @Test("GET / is the viewer page, titled with the share name and host")
    func page() async throws {
        try await withServedScreen { client, _, _ in
            let response = try await client.execute(uri: "/", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            #expect(response.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            let html = String(buffer: response.body)
            #expect(html.contains("<title>Room &lt;4&gt; — screen shared from lectern</title>"))
            #expect(html.contains("src=\"/screen.png\""))
            #expect(html.contains("http-equiv=\"refresh\""), "works without JavaScript")
            let script = try await client.execute(uri: "/viewer.js", method: .get)
            #expect(script.status == .ok)
            let css = try await client.execute(uri: "/viewer.css", method: .get)
            #expect(css.status == .ok)
            // Self-contained: the LAN may have no internet, so nothing is loaded from anywhere else.
            for text in [html, String(buffer: script.body), String(buffer: css.body)] {
                #expect(!text.contains("http://") && !text.contains("https://") && !text.contains("url("))
            }
            #expect(!html.contains("<script>"), "no inline script, so the strict CSP holds")
            #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            #expect(response.headers[.eTag] != nil, "the page is cacheable with an ETag")
            #expect(response.headers[.cacheControl] == "max-age=0, s-maxage=1")
            #expect(html.utf8.count + script.body.readableBytes + css.body.readableBytes < 12_000, "a few KB")
            #expect(String(buffer: script.body).contains("setTimeout"))
        }
    }

    @Test("GET /screen.png is the screen as a PNG, with validators")
    func screen() async throws {
        try await withServedScreen { client, _, pattern in
            let response = try await client.execute(uri: "/screen.png", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "image/png")
            // Browsers revalidate every time; a shared cache (Docs/Scaling.md) may keep it for one interval.
            #expect(response.headers[.cacheControl] == "max-age=0, s-maxage=1")
            #expect(response.headers[.lastModified]?.hasSuffix(" GMT") == true)
            let etag = try #require(response.headers[.eTag])
            #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && !etag.hasPrefix("W/"), "a strong ETag")
            let decoded = try decodePNG(Array(buffer: response.body))
            #expect(firstDifference(decoded.rgb, pattern.expected, width: 320) == nil)
        }
    }

    @Test("HEAD gives the headers of GET and no body")
    func head() async throws {
        try await withServedScreen { client, _, _ in
            for path in ["/", "/screen.png"] {
                let get = try await client.execute(uri: path, method: .get)
                let head = try await client.execute(uri: path, method: .head)
                #expect(head.status == .ok)
                #expect(head.body.readableBytes == 0)
                #expect(head.headers[.contentLength] == String(get.body.readableBytes))
                #expect(head.headers[.eTag] == get.headers[.eTag])
            }
        }
    }

    @Test("A matching If-None-Match gets a 304 with no body")
    func notModified() async throws {
        try await withServedScreen { client, _, _ in
            let first = try await client.execute(uri: "/screen.png", method: .get)
            let etag = try #require(first.headers[.eTag])
            let again = try await client.execute(uri: "/screen.png", method: .get, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            #expect(again.body.readableBytes == 0)
            #expect(again.headers[.eTag] == etag)
            let other = try await client.execute(
                uri: "/screen.png",
                method: .get,
                headers: [.ifNoneMatch: "\"something-else\""]
            )
            #expect(other.status == .ok)
        }
    }

    @Test("Unknown paths are 404; methods other than GET and HEAD are 405")
    func errors() async throws {
        try await withServedScreen { client, _, _ in
            for path in ["/nope", "/screen.jpg", "/..%2f..%2fetc/passwd", "/index.php"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .notFound, "\(path)")
            }
            for method in [HTTPRequest.Method.post, .put, .delete, .options] {
                let response = try await client.execute(uri: "/screen.png", method: method)
                #expect(response.status == .methodNotAllowed, "\(method)")
                #expect(response.headers[.allow] == "GET, HEAD")
            }
        }
    }

    @Test("50 concurrent viewers within one interval get the same ETag from one capture")
    func coalescing() async throws {
        try await withServedScreen(interval: 30) { client, frames, _ in
            let port = try #require(client.port)
            let tags = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await withViewer(port: port) { viewer in
                            try await viewer.execute(.init("/screen.png", method: .get)).head.headerFields[.eTag]
                        }
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(tags.count == 50)
            #expect(Set(tags).count == 1)
            #expect(tags.first! != nil)
            #expect(frames.statistics.captures == 1)
        }
    }

    @Test("40 viewers polling over several intervals cause at most one capture per interval")
    func coalescingUnderLoad() async throws {
        let interval = Duration.milliseconds(200)
        try await withServedScreen(interval: 0.2) { client, frames, _ in
            let port = try #require(client.port)
            let start = ContinuousClock.now
            // Each viewer revalidates as fast as it can on its own keep-alive connection, for about 6 intervals.
            let answers = try await withThrowingTaskGroup(of: [HTTPResponse.Status].self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await withViewer(port: port) { viewer in
                            var statuses: [HTTPResponse.Status] = []
                            var etag: String?
                            while ContinuousClock.now - start < interval * 6 {
                                var headers = HTTPFields()
                                if let etag { headers[.ifNoneMatch] = etag }
                                let response = try await viewer.execute(
                                    .init("/screen.png", method: .get, headers: headers)
                                )
                                statuses.append(response.status)
                                etag = response.head.headerFields[.eTag] ?? etag
                            }
                            return statuses
                        }
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0 += $1 }
            }
            let elapsed = ContinuousClock.now - start
            let allowed = Int((elapsed / interval).rounded(.down)) + 1
            #expect(frames.statistics.captures <= allowed, "\(answers.count) answers in \(elapsed)")
            #expect(frames.statistics.encodes == 1, "the screen did not change")
            #expect(answers.allSatisfy { $0 == .ok || $0 == .notModified })
            #expect(answers.count(where: { $0 == .ok }) == 40, "one full frame per viewer, then 304s")
        }
    }
}
