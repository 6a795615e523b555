import NIOCore
import NIOHTTP1

/// Reads the raw bytes of each request before NIO's decoder does and refuses requests that break
/// `ConnectionLimits`: 414 for a long request line, 431 for large headers, 413 for a large body, and 408 when a
/// request does not arrive whole within `requestTimeout` (slowloris). A connection whose answers stay unread for
/// `sendStallTimeout` (its send buffer full) is closed, and so is one with no request for `idleTimeout` after its
/// last answer. It follows Content-Length and chunked bodies, so it knows where the next pipelined request starts.
///
/// It sits between the response encoder and the request decoder, so it sees bytes coming in and response parts
/// going out. It counts the requests it handed on and the responses that finished (`FreshFrameHandler`, after it,
/// writes its answers below the encoder and tells it with an `AnswerWritten` event), so a refusal is written only
/// after the answers to earlier pipelined requests, never in the middle of one. After a refusal it reads no more
/// requests: it closes its side for writing and discards what still arrives for a moment, so that the client
/// reads the answer instead of a connection reset, then closes. Runs on the channel's event loop only.
///
/// Its three timeouts are deadlines checked by one lazy timer each: starting or ending a request, or the channel
/// turning unwritable and writable again (once per large answer), only moves a deadline. A timer is scheduled
/// when none is pending, and when it fires early (its deadline moved) it is scheduled again for the new one, so
/// a busy connection schedules about one timer per timeout instead of one per request.
final class RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Phase {
        /// Before or in a request line; `bytes` of it read so far (empty lines before it are skipped).
        case requestLine(bytes: Int)
        /// In the header lines.
        case headers(bytes: Int, lines: Int)
        /// In a request body, with this many bytes still to come.
        case body(remaining: Int)
        /// In a chunked body: a chunk-size line (hexadecimal, then extensions after ";").
        case chunkSize(size: Int, inExtension: Bool)
        /// In a chunk's data, with this many bytes still to come.
        case chunkData(remaining: Int)
        /// After a chunk's data, until its line ends.
        case chunkDataEnd
        /// After the last chunk: trailer lines until an empty one.
        case trailers(lineIsEmpty: Bool)
        /// A refusal is due or sent: nothing more is read.
        case refused
    }

    /// Sent as an outbound user event by a handler after this one that wrote a whole answer itself, below the
    /// response encoder: counted as a finished response.
    struct AnswerWritten {}

    /// Why a request is refused, and what the client is told.
    struct Refusal: Equatable {
        let status: HTTPResponseStatus
        let message: String
    }

    private let limits: ConnectionLimits
    private var phase = Phase.requestLine(bytes: 0)
    /// The start of the header line being read, up to `keptLineBytes`: enough to see Content-Length.
    private var line: [UInt8] = []
    private var contentLength = 0
    private var hasTransferEncoding = false
    /// Bytes of the current request's body so far, chunk framing included.
    private var bodyBytes = 0
    private var requestsHandedOn = 0
    private var responsesFinished = 0
    private var refusal: Refusal?
    private var refusalSent = false
    /// When the request being read (or the first request of a new connection) must have arrived whole.
    private let requestDeadline = LazyDeadline()
    /// When a connection whose answers stay unread is closed: set when the channel turns unwritable.
    private let stallDeadline = LazyDeadline()
    /// When a connection with no request in progress and every answer written is closed.
    private let idleDeadline = LazyDeadline()
    private var lingerTimer: Scheduled<Void>?
    private static let keptLineBytes = 64
    /// How long a refused connection still reads (and discards) before it closes.
    private static let linger: TimeAmount = .seconds(2)

    init(limits: ConnectionLimits) {
        self.limits = limits
        line.reserveCapacity(Self.keptLineBytes)
    }

    // MARK: Connection events

    func handlerAdded(context: ChannelHandlerContext) {
        // A new connection must send its first request within the request timeout too.
        if context.channel.isActive { startRequestTimer(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func channelActive(context: ChannelHandlerContext) {
        startRequestTimer(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Not writable: NIO holds more unsent answer bytes than its high watermark, because the client does not
        // read. A client that reads at all, however slowly, makes it writable again before the timeout.
        if context.channel.isWritable {
            stallDeadline.clear()
        } else {
            stallDeadline.start(in: limits.sendStallTimeout, on: context.eventLoop) { context.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .refused = phase, let event = event as? ChannelEvent, event == .inputClosed {
            // The client read the refusal and closed its side: nothing more to wait for.
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Requests in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .refused = phase { return }
        let buffer = unwrapInboundIn(data)
        var accepted = buffer.readableBytes
        buffer.withUnsafeReadableBytes { bytes in
            for index in bytes.indices {
                if let refusal = step(bytes[index], context: context) {
                    self.refusal = refusal
                    accepted = index
                    break
                }
            }
        }
        if accepted > 0, let handedOn = buffer.getSlice(at: buffer.readerIndex, length: accepted) {
            context.fireChannelRead(wrapInboundOut(handedOn))
        }
        if refusal != nil { refuse(context) }
    }

    /// Advances the request parser by one byte; a refusal when that byte breaks a limit.
    private func step(_ byte: UInt8, context: ChannelHandlerContext) -> Refusal? {
        let lineFeed: UInt8 = 0x0A
        let carriageReturn: UInt8 = 0x0D
        switch phase {
        case .requestLine(let bytes):
            if bytes == 0, byte == lineFeed || byte == carriageReturn { return nil }
            if bytes == 0 {
                idleDeadline.clear()
                startRequestTimer(context)
            }
            if byte == lineFeed {
                phase = .headers(bytes: 0, lines: 0)
                line.removeAll(keepingCapacity: true)
                contentLength = 0
                hasTransferEncoding = false
                return nil
            }
            guard bytes < limits.maximumRequestLineBytes else { return uriTooLong }
            phase = .requestLine(bytes: bytes + 1)
        case .headers(let bytes, let lines):
            guard bytes < limits.maximumHeaderBytes else { return headersTooLarge }
            if byte == lineFeed {
                if line.isEmpty { return headComplete() }
                guard lines < limits.maximumHeaderCount else { return headersTooLarge }
                inspectHeaderLine()
                line.removeAll(keepingCapacity: true)
                phase = .headers(bytes: bytes + 1, lines: lines + 1)
            } else {
                if byte != carriageReturn, line.count < Self.keptLineBytes { line.append(byte) }
                phase = .headers(bytes: bytes + 1, lines: lines)
            }
        case .body, .chunkSize, .chunkData, .chunkDataEnd, .trailers:
            bodyBytes += 1
            guard bodyBytes <= limits.maximumBodyBytes else { return bodyTooLarge }
            stepBody(byte)
        case .refused:
            break
        }
        return nil
    }

    /// One byte of a body: counted off a Content-Length, or through the chunked framing.
    private func stepBody(_ byte: UInt8) {
        let lineFeed: UInt8 = 0x0A
        let carriageReturn: UInt8 = 0x0D
        switch phase {
        case .body(let remaining):
            if remaining > 1 { phase = .body(remaining: remaining - 1) } else { requestComplete() }
        case .chunkSize(let size, let inExtension):
            if byte == lineFeed {
                phase = size == 0 ? .trailers(lineIsEmpty: true) : .chunkData(remaining: size)
            } else if byte == UInt8(ascii: ";") {
                phase = .chunkSize(size: size, inExtension: true)
            } else if !inExtension, let digit = Self.hexValue(byte), size <= limits.maximumBodyBytes {
                // Sizes beyond the limit stop growing: the byte count refuses the body before it matters.
                phase = .chunkSize(size: size * 16 + digit, inExtension: false)
            }
        case .chunkData(let remaining):
            phase = remaining > 1 ? .chunkData(remaining: remaining - 1) : .chunkDataEnd
        case .chunkDataEnd:
            if byte == lineFeed { phase = .chunkSize(size: 0, inExtension: false) }
        case .trailers(let lineIsEmpty):
            if byte == lineFeed {
                if lineIsEmpty { requestComplete() } else { phase = .trailers(lineIsEmpty: true) }
            } else if byte != carriageReturn {
                phase = .trailers(lineIsEmpty: false)
            }
        case .requestLine, .headers, .refused:
            break
        }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    /// The empty line after the headers: the head is whole.
    private func headComplete() -> Refusal? {
        if !hasTransferEncoding && contentLength > limits.maximumBodyBytes { return bodyTooLarge }
        requestsHandedOn += 1
        bodyBytes = 0
        if hasTransferEncoding {
            phase = .chunkSize(size: 0, inExtension: false)
        } else if contentLength > 0 {
            phase = .body(remaining: contentLength)
        } else {
            requestComplete()
        }
        return nil
    }

    private var bodyTooLarge: Refusal {
        Refusal(
            status: .payloadTooLarge,
            message: "share takes no uploads: a request body may be at most \(limits.maximumBodyBytes) bytes. "
                + "Only GET and HEAD are served.\n"
        )
    }

    private func requestComplete() {
        phase = .requestLine(bytes: 0)
        requestDeadline.clear()
    }

    /// Starts the idle timeout when no request is being read and every one has its answer.
    private func startIdleTimerIfIdle(_ context: ChannelHandlerContext) {
        guard case .requestLine(bytes: 0) = phase, requestsHandedOn == responsesFinished else { return }
        idleDeadline.start(in: limits.idleTimeout, on: context.eventLoop) { self.idleTimedOut(context) }
    }

    private func idleTimedOut(_ context: ChannelHandlerContext) {
        guard case .requestLine(bytes: 0) = phase, requestsHandedOn == responsesFinished else { return }
        // An answer still leaving (a large one to a slow client) is not idleness: wait another round.
        guard context.channel.isWritable else {
            startIdleTimerIfIdle(context)
            return
        }
        context.close(promise: nil)
    }

    /// Notes Content-Length and Transfer-Encoding, which say where the next request starts. Names are compared
    /// byte by byte, so the other header lines of every request cost no string.
    private func inspectHeaderLine() {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = line[..<colon]
        if Self.equalsIgnoringCase(name, Self.contentLengthName) {
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces
            contentLength = Int(value) ?? contentLength
        } else if Self.equalsIgnoringCase(name, Self.transferEncodingName) {
            hasTransferEncoding = true
        }
    }

    private static let contentLengthName = Array("content-length".utf8)
    private static let transferEncodingName = Array("transfer-encoding".utf8)

    /// Whether `bytes` spell `lowercase` (ASCII letters in either case).
    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ lowercase: [UInt8]) -> Bool {
        guard bytes.count == lowercase.count else { return false }
        for (byte, expected) in zip(bytes, lowercase) {
            let folded = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
            if folded != expected { return false }
        }
        return true
    }

    private var uriTooLong: Refusal {
        Refusal(
            status: .uriTooLong,
            message: "The request line is longer than \(limits.maximumRequestLineBytes) bytes. "
                + "share's addresses are short: / for the page, /screen.png for the picture.\n"
        )
    }

    private var headersTooLarge: Refusal {
        Refusal(
            status: .requestHeaderFieldsTooLarge,
            message: "The request's header fields are larger than \(limits.maximumHeaderBytes) bytes or more than "
                + "\(limits.maximumHeaderCount) lines. Send fewer or smaller headers (or clear this site's cookies).\n"
        )
    }

    // MARK: Timers

    private func startRequestTimer(_ context: ChannelHandlerContext) {
        requestDeadline.start(in: limits.requestTimeout, on: context.eventLoop) { self.requestTimedOut(context) }
    }

    private func requestTimedOut(_ context: ChannelHandlerContext) {
        switch phase {
        case .requestLine(bytes: 0):
            // A connection that never sent a byte: close it without a word.
            if requestsHandedOn == responsesFinished { context.close(promise: nil) }
        case .refused:
            break
        default:
            refusal = Refusal(
                status: .requestTimeout,
                message:
                    "The request did not arrive whole within \(limits.requestTimeout.nanoseconds / 1_000_000_000) s.\n"
            )
            refuse(context)
        }
    }

    private func cancelTimers() {
        requestDeadline.cancel()
        stallDeadline.cancel()
        idleDeadline.cancel()
        lingerTimer?.cancel()
        lingerTimer = nil
    }

    // MARK: Responses out

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        context.write(data, promise: promise)
        if case .end = part { responseFinished(context) }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is AnswerWritten else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        responseFinished(context)
        promise?.succeed()
    }

    private func responseFinished(_ context: ChannelHandlerContext) {
        responsesFinished += 1
        sendRefusalIfDue(context)
        startIdleTimerIfIdle(context)
    }

    private func refuse(_ context: ChannelHandlerContext) {
        phase = .refused
        requestDeadline.clear()
        sendRefusalIfDue(context)
    }

    /// Writes the refusal once every request handed on has its answer, then closes.
    private func sendRefusalIfDue(_ context: ChannelHandlerContext) {
        guard let refusal, !refusalSent, requestsHandedOn == responsesFinished else { return }
        refusalSent = true
        let body = context.channel.allocator.buffer(string: refusal.message)
        let headers = HTTPHeaders([
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", String(body.readableBytes)),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
        ])
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: refusal.status, headers: headers))),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            // Half-close, keep discarding what the client still sends, then close for good.
            let closed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: closed)
            closed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
            self.lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.linger) {
                context.close(promise: nil)
            }
        }
    }
}

/// A deadline watched by at most one scheduled task. Starting or clearing it schedules and cancels nothing; the
/// task, when it fires before a deadline that was cleared and started again later, schedules itself again for the
/// new one. Deadlines only move later (each is now plus the same timeout), so the task is never late. Used on one
/// event loop only.
private final class LazyDeadline {
    private var due: NIODeadline?
    private var task: Scheduled<Void>?

    /// Starts the deadline, `timeout` from now, unless it is running; `expired` runs on `loop` once it passes
    /// without being cleared. Each caller passes the same `expired` every time: a pending task keeps its own.
    func start(in timeout: TimeAmount, on loop: any EventLoop, expired: @escaping () -> Void) {
        guard due == nil else { return }
        let deadline = NIODeadline.now() + timeout
        due = deadline
        if task == nil { schedule(at: deadline, on: loop, expired: expired) }
    }

    func clear() {
        due = nil
    }

    /// Clears the deadline and cancels the task: the connection is gone.
    func cancel() {
        due = nil
        task?.cancel()
        task = nil
    }

    private func schedule(at deadline: NIODeadline, on loop: any EventLoop, expired: @escaping () -> Void) {
        task = loop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.task = nil
            guard let due = self.due else { return }
            if due > .now() {
                self.schedule(at: due, on: loop, expired: expired)
            } else {
                self.due = nil
                expired()
            }
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        let characters = self.drop { $0 == " " || $0 == "\t" }
        return String(characters.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
