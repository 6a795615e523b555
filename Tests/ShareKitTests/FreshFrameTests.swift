import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

@testable import ShareKit

/// Fresh frames answered from the event loop (`FreshFrameHandler`), over real sockets on loopback: the answers
/// are Hummingbird's, in the order of the requests, whole even for a client that half-closes, and connections
/// keep their idle timeout and `Connection: close`.
@Suite("Fresh frames answered from the event loop", .serialized)
struct FreshFrameTests {
    /// Random pixels: a PNG of about 6.3 MB, more than loopback's socket buffers (4 MiB at most) take at once.
    final class NoiseSource: FrameSource {
        let frame: Frame

        init(width: Int = 2048, height: Int = 1024) {
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            rgb.withUnsafeMutableBufferPointer { bytes in
                for index in bytes.indices {
                    state ^= state << 13
                    state ^= state >> 7
                    state ^= state << 17
                    bytes[index] = UInt8(truncatingIfNeeded: state)
                }
            }
            frame = Frame(width: width, height: height, rgb: rgb)
        }

        func captureFrame() async throws -> Frame { frame }
        var summary: String { "noise" }
    }

    /// Picture A, then B, then A again, one per capture.
    final class AlternatingSource: FrameSource {
        private let pictures: [Frame]
        private let captures = Mutex(0)

        init() {
            pictures = [UInt8(40), UInt8(200)].map { shade in
                Frame(width: 64, height: 48, rgb: [UInt8](repeating: shade, count: 64 * 48 * 3))
            }
        }

        func captureFrame() async throws -> Frame {
            pictures[
                captures.withLock { count in
                    defer { count += 1 }
                    return count % 2
                }
            ]
        }

        var summary: String { "A, B, A" }
    }

    /// The answers one after another in `bytes` (each with a Content-Length): their status codes, content types
    /// and bodies (whole, or as much as arrived), found without decoding megabytes of PNG as text.
    static func answers(
        in bytes: [UInt8]
    ) -> [(status: Int, contentType: String, body: ArraySlice<UInt8>, isWhole: Bool)] {
        let separator = Array("\r\n\r\n".utf8)
        var answers: [(status: Int, contentType: String, body: ArraySlice<UInt8>, isWhole: Bool)] = []
        var start = bytes.startIndex
        while start < bytes.endIndex,
            let headEnd = bytes[start...].indices.first(where: { bytes[$0...].starts(with: separator) })
        {
            let head = String(decoding: bytes[start..<headEnd], as: UTF8.self)
            let lines = head.components(separatedBy: "\r\n")
            let status = Int(lines.first?.dropFirst("HTTP/1.1 ".count).prefix(3) ?? "") ?? 0
            let length =
                lines.first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            let contentType =
                lines.first { $0.lowercased().hasPrefix("content-type:") }
                .map { $0.dropFirst("content-type:".count).trimmingCharacters(in: .whitespaces) } ?? ""
            let bodyStart = headEnd + separator.count
            let bodyEnd = min(bytes.endIndex, bodyStart + length)
            answers.append((status, contentType, bytes[bodyStart..<bodyEnd], bodyEnd - bodyStart == length))
            start = bodyEnd
        }
        return answers
    }

    /// Whether `bytes` are the readable bytes of `buffer` (compared with memcmp: a debug build's loops are slow on
    /// megabytes).
    static func same(_ bytes: ArraySlice<UInt8>, _ buffer: ByteBuffer) -> Bool {
        bytes.withUnsafeBytes { left in
            buffer.withUnsafeReadableBytes { right in
                guard left.count == right.count else { return false }
                guard let leftStart = left.baseAddress, let rightStart = right.baseAddress else { return true }
                return memcmp(leftStart, rightStart, left.count) == 0
            }
        }
    }

    /// The headers a client compares: all but `Date`, which moves with the clock.
    private func comparable(_ headers: HTTPFields) -> HTTPFields {
        var headers = headers
        headers[.date] = nil
        return headers
    }

    private func merged(_ first: HTTPFields, _ second: HTTPFields) -> HTTPFields {
        var fields = first
        fields.append(contentsOf: second)
        return fields
    }

    /// The `Cookie` header of a session opened with `pin`; none for an open share.
    private func session(_ client: any TestClientProtocol, pin: String?) async throws -> HTTPFields {
        guard let pin else { return [:] }
        let answer = try await client.execute(uri: "/?pin=\(pin)", method: .get)
        let setCookie = try #require(answer.headers[.setCookie], "a right PIN opens a session")
        return [.cookie: String(setCookie.prefix { $0 != ";" })]
    }

    @Test("Answers from the event loop are the responder's: GET, HEAD, 304s and tags in lists, open or locked")
    func sameAnswers() async throws {
        let frames = FrameStore(source: TestCardSource(name: "Fresh", host: "lectern"), interval: .seconds(60))
        for pin in [nil, "4711"] as [String?] {
            let fast = FreshFramePath()
            let slow = FreshFramePath(isEnabled: false)
            let variants = Mutex(0)
            let (fastState, slowState) = (ShareState(), ShareState())
            try await withServedShare(frames: frames, pin: pin, state: fastState, freshFramePath: fast) { fastClient in
                try await withServedShare(frames: frames, pin: pin, state: slowState, freshFramePath: slow) {
                    slowClient in
                    let fastSession = try await session(fastClient, pin: pin)
                    let slowSession = try await session(slowClient, pin: pin)
                    let first = try await slowClient.execute(uri: "/screen.png", method: .get, headers: slowSession)
                    #expect(first.status == .ok)
                    let etag = try #require(first.headers[.eTag])
                    let requests: [(String, HTTPRequest.Method, HTTPFields)] = [
                        ("GET", .get, [:]),
                        ("HEAD", .head, [:]),
                        ("a matching If-None-Match", .get, [.ifNoneMatch: etag]),
                        ("HEAD with a matching If-None-Match", .head, [.ifNoneMatch: etag]),
                        ("a weak tag in a list", .get, [.ifNoneMatch: "\"other\",  W/\(etag) "]),
                        ("If-None-Match: *", .get, [.ifNoneMatch: "*"]),
                        ("another tag", .get, [.ifNoneMatch: "\"other\""]),
                        ("Connection: keep-alive", .get, [.connection: "keep-alive"]),
                    ]
                    for (what, method, headers) in requests {
                        let fromLoop = try await fastClient.execute(
                            uri: "/screen.png",
                            method: method,
                            headers: merged(headers, fastSession)
                        )
                        let fromResponder = try await slowClient.execute(
                            uri: "/screen.png",
                            method: method,
                            headers: merged(headers, slowSession)
                        )
                        #expect(fromLoop.status == fromResponder.status, "\(what)")
                        #expect(comparable(fromLoop.headers) == comparable(fromResponder.headers), "\(what)")
                        #expect(fromLoop.headers[.date] != nil, "\(what)")
                        #expect(fromLoop.body == fromResponder.body, "\(what)")
                    }
                    variants.withLock { $0 = requests.count }
                    if pin != nil {
                        let locked = try await fastClient.execute(uri: "/screen.png", method: .get)
                        #expect(locked.status == .unauthorized, "no session, no frame")
                    }
                    // Once the presenter stops, the frame is gone whatever the cache holds.
                    _ = (fastState.end(), slowState.end())
                    let fromLoop = try await fastClient.execute(uri: "/screen.png", method: .get, headers: fastSession)
                    let fromResponder = try await slowClient.execute(
                        uri: "/screen.png",
                        method: .get,
                        headers: slowSession
                    )
                    #expect(fromLoop.status == .gone && fromResponder.status == .gone)
                }
            }
            #expect(fast.answered == variants.withLock { $0 }, "every request above was answered from the event loop")
            #expect(slow.answered == 0)
        }
    }

    @Test("A picture shown again gets its old tag and a new Last-Modified, from both paths alike")
    func pictureShownAgain() async throws {
        // Fresh for 1.1 s: each round's first request captures the next picture, the second finds it fresh.
        let frames = FrameStore(source: AlternatingSource(), interval: .milliseconds(1100))
        let fast = FreshFramePath()
        let slow = FreshFramePath(isEnabled: false)
        let seen = Mutex<[(etag: String?, lastModified: String?)]>([])
        try await withServedShare(frames: frames, freshFramePath: fast) { fastClient in
            try await withServedShare(frames: frames, freshFramePath: slow) { slowClient in
                for round in 0..<3 {
                    let fromResponder = try await slowClient.execute(uri: "/screen.png", method: .get)
                    let fromLoop = try await fastClient.execute(uri: "/screen.png", method: .get)
                    #expect(comparable(fromLoop.headers) == comparable(fromResponder.headers), "round \(round)")
                    #expect(fromLoop.body == fromResponder.body, "round \(round)")
                    seen.withLock { $0.append((fromLoop.headers[.eTag], fromLoop.headers[.lastModified])) }
                    // Past the interval, and past the second Last-Modified counts in.
                    try await Task.sleep(for: .milliseconds(1200))
                }
            }
        }
        let rounds = seen.withLock { $0 }
        try #require(rounds.count == 3)
        #expect(rounds[0].etag == rounds[2].etag && rounds[0].etag != rounds[1].etag, "A's tag, B's, A's again")
        #expect(rounds[0].lastModified != rounds[2].lastModified, "A shown again is a change")
        #expect(fast.answered == 3)
    }

    @Test("Pipelined requests are answered in order: a fresh frame waits for an earlier answer still to come")
    func order() async throws {
        let frames = FrameStore(source: TestCardSource(name: "Fresh", host: "lectern"), interval: .seconds(60))
        let path = FreshFramePath()
        try await withServedShare(frames: frames, freshFramePath: path) { client in
            let port = try #require(client.port)
            // The first request captures; the frame is fresh from then on.
            _ = try await client.execute(uri: "/screen.png", method: .get)
            let answer = try await offThePool {
                try RawConnection.exchange(
                    port: port,
                    "GET /screen.png HTTP/1.1\r\nHost: a\r\n\r\n"
                        + "GET /status?wait=1 HTTP/1.1\r\nHost: a\r\n\r\n"
                        + "HEAD /screen.png HTTP/1.1\r\nHost: a\r\n\r\n"
                        + "GET /viewer.css HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                    halfClose: false
                )
            }
            #expect(statusCodes(in: answer) == [200, 200, 200, 200])
            let types = answer.components(separatedBy: "\r\n").filter { $0.lowercased().hasPrefix("content-type:") }
            #expect(
                types.map { $0.dropFirst("content-type:".count).trimmingCharacters(in: .whitespaces) } == [
                    "image/png", "application/json", "image/png", "text/css; charset=utf-8",
                ]
            )
        }
        // Only the first frame of the pipeline: the HEAD came while the status was still unanswered.
        #expect(path.answered == 1)
    }

    /// How the frame a half-closing client asks for is answered.
    enum HalfCloseCase: String, CaseIterable, CustomTestStringConvertible {
        /// Fresh: from the event loop.
        case fresh
        /// Stale after a millisecond: every request captures, so Hummingbird answers.
        case captured
        /// Fresh, but with `Connection: close`: Hummingbird answers, then closes its side.
        case closing

        var testDescription: String { rawValue }
    }

    @Test(
        "A client that closes its side right after asking still gets the whole frame: fresh, captured or closing",
        arguments: HalfCloseCase.allCases
    )
    func halfClose(_ answering: HalfCloseCase) async throws {
        let frames = FrameStore(
            source: NoiseSource(),
            interval: answering == .captured ? .milliseconds(1) : .seconds(60)
        )
        let path = FreshFramePath()
        try await withServedShare(frames: frames, freshFramePath: path) { client in
            let port = try #require(client.port)
            let first = try await client.execute(uri: "/screen.png", method: .get)
            #expect(first.body.readableBytes > 6_000_000)
            // A small receive buffer: most of the answer is still queued in share when its side closes.
            let connection = try RawConnection(port: port, timeout: .seconds(5), receiveBuffer: 4096)
            defer { connection.close() }
            let closing = answering == .closing ? "Connection: close\r\n" : ""
            connection.send("GET /screen.png HTTP/1.1\r\nHost: a\r\n\(closing)\r\n")
            connection.shutdownWrite()
            try await Task.sleep(for: .milliseconds(300))
            let received = try await offThePool { connection.readAll() }
            let separator = Array("\r\n\r\n".utf8)
            let headEnd = try #require(
                received.indices.first { received[$0...].starts(with: separator) },
                "an answer arrived"
            )
            #expect(String(decoding: received[..<headEnd], as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
            let body = received[(headEnd + separator.count)...]
            let isWhole = Self.same(body, first.body)
            #expect(isWhole, "the whole frame: \(body.count) of \(first.body.readableBytes) bytes")
            #expect(connection.isClosedByServer(), "then share closes its side too")
        }
        #expect(path.answered == (answering == .fresh ? 1 : 0))
    }

    @Test("Pipelined requests from a client that reads late are all answered, in order, as Hummingbird takes over")
    func backpressure() async throws {
        // Frames of random pixels (about 2.4 MB each): a few answers fill every buffer on the way.
        let frames = FrameStore(source: NoiseSource(width: 1024, height: 768), interval: .seconds(60))
        let path = FreshFramePath()
        try await withServedShare(frames: frames, freshFramePath: path) { client in
            let port = try #require(client.port)
            let first = try await client.execute(uri: "/screen.png", method: .get)
            let size = first.body.readableBytes
            // More answers than loopback's socket buffers (4 MiB at most on each side) and NIO's watermark hold:
            // the channel turns unwritable, and the rest are handed to Hummingbird, whose writer waits.
            let count = max(4, 10_000_000 / size + 1)
            let connection = try RawConnection(port: port, timeout: .seconds(5), receiveBuffer: 4096)
            defer { connection.close() }
            let request = "GET /screen.png HTTP/1.1\r\nHost: a\r\n\r\n"
            connection.send(
                String(repeating: request, count: count - 1)
                    + request.replacingOccurrences(
                        of: "Host: a\r\n",
                        with: "Host: a\r\nConnection: close\r\n"
                    )
            )
            try await Task.sleep(for: .milliseconds(500))
            connection.setReceiveBuffer(1024 * 1024)
            let received = try await offThePool { connection.readAll() }
            let answers = Self.answers(in: received)
            #expect(answers.map(\.status) == Array(repeating: 200, count: count))
            let bodies = answers.map(\.body)
            #expect(bodies.allSatisfy { Self.same($0, first.body) }, "every answer whole")
            // The last request asks to close, so it goes to Hummingbird anyway; others did once unwritable.
            #expect(
                path.answered > 0 && path.answered < count - 1,
                "\(path.answered) of \(count) answered at once, the rest by Hummingbird"
            )
        }
    }

    /// A request as the handler reads it from its bytes, and what must happen to it.
    struct ReadCase: CustomTestStringConvertible, Sendable {
        let name: String
        /// Sent in pieces, a few milliseconds apart so that the server reads them separately, each once as many
        /// answers as it says have arrived (so a request waits, or not, for the answers before it).
        let pieces: [(text: String, answersBefore: Int)]
        /// The content types of the answers, in order (the same with the handler and without).
        let answers: [String]
        /// How many of them the handler answers itself.
        let answeredAtOnce: Int

        var testDescription: String { name }

        static let all: [ReadCase] = [
            ReadCase(
                name: "a request arriving a few bytes at a time",
                pieces: Array("GET /screen.png HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n").chunks(of: 3).map {
                    (String($0), 0)
                },
                answers: ["image/png"],
                answeredAtOnce: 1
            ),
            ReadCase(
                name: "empty lines before, headers in any case, Connection: Keep-Alive",
                pieces: [
                    (
                        "\r\n\nGET /screen.png HTTP/1.1\r\nHOST: a\r\ncontent-LENGTH: 0\r\nConnection: Keep-Alive\r\n\r\n",
                        0
                    )
                ],
                answers: ["image/png"],
                answeredAtOnce: 1
            ),
            ReadCase(
                // NIO's decoder refuses these (400): so must the handler, by handing them on.
                name: "a line ending in LF alone",
                pieces: [("GET /screen.png HTTP/1.1\r\nHost: a\n\r\n", 0)],
                answers: [""],
                answeredAtOnce: 0
            ),
            ReadCase(
                // The body spells a request: read as one, it would get an answer of its own.
                name: "a body that looks like a request, then the frame",
                pieces: [
                    (
                        "GET /viewer.css HTTP/1.1\r\nHost: a\r\nContent-Length: 28\r\n\r\n"
                            + "GET /screen.png HTTP/1.1\r\n\r\n", 0
                    ),
                    ("GET /screen.png HTTP/1.1\r\nHost: a\r\n\r\n", 1),
                ],
                answers: ["text/css; charset=utf-8", "image/png"],
                answeredAtOnce: 1
            ),
            ReadCase(
                name: "a chunked body, then the frame (handed on from there)",
                pieces: [
                    (
                        "GET /viewer.css HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + "1c\r\nGET /screen.png HTTP/1.1\r\n\r\n\r\n0\r\n\r\n", 0
                    ),
                    ("GET /screen.png HTTP/1.1\r\nHost: a\r\n\r\n", 1),
                ],
                answers: ["text/css; charset=utf-8", "image/png"],
                answeredAtOnce: 0
            ),
            ReadCase(
                name: "a query, HTTP/1.0: Hummingbird's",
                pieces: [
                    ("GET /screen.png?width=32 HTTP/1.1\r\nHost: a\r\n\r\n", 0),
                    ("GET /screen.png HTTP/1.0\r\nHost: a\r\n\r\n", 1),
                ],
                answers: ["image/png", "image/png"],
                answeredAtOnce: 0
            ),
        ]
    }

    @Test(
        "Requests read from their bytes: split anywhere, bare LF, bodies framed, unknown framing handed on",
        arguments: ReadCase.all
    )
    func readingRequests(_ readCase: ReadCase) async throws {
        let frames = FrameStore(source: TestCardSource(name: "Fresh", host: "lectern"), interval: .seconds(60))
        let answers = Mutex<[Bool: [(status: Int, type: String)]]>([:])
        for isEnabled in [true, false] {
            let path = FreshFramePath(isEnabled: isEnabled)
            try await withServedShare(frames: frames, freshFramePath: path) { client in
                let port = try #require(client.port)
                _ = try await client.execute(uri: "/screen.png", method: .get)
                let before = path.answered
                let received = try await offThePool {
                    let connection = try RawConnection(port: port, timeout: .seconds(3))
                    defer { connection.close() }
                    var received: [UInt8] = []
                    for piece in readCase.pieces {
                        if piece.answersBefore > 0 {
                            connection.read(into: &received) { received in
                                let answers = Self.answers(in: received)
                                return answers.count >= piece.answersBefore && answers.allSatisfy(\.isWhole)
                            }
                            // Hummingbird may flush an answer's bytes a moment before its end passes the handler.
                            usleep(20_000)
                        }
                        connection.send(piece.text)
                        usleep(5_000)
                    }
                    connection.shutdownWrite()
                    connection.read(into: &received) { _ in false }
                    return received
                }
                let found = Self.answers(in: received).map { answer in (answer.status, answer.contentType) }
                answers.withLock { $0[isEnabled] = found }
                #expect(path.answered - before == (isEnabled ? readCase.answeredAtOnce : 0))
            }
        }
        let fast = try #require(answers.withLock { $0[true] })
        let slow = try #require(answers.withLock { $0[false] })
        #expect(fast.map(\.type) == readCase.answers, "with the handler")
        #expect(fast.map(\.status) == slow.map(\.status) && fast.map(\.type) == slow.map(\.type), "as without it")
    }

    @Test("Malformed and mutated requests for the frame get the same answers with the handler as without it")
    func sameAnswersToMalformedRequests() async throws {
        let frames = FrameStore(source: TestCardSource(name: "Fresh", host: "lectern"), interval: .seconds(60))
        // The bad-input corpus aimed at the frame, and requests for it with bytes deleted, inserted or replaced.
        var corpus = HostileClientTests.corpus().map { request in
            Array(
                String(decoding: request, as: UTF8.self).replacingOccurrences(of: "GET / ", with: "GET /screen.png ")
                    .utf8
            )
        }
        let bases = [
            "GET /screen.png HTTP/1.1\r\nHost: a\r\nUser-Agent: x y\r\nIf-None-Match: \"a\", *\r\n\r\n",
            "GET /screen.png HTTP/1.1\r\nHost: a\r\nUser-Agent: x y\r\nIf-None-Match: \"a\", W/\"b\"\r\n\r\n",
            "HEAD /screen.png HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
        ].map { Array($0.utf8) }
        let insertions = Array(" \t\r\n:\u{0}a/".utf8) + [0x7F, 0x80, 0xFF]
        var state: UInt32 = 11
        func next(_ bound: Int) -> Int {
            state = state &* 1_664_525 &+ 1_013_904_223
            return Int(state >> 8) % bound
        }
        for base in bases {
            for _ in 0..<80 {
                var request = base
                for _ in 0..<(1 + next(2)) {
                    let at = next(request.count)
                    switch next(3) {
                    case 0: request.remove(at: at)
                    case 1: request.insert(insertions[next(insertions.count)], at: at)
                    default: request[at] = insertions[next(insertions.count)]
                    }
                }
                corpus.append(request)
            }
        }
        let requests = corpus
        let answers = Mutex<[Bool: [[Int]]]>([:])
        for isEnabled in [true, false] {
            try await withServedShare(frames: frames, freshFramePath: FreshFramePath(isEnabled: isEnabled)) { client in
                let port = try #require(client.port)
                _ = try await client.execute(uri: "/screen.png", method: .get)
                let statuses = try await offThePool {
                    try requests.map { request in
                        let connection = try RawConnection(port: port, timeout: .seconds(3))
                        defer { connection.close() }
                        connection.send(request)
                        connection.shutdownWrite()
                        return Self.answers(in: connection.readAll()).map(\.status)
                    }
                }
                answers.withLock { $0[isEnabled] = statuses }
            }
        }
        let (fast, slow) = try answers.withLock { (try #require($0[true]), try #require($0[false])) }
        let differing = corpus.indices.filter { fast[$0] != slow[$0] }.map { index in
            "\(String(decoding: corpus[index].prefix(120), as: UTF8.self).debugDescription): \(fast[index]) against \(slow[index])"
        }
        #expect(differing.isEmpty, "\(differing.count) of \(corpus.count) differ, the first: \(differing.prefix(5))")
        #expect(fast.contains([200]) && fast.contains([304]), "some mutants still ask for the frame")
    }

    @Test("A connection served from the event loop keeps its idle timeout, and closes when asked to")
    func connectionLifetime() async throws {
        var limits = ConnectionLimits()
        limits.idleTimeout = .seconds(2)
        let frames = FrameStore(source: TestCardSource(name: "Fresh", host: "lectern"), interval: .seconds(60))
        let path = FreshFramePath()
        try await withServedShare(frames: frames, limits: limits, freshFramePath: path) { client in
            let port = try #require(client.port)
            let first = try await client.execute(uri: "/screen.png", method: .get)
            let etag = try #require(first.headers[.eTag])
            // A viewer polling every 0.8 s for 3.2 s is not idle: the timeout counts these answers too.
            let polling = try RawConnection(port: port, timeout: .seconds(5))
            defer { polling.close() }
            for poll in 0..<4 {
                polling.send("GET /screen.png HTTP/1.1\r\nHost: a\r\nIf-None-Match: \(etag)\r\n\r\n")
                let answer = try await offThePool { polling.read(until: "\r\n\r\n") }
                #expect(answer.hasPrefix("HTTP/1.1 304"), "poll \(poll): \(answer.prefix(80))")
                try await Task.sleep(for: .milliseconds(800))
            }
            // Then quiet for longer than the idle timeout: closed.
            try await Task.sleep(for: .seconds(3))
            #expect(polling.isClosedByServer(), "closed after 2 s without requests")

            // Connection: close is honoured after the answer.
            let closing = try RawConnection(port: port, timeout: .seconds(5))
            defer { closing.close() }
            closing.send("GET /screen.png HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            let answer = try await offThePool { closing.read(until: "\r\n\r\n") }
            #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
            _ = try await offThePool { closing.readAll() }
            #expect(closing.isClosedByServer(), "Connection: close closes after the answer")
        }
        #expect(path.answered == 4)
    }
}

extension Array {
    /// The elements in consecutive pieces of `size` (the last may be shorter).
    fileprivate func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
