import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import ShareKit

/// A share locked with a PIN, over real sockets on loopback: what a viewer without a session gets, the PIN
/// link, the session cookie, the guess limit, and `curl` as the README shows it.
@Suite("Locking a share with a PIN", .serialized)
struct AccessTests {
    static let logger = Logger(label: "share.tests")

    /// A locked test-card share served in this process.
    func withLockedShare(
        pin: String? = "4711",
        _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withTestCardServer(name: "Locked <Room>", pin: pin, body)
    }

    /// The `name=value` part of a Set-Cookie header.
    func cookie(from response: TestResponse) throws -> String {
        let header = try #require(response.headers[.setCookie])
        return String(try #require(header.split(separator: ";").first))
    }

    @Test("Without a session: the PIN page (strict CSP, no script, never stored) and 401 for frames and status")
    func lockedWithoutSession() async throws {
        try await withLockedShare { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .unauthorized)
            let html = String(buffer: page.body)
            #expect(html.contains("<form method=\"get\" action=\"/\">") && html.contains("name=\"pin\""))
            #expect(html.contains("Locked &lt;Room&gt;"))
            #expect(!html.contains("<script"), "no script at all")
            #expect(!html.contains("4711"), "the page never holds the PIN")
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"))
            #expect(!csp.contains("script-src"))
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(html.contains("inputmode=\"numeric\""), "a PIN of digits brings up a phone's number pad")
            for path in ["/screen.png", "/screen.png?width=320", "/status", "/index.html", "/status?wait=1"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .unauthorized, "\(path)")
                #expect(response.headers[.contentType] != "image/png")
                #expect(!String(buffer: response.body).contains("PNG"))
            }
            let help = String(buffer: try await client.execute(uri: "/screen.png", method: .get).body)
            #expect(help.contains("curl -c jar") && help.contains("curl -b jar"))
            for path in ["/pin.css", "/viewer.css", "/viewer.js"] {
                #expect(try await client.execute(uri: path, method: .get).status == .ok, "\(path) holds no secret")
            }
        }
    }

    @Test("/?pin= sets an HttpOnly, SameSite=Strict session cookie and redirects to /; the cookie opens everything")
    func pinLinkOpensASession() async throws {
        try await withLockedShare { client in
            let wrong = try await client.execute(uri: "/?pin=1234", method: .get)
            #expect(wrong.status == .unauthorized)
            #expect(String(buffer: wrong.body).contains("Wrong PIN"))
            #expect(wrong.headers[.setCookie] == nil)

            let right = try await client.execute(uri: "/?pin=4711", method: .get)
            #expect(right.status == .seeOther)
            #expect(right.headers[.location] == "/", "the PIN leaves the address bar")
            #expect(right.headers[.cacheControl] == "no-store")
            let setCookie = try #require(right.headers[.setCookie])
            #expect(setCookie.contains("; HttpOnly") && setCookie.contains("; SameSite=Strict"))
            #expect(setCookie.contains("; Path=/"))
            #expect(!setCookie.contains("4711"), "the cookie is a random token, not the PIN")
            let session = try cookie(from: right)
            #expect(session.hasPrefix("share_") && session.count > 60)

            let page = try await client.execute(uri: "/", method: .get, headers: [.cookie: session])
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("src=\"/screen.png\""))
            #expect(page.headers[.cacheControl] == "private, no-cache", "a locked share's answers are private")
            let frame = try await client.execute(
                uri: "/screen.png",
                method: .get,
                headers: [.cookie: "a=b; \(session)"]
            )
            #expect(frame.status == .ok)
            #expect(frame.headers[.contentType] == "image/png")
            #expect(frame.headers[.cacheControl] == "private, no-cache")
            let scaled = try await client.execute(
                uri: "/screen.png?width=320",
                method: .get,
                headers: [.cookie: session]
            )
            #expect(scaled.status == .ok && scaled.headers[.contentType] == "image/png")
            #expect(try decodePNG(Array(buffer: scaled.body)).width == 320, "a smaller copy, behind the same lock")
            #expect(scaled.headers[.cacheControl] == "private, no-cache")
            let status = try await client.execute(uri: "/status", method: .get, headers: [.cookie: session])
            #expect(String(buffer: status.body) == #"{"state":"live"}"#)

            // A session that comes back with the PIN in the address is redirected to drop it.
            let again = try await client.execute(uri: "/?pin=4711", method: .get, headers: [.cookie: session])
            #expect(again.status == .seeOther && again.headers[.setCookie] == nil)

            // A made-up token, or the right token under another name, opens nothing.
            let name = session.split(separator: "=")[0]
            let token = session.split(separator: "=")[1]
            for forged in ["\(name)=\(String(repeating: "0", count: 64))", "share_00000000=\(token)", "\(name)="] {
                let response = try await client.execute(uri: "/screen.png", method: .get, headers: [.cookie: forged])
                #expect(response.status == .unauthorized, "\(forged)")
            }
        }
    }

    @Test("A session is good for this run only: another run of the share, with the same PIN, refuses its cookie")
    func sessionEndsWithTheRun() async throws {
        let first = PINLock(pin: "4711")
        guard case .accepted(let setCookie) = first.attempt("4711", from: "127.0.0.1") else {
            Issue.record("the right PIN was refused")
            return
        }
        let cookie = String(setCookie.split(separator: ";")[0])
        #expect(first.hasSession(cookieHeader: cookie))
        let second = PINLock(pin: "4711")
        #expect(!second.hasSession(cookieHeader: cookie))
        #expect(first.cookieName != second.cookieName)
    }

    @Test("Five wrong PINs a minute from one address, then 429 with Retry-After; other addresses are not held up")
    func guessLimit() async throws {
        try await withLockedShare { client in
            let port = try #require(client.port)
            func ask(_ pin: String, from source: String) throws -> String {
                let connection = try RawConnection(port: port, source: source)
                connection.send("GET /?pin=\(pin) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                return String(decoding: connection.readAll(), as: UTF8.self)
            }
            for attempt in 1...4 {
                let answer = try ask("000\(attempt)", from: "127.0.0.7")
                #expect(statusCodes(in: answer) == [401], "wrong guess \(attempt)")
                #expect(answer.contains("\(5 - attempt) more"))
            }
            let fifth = try ask("0005", from: "127.0.0.7")
            #expect(statusCodes(in: fifth) == [429])
            #expect(fifth.contains("Retry-After: 60"), "\(fifth.prefix(400))")
            #expect(fifth.contains("Too many wrong PINs from your address. Try again in 60 s."))
            // While it waits, even the right PIN is not checked.
            let right = try ask("4711", from: "127.0.0.7")
            #expect(statusCodes(in: right) == [429])
            #expect(!right.contains("Set-Cookie"))
            // Another address gets in at once.
            let other = try ask("4711", from: "127.0.0.8")
            #expect(statusCodes(in: other) == [303] && other.contains("Set-Cookie: share_"))
        }
    }

    @Test("Lockouts double (1, 2, 4 … minutes, at most an hour); the right PIN clears the record")
    func backoff() {
        let lock = PINLock(pin: "4711")
        var now = ContinuousClock.now
        var waits: [Int] = []
        for _ in 0..<8 {
            var result = PINLock.Attempt.wrong(remaining: 0)
            for _ in 0..<5 { result = lock.attempt("0000", from: "192.0.2.1", now: now) }
            guard case .limited(let seconds) = result else {
                Issue.record("five wrong guesses were not limited: \(result)")
                return
            }
            waits.append(seconds)
            #expect(
                lock.attempt("4711", from: "192.0.2.1", now: now + .seconds(seconds - 1)) == .limited(retryAfter: 1)
            )
            now += .seconds(seconds)
        }
        #expect(waits == [60, 120, 240, 480, 960, 1920, 3600, 3600])
        // Wrong guesses spread out over more than a minute are never limited.
        let patient = PINLock(pin: "4711")
        for minute in 0..<10 {
            for second in 0..<4 {
                let result = patient.attempt("0000", from: "192.0.2.2", now: now + .seconds(minute * 70 + second))
                #expect(result != .limited(retryAfter: 60))
            }
        }
        // IPv6 addresses count per /64.
        let six = PINLock(pin: "4711")
        for host in 1...4 { _ = six.attempt("0000", from: "2001:db8:1:2::\(host)", now: now) }
        #expect(six.attempt("0000", from: "2001:db8:1:2::99", now: now) == .limited(retryAfter: 60))
        if case .accepted = lock.attempt("4711", from: "192.0.2.1", now: now) {
        } else {
            Issue.record("the right PIN after the wait was refused")
        }
        #expect(lock.attempt("0000", from: "192.0.2.1", now: now) == .wrong(remaining: 4), "the record starts over")
    }

    @Test("The PIN comparison is exact for every length; random PINs are 6 digits")
    func comparison() {
        let lock = PINLock(pin: "4711")
        #expect(lock.matches("4711"))
        for candidate in ["", "4", "471", "47111", "4712", "5711", "4711 ", "\u{0}4711"] {
            #expect(!lock.matches(candidate), "\(candidate)")
        }
        let pins = (0..<50).map { _ in PINLock.randomPIN() }
        #expect(pins.allSatisfy { $0.count == 6 && $0.allSatisfy(\.isNumber) })
        #expect(Set(pins).count > 40)
    }

    @Test("An open share drops a PIN from the address too, and shows no PIN page")
    func openShare() async throws {
        try await withLockedShare(pin: nil) { client in
            let link = try await client.execute(uri: "/?pin=4711", method: .get)
            #expect(link.status == .seeOther && link.headers[.location] == "/" && link.headers[.setCookie] == nil)
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok && page.headers[.cacheControl] == "max-age=0, s-maxage=1")
        }
    }
}

/// `share start --pin` as a presenter and a `curl` user meet it.
@Suite("share start --pin and --viewers", .serialized)
struct PINCommandTests {
    private func start(_ extra: [String]) async throws -> (ShareProcess, [String]) {
        let share = try ShareProcess(["start", "--test-card", "--bind", "127.0.0.1", "--port", "0"] + extra)
        let lines = try await share.outputLines(atLeast: 1)
        return (share, lines)
    }

    @Test(
        "--pin alone makes a random 6-digit PIN; --pin PIN and --pin=PIN set one; the printed URL carries it",
        arguments: [
            (["--pin"], nil), (["--pin", "--no-qr"], nil), (["--no-qr", "--pin"], nil), (["--pin", "4711"], "4711"),
            (["--pin=Blue42"], "Blue42"),
        ] as [([String], String?)]
    )
    func pinOption(arguments: [String], expected: String?) async throws {
        let (share, lines) = try await start(arguments)
        let url = try #require(lines.first, "stderr: \(share.standardError)")
        let components = try #require(URLComponents(string: url))
        let pin = try #require(components.queryItems?.first { $0.name == "pin" }?.value, "\(url)")
        if let expected {
            #expect(pin == expected)
        } else {
            #expect(pin.count == 6 && pin.allSatisfy(\.isNumber), "\(pin)")
        }
        #expect(share.standardError.contains("Locked with a PIN"))
        share.send(SIGTERM)
        #expect(try await share.exitStatus(within: .seconds(5)) == 0)
    }

    @Test(
        "A PIN that is too short, too long or not letters and digits is refused",
        arguments: [
            ["--pin", "12"], ["--pin", String(repeating: "9", count: 33)], ["--pin=12 34"], ["--pin", "ab/cd"],
        ]
    )
    func badPIN(arguments: [String]) async throws {
        let share = try ShareProcess(["start", "--test-card", "--port", "0"] + arguments)
        #expect(try await share.exitStatus() == 64)
        #expect(share.standardError.contains("--pin must be 4 to 32 letters or digits"), "\(share.standardError)")
        #expect(share.standardOutput.isEmpty)
    }

    @Test("--pin belongs to share start: other commands refuse it by its own name", arguments: ["list", "open"])
    func pinOnlyForStart(command: String) async throws {
        let share = try ShareProcess([command, "--pin"])
        #expect(try await share.exitStatus() == 64)
        #expect(share.standardError.contains("Unknown option '--pin'"), "\(share.standardError)")
        #expect(!share.standardError.contains("generate-pin"))
    }

    @Test("curl: a cookie jar from /?pin= opens the frame, as the README shows; without it, 401")
    func curlFlow() async throws {
        let (share, lines) = try await start(["--pin", "4711"])
        let url = try #require(lines.first)
        #expect(url.hasSuffix("/?pin=4711"))
        let base = String(url.dropLast("?pin=4711".count))
        let jar = FileManager.default.temporaryDirectory.appendingPathComponent("jar-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: jar) }

        let locked = try await runCurl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", base + "screen.png"])
        #expect(locked == "401")
        let login = try await runCurl(["-sS", "-c", jar, "-o", "/dev/null", "-w", "%{http_code}", base + "?pin=4711"])
        #expect(login == "303")
        let frame = try await runCurl([
            "-sS", "-b", jar, "-o", "/dev/null", "-w", "%{http_code} %{content_type}", base + "screen.png",
        ])
        #expect(frame == "200 image/png")
        // -L follows the redirect with the cookie in one go.
        let page = try await runCurl(["-sSL", "-c", jar, "-b", jar, base + "?pin=4711"])
        #expect(page.contains("src=\"/screen.png\""))
        share.send(SIGTERM)
        #expect(try await share.exitStatus(within: .seconds(5)) == 0)
    }

    @Test("Each new viewer is logged once with address and user agent; --viewers prints the live count")
    func viewerLogAndCount() async throws {
        let (share, lines) = try await start(["--viewers", "--pin", "4711"])
        let url = try #require(lines.first)
        let base = String(url.dropLast("?pin=4711".count))
        let jar = FileManager.default.temporaryDirectory.appendingPathComponent("jar-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: jar) }
        _ = try await eventually("the count starts at 0") { share.standardError.contains("Viewers: 0") ? true : nil }
        _ = try await runCurl(["-sS", "-o", "/dev/null", base + "screen.png"])  // locked out: not a viewer
        _ = try await runCurl(["-sS", "-c", jar, "-o", "/dev/null", base + "?pin=4711"])
        for _ in 0..<3 {
            _ = try await runCurl(["-sS", "-b", jar, "-A", "Viewer-One/1.0", "-o", "/dev/null", base + "screen.png"])
        }
        _ = try await runCurl(["-sS", "-b", jar, "-A", "Viewer-Two/2.0", "-o", "/dev/null", base + "screen.png"])
        let log = try await eventually("the count reaches 2") {
            share.standardError.contains("Viewers: 2") ? share.standardError : nil
        }
        let newViewers = log.split(separator: "\n").filter { $0.contains("New viewer") }
        #expect(newViewers.count == 2, "\(newViewers)")
        #expect(newViewers.first?.contains("address=127.0.0.1") == true)
        #expect(newViewers.first?.contains("Viewer-One/1.0") == true)
        #expect(newViewers.last?.contains("Viewer-Two/2.0") == true)
        #expect(!log.contains("Viewers: 3"))
        share.send(SIGTERM)
        #expect(try await share.exitStatus(within: .seconds(5)) == 0)
    }

    /// curl against loopback, in this namespace; its stdout.
    private func runCurl(_ arguments: [String]) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let curl = try ChildProcess(
            executable: "/usr/bin/curl",
            arguments: ["--max-time", "10"] + arguments,
            standardOutputPath: output
        )
        _ = try await curl.wait(timeout: .seconds(15))
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }
}
