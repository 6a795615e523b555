import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
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

/// What `FreshFrameHandler` needs from the share: the answers it may give at once, and the headers Hummingbird
/// adds to every answer (`Date`, and `Server` with its name).
package struct FreshFrameAnswers: Sendable {
    let responder: ShareResponder
    let serverName: String?
    let path: FreshFramePath

    package init(responder: ShareResponder, serverName: String?, path: FreshFramePath) {
        self.responder = responder
        self.serverName = serverName
        self.path = path
    }

    /// The response head and body for `request`, or nil when Hummingbird must answer it.
    func answer(
        to request: HTTPRequest,
        clientAddress: String,
        notingViewer: Bool
    ) -> (head: HTTPResponse, body: ByteBuffer?)? {
        guard
            let (status, headers, body) = responder.freshFrameAnswer(
                to: request,
                clientAddress: clientAddress,
                notingViewer: notingViewer
            )
        else { return nil }
        var response = HTTPResponse(status: status, headerFields: headers)
        response.headerFields[.date] = HTTPDate.now()
        if let serverName { response.headerFields[.server] = serverName }
        path.noteAnswer()
        return (response, body)
    }
}

/// Answers requests for a fresh frame straight from the event loop, ahead of Hummingbird.
///
/// Between two captures every viewer gets the same cached frame. Handing each such request to Hummingbird costs
/// a task wake-up, an async request body and response writer, and a logger: most of share's CPU per response,
/// and more than the kernel's for a 304. This handler sits after Hummingbird's connection state handler (which
/// so still counts every request and answer for its idle timeout and graceful shutdown) and before the async
/// channel. It answers what `ShareResponder.freshFrameAnswer` answers, the same answer `ShareResponder` would
/// give; every other request goes on to Hummingbird as before.
///
/// Answers keep the order of the requests: while a request handed on is unanswered, later ones are handed on
/// too. A request with `Connection: close` is handed on, so Hummingbird closes after answering it, and so is
/// every request after it; so is one with `Expect` (Hummingbird answers its head at once). While the channel is
/// unwritable (a client that does not read its answers) requests are handed on, so Hummingbird's writer applies
/// its backpressure and reading stops. When the client closes its side after its requests, Hummingbird hears
/// of it only once every answer due is written, since it closes the whole connection when it hears; and
/// Hummingbird's own close of its side (after `Connection: close`) waits for the answers too. Runs on the
/// channel's event loop only.
final class FreshFrameHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let answers: FreshFrameAnswers
    private let logger: Logger
    /// The client's IP address, as `ShareRequestContext` gives it; read once per connection.
    private var clientAddress: String?
    /// Requests handed on to Hummingbird whose answers have not ended yet.
    private var handedOn = 0
    /// True between a handed-on request's head and its end.
    private var readingHandedOn = false
    /// Set once a request asked to close the connection: every later one goes to Hummingbird, which closes.
    private var closing = false
    /// The answer to the request being read, written when its end arrives (a body, if any, is dropped).
    private var pending: (head: HTTPResponse, body: ByteBuffer?)?
    /// Completed when the last answer, this handler's or Hummingbird's, has gone to the socket.
    private var lastAnswer: EventLoopFuture<Void>?
    /// The client closed its side while an answer was still due: Hummingbird is told once it is written.
    private var inputClosedHeld = false
    /// The user agent this connection's viewer was last noted with (`ViewerLog`), and when: the same viewer is
    /// noted again at most once a second, which is all the viewer log needs (it counts viewers over 30 s).
    private var noted: (userAgent: String?, at: ContinuousClock.Instant)?
    private static let notingInterval = Duration.seconds(1)

    init(answers: FreshFrameAnswers, logger: Logger) {
        self.answers = answers
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            let keepsAlive = Self.keepsAlive(request)
            let now = ContinuousClock.now
            let userAgent = request.headerFields[.userAgent]
            let notingViewer = noted.map { $0.userAgent != userAgent || now - $0.at >= Self.notingInterval } ?? true
            if handedOn == 0, !closing, keepsAlive, request.headerFields[.expect] == nil, context.channel.isWritable,
                let answer = answers.answer(
                    to: request,
                    clientAddress: address(of: context.channel),
                    notingViewer: notingViewer
                )
            {
                logger.debug(
                    "Request",
                    metadata: ["method": "\(request.method)", "path": "\(request.path ?? "")", "answered": "at once"]
                )
                if notingViewer { noted = (userAgent, now) }
                pending = answer
            } else {
                if !keepsAlive { closing = true }
                handedOn += 1
                readingHandedOn = true
                context.fireChannelRead(data)
            }
        case .body:
            if pending == nil { context.fireChannelRead(data) }
        case .end:
            guard let answer = pending else {
                readingHandedOn = false
                context.fireChannelRead(data)
                return
            }
            pending = nil
            context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
            if let body = answer.body { context.write(wrapOutboundOut(.body(body)), promise: nil) }
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            lastAnswer = written.futureResult
        }
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

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let closed = event as? ChannelEvent, closed == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The client closed its side. Hummingbird would close the whole connection on hearing it, failing
        // answers still being written: it hears once they are out. A handed-on request cut short in the middle
        // is not waited for (its answer may need the rest).
        inputClosedHeld = true
        if handedOn == 0 || readingHandedOn { releaseInputClosed(context: context) }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // Hummingbird closes its side after a `Connection: close` answer. When the client has closed its side
        // already, NIO turns that into a full close and drops what is still queued: close once it is written.
        guard mode == .output, let lastAnswer else {
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

    /// False for `Connection: close` (or anything but keep-alive), which Hummingbird answers and then closes.
    private static func keepsAlive(_ request: HTTPRequest) -> Bool {
        guard let connection = request.headerFields[.connection] else { return true }
        // Browsers send "keep-alive"; compared without making a new string for the common spellings.
        return connection == "keep-alive" || connection == "Keep-Alive" || connection.lowercased() == "keep-alive"
    }
}
