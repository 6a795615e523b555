import Foundation
import HTTPTypes
package import Hummingbird
import Logging
import NIOCore

/// Answers every HTTP request of a share: the viewer page, its assets and the latest frame.
///
/// Only GET and HEAD on the known paths; any other path is a 404 and any other method a 405.
package struct ShareResponder: HTTPResponder {
    package typealias Context = BasicRequestContext

    private let frames: FrameStore
    private let scaledFrames: ScaledFrameStore
    private let state: ShareState
    private let page: StaticAsset
    private let script: StaticAsset
    private let styleSheet: StaticAsset

    /// The policy for the page: our own script, style and images only; frames arrive as blob: URLs.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// The longest a viewer's `GET /status?wait=S` is held open.
    static let longestStatusWait: Duration = .seconds(30)

    /// - Parameter scaledFrames: the copies for `/screen.png?width=N`; by default made from `frames`.
    package init(frames: FrameStore, page: ViewerPage, state: ShareState, scaledFrames: ScaledFrameStore? = nil) {
        self.frames = frames
        self.scaledFrames = scaledFrames ?? ScaledFrameStore(frames: frames)
        self.state = state
        self.page = StaticAsset(text: page.html, contentType: "text/html; charset=utf-8")
        self.script = StaticAsset(text: ViewerPage.script, contentType: "text/javascript; charset=utf-8")
        self.styleSheet = StaticAsset(text: ViewerPage.styleSheet, contentType: "text/css; charset=utf-8")
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
        switch resource {
        case .asset(let asset):
            var response = Self.validated(request, etag: asset.etag, lastModified: nil, body: asset.body)
            response.headers[.contentType] = asset.contentType
            if asset === page {
                response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
            }
            return response
        case .status:
            return await status(request)
        case .frame:
            if state.hasEnded { return Self.ended() }
            let width: Int?
            switch Self.requestedWidth(request) {
            case .success(let requested): width = requested
            case .failure(let problem): return Self.plain(.badRequest, problem.description + "\n")
            }
            let frame: EncodedFrame
            do {
                if let width {
                    frame = try await scaledFrames.frame(width: width)
                } else {
                    frame = try await frames.currentFrame()
                }
            } catch {
                context.logger.error("Capture failed", metadata: ["error": "\(error)"])
                var response = Self.plain(.serviceUnavailable, "The screen could not be captured: \(error)\n")
                response.headers[.retryAfter] = "1"
                return response
            }
            var response = Self.validated(
                request,
                etag: frame.etag,
                lastModified: frame.changedAt,
                body: frame.png
            )
            response.headers[.contentType] = "image/png"
            return response
        }
    }

    private enum Resource {
        case asset(StaticAsset)
        case frame
        case status
    }

    /// `GET /status`: `{"state":"live"}` or `{"state":"ended"}`. With `?wait=S` (at most 30) the answer waits
    /// until the share ends or S seconds pass, so a viewer learns of the end at once without polling.
    private func status(_ request: Request) async -> Response {
        var ended = state.hasEnded
        if !ended, request.method == .get, let wait = request.uri.queryParameters.get("wait", as: Double.self) {
            guard wait.isFinite, wait >= 0 else {
                return Self.plain(.badRequest, "wait must be a number of seconds from 0 to 30.\n")
            }
            let limit = min(Duration.milliseconds(Int64(wait * 1000)), Self.longestStatusWait)
            ended = await state.waitForEnd(timeout: limit)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        let body = ended ? #"{"state":"ended"}"# : #"{"state":"live"}"#
        headers[.contentLength] = String(body.utf8.count)
        if request.method == .head { return Response(status: .ok, headers: headers, body: .init()) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The `width` query parameter of `/screen.png`: nil when absent, an error saying what is allowed when it
    /// is not a whole number from 1 to `ScaledFrameStore.widthLimit`.
    static func requestedWidth(_ request: Request) -> Result<Int?, ShareError> {
        guard let text = request.uri.queryParameters["width"].map(String.init) else { return .success(nil) }
        if text.utf8.count <= 6, text.utf8.allSatisfy({ (48...57).contains($0) }), let width = Int(text),
            (1...ScaledFrameStore.widthLimit).contains(width)
        {
            return .success(width)
        }
        let widths = ScaledFrameStore.standardWidths.map(String.init).joined(separator: ", ")
        return .failure(
            ShareError(
                "width must be a whole number of pixels from 1 to \(ScaledFrameStore.widthLimit); got '\(text)'. "
                    + "The picture is sent at the smallest of \(widths) that is at least that wide, or at full size."
            )
        )
    }

    /// What `/screen.png` answers once the presenter stopped sharing.
    private static func ended() -> Response {
        plain(.gone, "The presenter stopped sharing.\n")
    }

    /// A 200 with the body, or a 304 when `If-None-Match` names the current tag; HEAD gets the headers only.
    private static func validated(_ request: Request, etag: String, lastModified: Date?, body: ByteBuffer) -> Response {
        var headers = HTTPFields()
        headers[.eTag] = etag
        headers[.cacheControl] = "no-cache"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        if let lastModified {
            headers[.lastModified] = HTTPDate.string(secondsSince1970: lastModified.timeIntervalSince1970)
        }
        if let ifNoneMatch = request.headers[.ifNoneMatch], Self.matches(ifNoneMatch, etag: etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(body.readableBytes)
        if request.method == .head {
            return Response(status: .ok, headers: headers, body: .init())
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// RFC 9110 If-None-Match: a list of tags, or "*"; compared weakly, as GET and HEAD allow.
    static func matches(_ header: String, etag: String) -> Bool {
        let ours = etag.hasPrefix("W/") ? String(etag.dropFirst(2)) : etag
        for candidate in header.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag == ours { return true }
        }
        return false
    }

    private static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
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
