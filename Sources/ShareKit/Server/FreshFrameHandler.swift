import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Whether a share answers fresh frames from the event loop (`FreshFrameHandler`), and how many it answered
/// there: for tests, which also serve without it to compare the answers.
package final class FreshFramePath: Sendable {
    package let isEnabled: Bool
    private let count = Atomic<Int>(0)

    package init(isEnabled: Bool = true) {
        self.isEnabled = isEnabled
    }

    /// Requests answered from the event loop so far.
    package var answered: Int { count.load(ordering: .relaxed) }

    fileprivate func noteAnswer() { count.wrappingAdd(1, ordering: .relaxed) }
}

/// What `FreshFrameHandler` needs from the share: the answers it may give at once, with the headers Hummingbird
/// adds to every answer (`Date`, and `Server` with its name), encoded as HTTP/1.1 bytes once per frame and second.
package struct FreshFrameAnswers: Sendable {
    let responder: ShareResponder
    let serverName: String?
    let path: FreshFramePath
    private let heads = EncodedHeads()

    package init(responder: ShareResponder, serverName: String?, path: FreshFramePath) {
        self.responder = responder
        self.serverName = serverName
        self.path = path
    }

    /// The encoded response head and the body for `request`, or nil when Hummingbird must answer it.
    func answer(
        to request: RequestHead,
        in bytes: UnsafeRawBufferPointer,
        clientAddress: String,
        notingViewer: Bool
    ) -> (head: ByteBuffer, body: ByteBuffer?)? {
        guard
            let answer = responder.freshFrameAnswer(
                isHead: request.method == .head,
                cookie: request.cookie.string(in: bytes, separator: "; "),
                ifNoneMatch: request.ifNoneMatch.string(in: bytes, separator: ", "),
                userAgent: request.userAgent.string(in: bytes, separator: ", "),
                clientAddress: clientAddress,
                notingViewer: notingViewer
            )
        else { return nil }
        path.noteAnswer()
        return (heads.head(of: answer, serverName: serverName), answer.body)
    }
}

/// The response heads of the latest frame's answers (200 and 304), encoded once per frame and per second (the
/// `Date` header) instead of once per request, and shared by every connection.
private final class EncodedHeads: Sendable {
    private struct Key: Equatable {
        let etag: String
        let changedAt: Date
        let second: Int
    }

    private let latest = Mutex<(key: Key, ok: ByteBuffer?, notModified: ByteBuffer?)?>(nil)

    func head(of answer: FreshFrameAnswer, serverName: String?) -> ByteBuffer {
        let date = HTTPDate.current()
        let key = Key(etag: answer.frame.etag, changedAt: answer.frame.changedAt, second: date.second)
        let isOK = answer.status == .ok
        if let cached = latest.withLock({ entry -> ByteBuffer? in
            guard let entry, entry.key == key else { return nil }
            return isOK ? entry.ok : entry.notModified
        }) {
            return cached
        }
        let head = Self.encode(answer.status, answer.headers, date: date.text, serverName: serverName)
        latest.withLock { entry in
            if entry?.key != key { entry = (key, nil, nil) }
            if isOK { entry?.ok = head } else { entry?.notModified = head }
        }
        return head
    }

    /// The status line and header lines as NIO's response encoder writes them for Hummingbird, `Date` and
    /// `Server` last, as Hummingbird adds them.
    private static func encode(
        _ status: HTTPResponse.Status,
        _ headers: HTTPFields,
        date: String,
        serverName: String?
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(512)
        buffer.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        func line(_ name: String, _ value: String) {
            buffer.writeString(name)
            buffer.writeString(": ")
            buffer.writeString(value)
            buffer.writeString("\r\n")
        }
        for field in headers where field.name != .date && field.name != .server {
            line(field.name.rawName, field.value)
        }
        line(HTTPField.Name.date.rawName, date)
        if let serverName { line(HTTPField.Name.server.rawName, serverName) }
        buffer.writeString("\r\n")
        return buffer
    }
}

/// Answers requests for a fresh frame straight from the event loop, from the request's bytes, ahead of NIO's HTTP
/// decoder and Hummingbird.
///
/// Between two captures every viewer gets the same cached frame. Handing each such request to Hummingbird costs
/// NIO's decoder, two conversions of the head (to NIO's and to Swift HTTP Types), the response encoder, a task
/// wake-up, an async request body and response writer: most of share's CPU per response, several times the
/// kernel's for a 304. This handler sits between `RequestGuard` (whose limits and timeouts so hold for every
/// request) and the decoder. It reads each request head itself; a `GET` or `HEAD` of `/screen.png` over
/// HTTP/1.1, with no body, `Expect` or `Connection` other than keep-alive, gets what
/// `ShareResponder.freshFrameAnswer` answers (the same answer `ShareResponder` would give, its head encoded once
/// per frame and second), written as bytes below the response encoder. Every other request's bytes go on to the
/// decoder and Hummingbird as before.
///
/// Answers keep the order of the requests: while a request handed on is unanswered, later ones are handed on
/// too. A request with `Connection` other than keep-alive is handed on, so Hummingbird closes after answering it
/// if asked, and so is every request after it; a chunked body or a head this handler does not follow hands on
/// the rest of the connection. While the channel is unwritable (a client that does not read its answers)
/// requests are handed on, so Hummingbird's writer applies its backpressure and reading stops. The writability
/// changes of its own writes (an answer larger than the high watermark, flushed at once) are not passed on
/// unless they last. When the client closes its side after its requests, Hummingbird hears of it only once
/// every answer due is written, since it closes the whole connection when it hears; Hummingbird's own closes
/// (after `Connection: close`, on graceful shutdown) wait for the answers too. Runs on the channel's event loop.
final class FreshFrameHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let answers: FreshFrameAnswers
    private let logger: Logger
    /// The response encoder's context: answers are written from it, as bytes that go straight to the socket.
    private var encoder: ChannelHandlerContext?
    /// The client's IP address, as `ShareRequestContext` gives it; read once per connection.
    private var clientAddress: String?
    /// The start of a request whose head has not arrived whole, kept until the rest comes (`RequestGuard`, before
    /// this handler, bounds its size and time).
    private var partial: ByteBuffer?
    /// Body bytes of the request handed on last still to come; they go on with it.
    private var bodyRemaining = 0
    /// A body this handler does not frame (chunked) or a head it does not follow was handed on: so is the rest.
    private var handingOnEverything = false
    /// Requests handed on to Hummingbird whose answers have not ended yet.
    private var handedOn = 0
    /// Set once a request asked for anything but keep-alive, or Hummingbird closes: later requests go on too.
    private var closing = false
    /// Completed when the last answer, this handler's or Hummingbird's, has gone to the socket.
    private var lastAnswer: EventLoopFuture<Void>?
    /// The client closed its side while an answer was still due: Hummingbird is told once it is written.
    private var inputClosedHeld = false
    /// True while this handler writes answers: the writability changes they cause are held back.
    private var writingAnswers = false
    /// The writability the handlers after this one were last told of.
    private var toldWritable = true
    /// The user agent this connection's viewer was last noted with (`ViewerLog`), and when: the same viewer is
    /// noted again at most once a second, which is all the viewer log needs (it counts viewers over 30 s).
    private var noted: (userAgent: String?, at: ContinuousClock.Instant)?
    private static let notingInterval = Duration.seconds(1)

    init(answers: FreshFrameAnswers, logger: Logger) {
        self.answers = answers
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        toldWritable = context.channel.isWritable
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        encoder = nil
    }

    // MARK: Requests in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !handingOnEverything, encoder != nil else {
            context.fireChannelRead(data)
            return
        }
        var buffer = unwrapInboundIn(data)
        if var kept = partial {
            partial = nil
            kept.writeBuffer(&buffer)
            buffer = kept
        }
        var answered = false
        while buffer.readableBytes > 0 {
            if bodyRemaining > 0 {
                let count = min(bodyRemaining, buffer.readableBytes)
                bodyRemaining -= count
                context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: count)!))
                continue
            }
            let step = buffer.withUnsafeReadableBytes { bytes -> (RequestHead, answer: (ByteBuffer, ByteBuffer?)?)? in
                guard let request = RequestHead(parsing: bytes) else { return nil }
                return (request, answerIfFresh(request, in: bytes, context: context))
            }
            guard let (request, answer) = step else {
                // The head has not arrived whole: wait for the rest (RequestGuard times out a client that stalls).
                partial = buffer
                break
            }
            let head = buffer.readSlice(length: request.length)!
            if let (answerHead, answerBody) = answer {
                write(answerHead, answerBody, context: context)
                answered = true
            } else {
                handOn(head, request, context: context)
                if handingOnEverything {
                    if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
                    break
                }
            }
        }
        if answered { flushAnswers(context: context) }
    }

    /// The answer to `request` when this handler may give it now, or nil to hand the request on.
    private func answerIfFresh(
        _ request: RequestHead,
        in bytes: UnsafeRawBufferPointer,
        context: ChannelHandlerContext
    ) -> (ByteBuffer, ByteBuffer?)? {
        guard handedOn == 0, !closing, request.isFreshFrameCandidate, context.channel.isWritable else { return nil }
        let now = ContinuousClock.now
        let userAgent = request.userAgent.string(in: bytes, separator: ", ")
        let notingViewer = noted.map { $0.userAgent != userAgent || now - $0.at >= Self.notingInterval } ?? true
        guard
            let answer = answers.answer(
                to: request,
                in: bytes,
                clientAddress: address(of: context.channel),
                notingViewer: notingViewer
            )
        else { return nil }
        if notingViewer { noted = (userAgent, now) }
        logger.debug(
            "Request",
            metadata: [
                "method": "\(request.method == .head ? "HEAD" : "GET")", "path": "/screen.png", "answered": "at once",
            ]
        )
        return answer
    }

    /// Passes a request's head on to the decoder, and notes what follows it.
    private func handOn(_ head: ByteBuffer, _ request: RequestHead, context: ChannelHandlerContext) {
        handedOn += 1
        if !request.keepsAlive { closing = true }
        switch request.body {
        case .length(let length): bodyRemaining = length
        case .unframed: handingOnEverything = true
        }
        context.fireChannelRead(wrapInboundOut(head))
    }

    // MARK: Answers out

    private func write(_ head: ByteBuffer, _ body: ByteBuffer?, context: ChannelHandlerContext) {
        guard let encoder else { return }
        writingAnswers = true
        let written = context.eventLoop.makePromise(of: Void.self)
        if let body {
            encoder.write(NIOAny(head), promise: nil)
            encoder.write(NIOAny(body), promise: written)
        } else {
            encoder.write(NIOAny(head), promise: written)
        }
        lastAnswer = written.futureResult
        // The guard counts answered requests, to write a refusal only after them, and for its idle timeout.
        context.triggerUserOutboundEvent(RequestGuard.AnswerWritten(), promise: nil)
    }

    private func flushAnswers(context: ChannelHandlerContext) {
        encoder?.flush()
        writingAnswers = false
        if context.channel.isWritable != toldWritable { tellWritability(context: context) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // An answer above the high watermark makes the channel unwritable until the flush that follows it has
        // written it, which is at once unless the client reads slowly: only a change that lasts is passed on.
        guard !writingAnswers else { return }
        tellWritability(context: context)
    }

    private func tellWritability(context: ChannelHandlerContext) {
        toldWritable = context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Hummingbird's answers: counted, and the last one's completion kept, like this handler's own.
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // Never below zero: Hummingbird answers a request it could not parse (400) without one handed on.
        handedOn = max(0, handedOn - 1)
        let written = context.eventLoop.makePromise(of: Void.self)
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(data, promise: written)
        lastAnswer = written.futureResult
        if handedOn == 0, inputClosedHeld { releaseInputClosed(context: context) }
    }

    // MARK: Closing

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let closed = event as? ChannelEvent, closed == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The client closed its side. Hummingbird would close the whole connection on hearing it, failing
        // answers still being written: it hears once they are out. The start of a request cut short goes on to
        // the decoder first; a handed-on request cut short in its body is not waited for (its answer may need
        // the rest).
        if let partial {
            self.partial = nil
            context.fireChannelRead(wrapInboundOut(partial))
        }
        inputClosedHeld = true
        if handedOn == 0 || bodyRemaining > 0 || handingOnEverything { releaseInputClosed(context: context) }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // Hummingbird closes its side after a `Connection: close` answer, and the whole connection on graceful
        // shutdown when it has no request of its own in progress. Either would drop what is still queued of an
        // answer (NIO fails pending writes on a full close, and turns a half-close into one when the client has
        // closed its side): close once it is written. A client that reads nothing is closed by the guard.
        closing = true
        guard mode != .input, let lastAnswer else {
            context.close(mode: mode, promise: promise)
            return
        }
        lastAnswer.assumeIsolated().whenComplete { _ in context.close(mode: mode, promise: promise) }
    }

    private func releaseInputClosed(context: ChannelHandlerContext) {
        inputClosedHeld = false
        guard let lastAnswer else {
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            return
        }
        lastAnswer.assumeIsolated().whenComplete { _ in
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

    private func address(of channel: any Channel) -> String {
        if let clientAddress { return clientAddress }
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        clientAddress = address
        return address
    }
}

/// A request head read from its bytes: only what `FreshFrameHandler` needs to choose, answer and frame it.
struct RequestHead {
    enum Method { case get, head, other }

    /// How the request's body is framed.
    enum Body: Equatable {
        /// None (`length` 0), or a `Content-Length` body.
        case length(Int)
        /// Chunked, or framing this reader does not follow: the decoder takes it from here.
        case unframed
    }

    /// Where a header's value is in the request's bytes; a header sent on several lines has several.
    struct Values {
        fileprivate var ranges: [Range<Int>] = []

        /// The value, several joined by `separator` as Swift HTTP Types joins them; nil when the header is absent.
        func string(in bytes: UnsafeRawBufferPointer, separator: String) -> String? {
            switch ranges.count {
            case 0: nil
            case 1: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[ranges[0]]), as: UTF8.self)
            default:
                ranges.map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self) }
                    .joined(separator: separator)
            }
        }
    }

    /// The head's bytes, empty lines before it included.
    private(set) var length = 0
    private(set) var method = Method.other
    private(set) var isScreenPNG = false
    private(set) var isHTTP11 = false
    private(set) var body = Body.length(0)
    private(set) var hasExpect = false
    /// `Connection` absent or keep-alive.
    private(set) var keepsAlive = true
    private(set) var cookie = Values()
    private(set) var ifNoneMatch = Values()
    private(set) var userAgent = Values()

    /// Whether the request may get a fresh frame from the event loop, before asking the share.
    var isFreshFrameCandidate: Bool {
        method != .other && isScreenPNG && isHTTP11 && body == .length(0) && !hasExpect && keepsAlive
    }

    /// Reads the head at the start of `bytes`: nil when it has not arrived whole (no empty line yet). Lines end
    /// with CRLF; a line ending in LF alone, which NIO's decoder refuses, ends the head there as one this reader
    /// does not follow. Empty lines before the request line are skipped, as the decoder skips them.
    init?(parsing bytes: UnsafeRawBufferPointer) {
        let lineFeed = UInt8(ascii: "\n")
        let carriageReturn = UInt8(ascii: "\r")
        var start = 0
        while start < bytes.count, bytes[start] == lineFeed || bytes[start] == carriageReturn { start += 1 }
        var lineStart = start
        var isRequestLine = true
        var contentLength: Int?
        while let end = bytes[lineStart...].firstIndex(of: lineFeed) {
            guard end > lineStart, bytes[end - 1] == carriageReturn else {
                length = end + 1
                body = .unframed
                return
            }
            let line = lineStart..<(end - 1)
            lineStart = end + 1
            if line.isEmpty {
                length = lineStart
                if body == .length(0), let contentLength { body = .length(contentLength) }
                return
            }
            if isRequestLine {
                readRequestLine(bytes, line)
                isRequestLine = false
            } else if !readHeaderLine(bytes, line, contentLength: &contentLength) {
                body = .unframed
            }
        }
        return nil
    }

    private mutating func readRequestLine(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) {
        let text = bytes[line]
        guard let firstSpace = text.firstIndex(of: UInt8(ascii: " ")),
            let secondSpace = text[(firstSpace + 1)...].firstIndex(of: UInt8(ascii: " "))
        else { return }
        let verb = text[..<firstSpace]
        method = verb.elementsEqual("GET".utf8) ? .get : verb.elementsEqual("HEAD".utf8) ? .head : .other
        isScreenPNG = text[(firstSpace + 1)..<secondSpace].elementsEqual("/screen.png".utf8)
        isHTTP11 = text[(secondSpace + 1)...].elementsEqual("HTTP/1.1".utf8)
    }

    /// Notes the header on `line`; false for a line this reader does not follow (no colon, folded onto the line
    /// before, a name that is not a token, a control character in the value), or for a `Content-Length` it
    /// cannot take as the decoder would: NIO's decoder refuses most of these, and decides.
    private mutating func readHeaderLine(
        _ bytes: UnsafeRawBufferPointer,
        _ line: Range<Int>,
        contentLength: inout Int?
    ) -> Bool {
        let first = bytes[line.lowerBound]
        guard first != UInt8(ascii: " "), first != UInt8(ascii: "\t"),
            let colon = bytes[line].firstIndex(of: UInt8(ascii: ":"))
        else { return false }
        var valueStart = colon + 1
        var valueEnd = line.upperBound
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        while valueStart < valueEnd, isSpace(bytes[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart, isSpace(bytes[valueEnd - 1]) { valueEnd -= 1 }
        let name = bytes[line.lowerBound..<colon]
        let value = valueStart..<valueEnd
        guard !name.isEmpty, name.allSatisfy(Self.isTokenByte),
            bytes[value].allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == UInt8(ascii: "\t") })
        else { return false }
        switch name.count {
        case 6 where Self.spells(name, "cookie"): cookie.ranges.append(value)
        case 6 where Self.spells(name, "expect"): hasExpect = true
        case 10 where Self.spells(name, "connection"):
            keepsAlive = keepsAlive && Self.spells(bytes[value], "keep-alive")
        case 10 where Self.spells(name, "user-agent"): userAgent.ranges.append(value)
        case 13 where Self.spells(name, "if-none-match"): ifNoneMatch.ranges.append(value)
        case 14 where Self.spells(name, "content-length"):
            let digits = bytes[value]
            guard !digits.isEmpty, digits.count <= 9,
                digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            else { return false }
            let length = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard contentLength == nil || contentLength == length else { return false }
            contentLength = length
        case 17 where Self.spells(name, "transfer-encoding"): return false
        default: break
        }
        return true
    }

    /// RFC 9110's tchar: what a header name is made of.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"),
            UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
            UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// Whether `bytes` spell `lowercase`, ASCII letters in either case.
    private static func spells(_ bytes: Slice<UnsafeRawBufferPointer>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in
                ((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte) == wanted
            }
        }
    }
}
