import Foundation
import HTTPTypes
package import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Answers every HTTP request of a share: the viewer page, its assets and the latest frame.
///
/// Only GET and HEAD on the known paths; any other path is a 404 and any other method a 405. A query string
/// with keys the path does not know, or values that make no sense, is a 400. A share locked with a PIN answers
/// the page, frames and status only to viewers with a session (see `PINLock`).
package struct ShareResponder: HTTPResponder {
    package typealias Context = ShareRequestContext

    private let frames: FrameStore
    private let scaledFrames: ScaledFrameStore
    private let state: ShareState
    private let page: StaticAsset
    private let script: StaticAsset
    private let styleSheet: StaticAsset
    private let pinStyleSheet: StaticAsset
    private let lock: PINLock?
    private let viewers: ViewerLog?
    private let cachePolicy: CachePolicy
    private let captureProblems = CaptureProblemLog()
    private let frameHeaders = FrameHeaderCache()
    private let name: String
    private let host: String

    /// The policy for the page: our own script, style and images only; frames arrive as blob: URLs.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// The longest a viewer's `GET /status?wait=S` is held open.
    static let longestStatusWait: Duration = .seconds(30)

    /// - Parameter scaledFrames: the copies for `/screen.png?width=N`; by default made from `frames`.
    package init(
        frames: FrameStore,
        page: ViewerPage,
        state: ShareState,
        scaledFrames: ScaledFrameStore? = nil,
        lock: PINLock? = nil,
        viewers: ViewerLog? = nil,
        name: String = "",
        host: String = ""
    ) {
        self.frames = frames
        self.scaledFrames = scaledFrames ?? ScaledFrameStore(frames: frames)
        self.state = state
        self.page = StaticAsset(text: page.html, contentType: "text/html; charset=utf-8")
        self.script = StaticAsset(text: ViewerPage.script, contentType: "text/javascript; charset=utf-8")
        self.styleSheet = StaticAsset(text: ViewerPage.styleSheet, contentType: "text/css; charset=utf-8")
        self.pinStyleSheet = StaticAsset(text: PINPage.styleSheet, contentType: "text/css; charset=utf-8")
        self.lock = lock
        self.viewers = viewers
        self.cachePolicy = CachePolicy(locked: lock != nil, interval: page.interval)
        self.name = name
        self.host = host
    }

    package func respond(to request: Request, context: Context) async throws -> Response {
        context.logger.debug(
            "Request",
            metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)",
            ]
        )
        let resource: Resource
        switch request.uri.path {
        case "/", "/index.html": resource = .asset(page)
        case "/viewer.js": resource = .asset(script)
        case "/viewer.css": resource = .asset(styleSheet)
        case "/pin.css": resource = .asset(pinStyleSheet)
        case "/screen.png": resource = .frame
        case "/status": resource = .status
        default:
            return Self.plain(.notFound, "Not found. The shared screen is at / and the latest frame at /screen.png.\n")
        }
        guard request.method == .get || request.method == .head else {
            var response = Self.plain(.methodNotAllowed, "Only GET and HEAD are supported.\n")
            response.headers[.allow] = "GET, HEAD"
            return response
        }
        let query: QueryParameters
        switch QueryParameters.parse(request.uri.query, allowed: resource.queryKeys) {
        case .success(let parsed): query = parsed
        case .failure(let problem): return Self.plain(.badRequest, problem.message)
        }
        if resource.isProtected {
            if let answer = checkAccess(request, query: query, context: context) { return answer }
            viewers?.saw(address: context.clientAddress, userAgent: request.headers[.userAgent])
        }
        switch resource {
        case .asset(let asset):
            var response = Self.validated(
                request,
                etag: asset.etag,
                lastModified: nil,
                body: asset.body,
                cacheControl: cachePolicy.content
            )
            response.headers[.contentType] = asset.contentType
            if asset === page {
                response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
            }
            return response
        case .status:
            return await status(request, wait: query.wait)
        case .frame:
            if state.hasEnded { return Self.ended() }
            let frame: EncodedFrame
            do {
                if let width = query.width {
                    frame = try await scaledFrames.frame(width: width)
                } else {
                    frame = try await frames.currentFrame()
                }
                captureProblems.recovered(logger: context.logger)
            } catch {
                captureProblems.failed(with: "\(error)", logger: context.logger)
                var response = Self.plain(.serviceUnavailable, "The screen could not be captured: \(error)\n")
                response.headers[.retryAfter] = "1"
                return response
            }
            var response = Self.validated(
                request,
                etag: frame.etag,
                lastModified: frame.changedAt,
                body: frame.png,
                cacheControl: cachePolicy.content
            )
            response.headers[.contentType] = "image/png"
            return response
        }
    }

    private enum Resource {
        case asset(StaticAsset)
        case frame
        case status

        /// The query keys this resource understands; any other key is a 400.
        var queryKeys: Set<String> {
            switch self {
            case .asset(let asset): asset.contentType.hasPrefix("text/html") ? ["pin"] : []
            case .frame: ["width"]
            case .status: ["wait"]
            }
        }

        /// True for what a PIN protects: the page, frames and status (the script and style sheets hold nothing
        /// about the screen).
        var isProtected: Bool {
            switch self {
            case .asset(let asset): asset.contentType.hasPrefix("text/html")
            case .frame, .status: true
            }
        }
    }

    /// Nil when the request may go on: the share is open, or the viewer has a session and no PIN in the
    /// address. Otherwise the answer: the PIN page, a redirect with the session cookie, or a 401 or 429.
    private func checkAccess(_ request: Request, query: QueryParameters, context: Context) -> Response? {
        let isPage = request.uri.path == "/" || request.uri.path == "/index.html"
        guard let lock else {
            // An open share: a PIN in the address (an old link) is dropped all the same.
            return isPage && query.pin != nil ? Self.redirectToPage(setCookie: nil) : nil
        }
        if lock.hasSession(cookieHeader: request.headers[.cookie]) {
            return isPage && query.pin != nil ? Self.redirectToPage(setCookie: nil) : nil
        }
        guard isPage else {
            var response = Self.plain(
                .unauthorized,
                "This share is locked with a PIN. Open / in a browser and enter it; with curl, get a session "
                    + "first: curl -c jar 'http://HOST:PORT/?pin=PIN', then curl -b jar http://HOST:PORT"
                    + "\(request.uri.path)\n"
            )
            response.headers[.wwwAuthenticate] = Self.pinChallenge
            return response
        }
        guard let candidate = query.pin else { return pinPage(.unauthorized, problem: nil) }
        switch lock.attempt(candidate, from: context.clientAddress) {
        case .accepted(let setCookie):
            return Self.redirectToPage(setCookie: setCookie)
        case .wrong(let remaining):
            context.logger.warning("Wrong PIN", metadata: ["address": "\(context.clientAddress)"])
            return pinPage(
                .unauthorized,
                problem: "Wrong PIN. Try again (\(remaining) more \(remaining == 1 ? "try" : "tries") before a wait)."
            )
        case .limited(let seconds):
            context.logger.warning(
                "Too many wrong PINs; waiting",
                metadata: ["address": "\(context.clientAddress)", "seconds": "\(seconds)"]
            )
            var response = pinPage(
                .tooManyRequests,
                problem: "Too many wrong PINs from your address. Try again in \(seconds) s."
            )
            response.headers[.retryAfter] = String(seconds)
            return response
        }
    }

    /// The scheme named in 401 answers: not a standard one, so browsers show the page instead of a dialog.
    static let pinChallenge = #"PIN realm="share""#

    private func pinPage(_ status: HTTPResponse.Status, problem: String?) -> Response {
        let digitsOnly = lock?.pin.utf8.allSatisfy { (0x30...0x39).contains($0) } ?? true
        let html = PINPage.html(name: name, host: host, problem: problem, digitsOnly: digitsOnly)
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = PINPage.contentSecurityPolicy
        headers[.cacheControl] = CachePolicy.never
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        headers[.wwwAuthenticate] = Self.pinChallenge
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// 303 to `/`, which takes the PIN out of the address bar and the history.
    private static func redirectToPage(setCookie: String?) -> Response {
        var headers = HTTPFields()
        headers[.location] = "/"
        headers[.cacheControl] = CachePolicy.never
        headers[.referrerPolicy] = "no-referrer"
        headers[.contentLength] = "0"
        if let setCookie { headers[.setCookie] = setCookie }
        return Response(status: .seeOther, headers: headers, body: .init())
    }

    /// `GET /status`: `{"state":"live"}` or `{"state":"ended"}`. With `?wait=S` (at most 30) the answer waits
    /// until the share ends or S seconds pass, so a viewer learns of the end at once without polling.
    private func status(_ request: Request, wait: Double?) async -> Response {
        var ended = state.hasEnded
        if !ended, request.method == .get, let wait {
            // Clamped before converting: a huge `wait` (1e18) would not fit in Int64 milliseconds.
            let seconds = min(wait, Double(Self.longestStatusWait.components.seconds))
            let limit = Duration.milliseconds(Int64(seconds * 1000))
            ended = await state.waitForEnd(timeout: limit)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = CachePolicy.never
        headers[.xContentTypeOptions] = "nosniff"
        let body = ended ? #"{"state":"ended"}"# : #"{"state":"live"}"#
        headers[.contentLength] = String(body.utf8.count)
        if request.method == .head { return Response(status: .ok, headers: headers, body: .init()) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// What `/screen.png` answers once the presenter stopped sharing.
    private static func ended() -> Response {
        plain(.gone, "The presenter stopped sharing.\n")
    }

    /// A 200 with the body, or a 304 when `If-None-Match` names the current tag; HEAD gets the headers only.
    private static func validated(
        _ request: Request,
        etag: String,
        lastModified: Date?,
        body: ByteBuffer,
        cacheControl: String
    ) -> Response {
        let (status, headers, body) = validated(
            method: request.method,
            ifNoneMatch: request.headers[.ifNoneMatch],
            etag: etag,
            lastModified: lastModified,
            body: body,
            cacheControl: cacheControl
        )
        return Response(status: status, headers: headers, body: body.map { .init(byteBuffer: $0) } ?? .init())
    }

    /// The status, headers and body (nil for none) of `validated(_:etag:lastModified:body:cacheControl:)`.
    private static func validated(
        method: HTTPRequest.Method,
        ifNoneMatch: String?,
        etag: String,
        lastModified: Date?,
        body: ByteBuffer,
        cacheControl: String
    ) -> (HTTPResponse.Status, HTTPFields, ByteBuffer?) {
        var headers = HTTPFields()
        headers[.eTag] = etag
        headers[.cacheControl] = cacheControl
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        if let lastModified {
            headers[.lastModified] = HTTPDate.string(secondsSince1970: lastModified.timeIntervalSince1970)
        }
        if let ifNoneMatch, Self.matches(ifNoneMatch, etag: etag) {
            return (.notModified, headers, nil)
        }
        headers[.contentLength] = String(body.readableBytes)
        return (.ok, headers, method == .head ? nil : body)
    }

    /// The answer to a request for the latest frame when it can be given at once, from the event loop: a `GET`
    /// (or, with `isHead`, a `HEAD`) of `/screen.png` without a query, with a fresh frame in the store (no capture
    /// to wait for), from a viewer the share lets in (`cookie`: the request's `Cookie` header), while it lasts.
    /// Nil when `respond(to:context:)` must answer. The answer is the one `respond(to:context:)` gives: its
    /// headers are made once per frame by the same function. The viewer is noted as `respond(to:context:)` notes
    /// it, unless `notingViewer` is false (the caller noted the same viewer a moment ago).
    package func freshFrameAnswer(
        isHead: Bool,
        cookie: String?,
        ifNoneMatch: String?,
        userAgent: @autoclosure () -> String?,
        clientAddress: String,
        notingViewer: Bool = true
    ) -> FreshFrameAnswer? {
        guard !state.hasEnded, let frame = frames.freshFrame() else { return nil }
        if let lock, !lock.hasSession(cookieHeader: cookie) { return nil }
        if notingViewer { viewers?.saw(address: clientAddress, userAgent: userAgent()) }
        let headers = frameHeaders.headers(for: frame) { frame in
            func fields(ifNoneMatch: String?) -> HTTPFields {
                var (_, headers, _) = Self.validated(
                    method: .get,
                    ifNoneMatch: ifNoneMatch,
                    etag: frame.etag,
                    lastModified: frame.changedAt,
                    body: frame.png,
                    cacheControl: cachePolicy.content
                )
                headers[.contentType] = "image/png"
                return headers
            }
            return (ok: fields(ifNoneMatch: nil), notModified: fields(ifNoneMatch: frame.etag))
        }
        if let ifNoneMatch, Self.matches(ifNoneMatch, etag: frame.etag) {
            return FreshFrameAnswer(status: .notModified, headers: headers.notModified, body: nil, frame: frame)
        }
        return FreshFrameAnswer(status: .ok, headers: headers.ok, body: isHead ? nil : frame.png, frame: frame)
    }

    /// RFC 9110 If-None-Match: a list of tags, or "*"; compared weakly, as GET and HEAD allow.
    static func matches(_ header: String, etag: String) -> Bool {
        let ours = etag.hasPrefix("W/") ? etag.utf8.dropFirst(2) : etag.utf8[...]
        // On UTF-8 bytes, without Foundation: viewers send this header on every poll.
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        for candidate in header.utf8.split(separator: UInt8(ascii: ",")) {
            var tag = candidate.drop(while: isSpace)
            while let last = tag.last, isSpace(last) { tag = tag.dropLast() }
            if tag.elementsEqual("*".utf8) { return true }
            if tag.starts(with: "W/".utf8) { tag = tag.dropFirst(2) }
            if tag.elementsEqual(ours) { return true }
        }
        return false
    }

    private static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = CachePolicy.never
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Logs a failing capture once, not once per viewer and poll (a minimised `--window` fails every capture until
/// it comes back), and says when captures work again.
private final class CaptureProblemLog: Sendable {
    private let last = Mutex<String?>(nil)
    /// Whether `last` holds a problem: read without the lock on every frame served, which is the common case.
    private let failing = Atomic<Bool>(false)

    func failed(with problem: String, logger: Logger) {
        let isNew = last.withLock { last in
            defer {
                last = problem
                failing.store(true, ordering: .relaxed)
            }
            return last != problem
        }
        if isNew {
            logger.error("Capture failed; viewers get 503 until it works again", metadata: ["error": "\(problem)"])
        }
    }

    func recovered(logger: Logger) {
        guard failing.load(ordering: .relaxed) else { return }
        let wasFailing = last.withLock { last in
            defer {
                last = nil
                failing.store(false, ordering: .relaxed)
            }
            return last != nil
        }
        if wasFailing { logger.notice("Capture works again") }
    }
}

/// What `ShareResponder.freshFrameAnswer` answers: status, headers and body, and the frame they are of.
package struct FreshFrameAnswer {
    package let status: HTTPResponse.Status
    package let headers: HTTPFields
    package let body: ByteBuffer?
    package let frame: EncodedFrame
}

/// The headers of the answers for the latest frame, 200 and 304, made once per frame instead of once per request.
private final class FrameHeaderCache: Sendable {
    private struct Entry {
        let etag: String
        let changedAt: Date
        let headers: (ok: HTTPFields, notModified: HTTPFields)
    }

    private let latest = Mutex<Entry?>(nil)

    /// The headers for `frame`, made by `make` when they are not those of the last frame asked for.
    func headers(
        for frame: EncodedFrame,
        make: (EncodedFrame) -> (ok: HTTPFields, notModified: HTTPFields)
    ) -> (ok: HTTPFields, notModified: HTTPFields) {
        // Same pixels shown again later keep their tag but not their Last-Modified: both must match.
        if let entry = latest.withLock({ $0 }), entry.etag == frame.etag, entry.changedAt == frame.changedAt {
            return entry.headers
        }
        let headers = make(frame)
        latest.withLock { $0 = Entry(etag: frame.etag, changedAt: frame.changedAt, headers: headers) }
        return headers
    }
}

/// A fixed response body with its content type and a strong ETag derived from its bytes.
private final class StaticAsset: Sendable {
    let body: ByteBuffer
    let contentType: String
    let etag: String

    init(text: String, contentType: String) {
        let bytes = Array(text.utf8)
        self.body = ByteBuffer(bytes: bytes)
        self.contentType = contentType
        let digest = bytes.withUnsafeBytes { FrameDigest.digest(of: $0) }
        self.etag = "\"\(String(digest, radix: 16))\""
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}

/// The request context of a share: Hummingbird's basics plus the client's address, for the guess limit and the
/// viewer log.
package struct ShareRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    /// The client's IP address as the socket says (behind a reverse proxy, the proxy's).
    package let clientAddress: String

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
