import HTTPTypes
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
    func answer(to request: HTTPRequest, clientAddress: String) -> (head: HTTPResponse, body: ByteBuffer?)? {
        guard let (status, headers, body) = responder.freshFrameAnswer(to: request, clientAddress: clientAddress)
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
/// too. A request with `Connection: close` is handed on, so Hummingbird closes after answering it. When the
/// client closes its side, Hummingbird hears of it only once this handler's answers are written, since it
/// closes the connection at once when it hears. Runs on the channel's event loop only.
final class FreshFrameHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let answers: FreshFrameAnswers
    /// The client's IP address, as `ShareRequestContext` gives it; read once per connection.
    private var clientAddress: String?
    /// Requests handed on to Hummingbird whose answers have not ended yet.
    private var handedOn = 0
    /// The answer to the request being read, written when its end arrives (a body, if any, is dropped).
    private var pending: (head: HTTPResponse, body: ByteBuffer?)?
    /// Completed when the last answer written here has gone to the socket.
    private var lastAnswer: EventLoopFuture<Void>?

    init(answers: FreshFrameAnswers) {
        self.answers = answers
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if handedOn == 0, Self.keepsAlive(request),
                let answer = answers.answer(to: request, clientAddress: address(of: context.channel))
            {
                pending = answer
            } else {
                handedOn += 1
                context.fireChannelRead(data)
            }
        case .body:
            if pending == nil { context.fireChannelRead(data) }
        case .end:
            guard let answer = pending else {
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
        if case .end = unwrapOutboundIn(data) { handedOn -= 1 }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side after its requests: Hummingbird would close the whole connection on
        // hearing it, failing an answer still being written. Tell it once the answers are out.
        if let closed = event as? ChannelEvent, closed == .inputClosed, let lastAnswer {
            lastAnswer.assumeIsolated().whenComplete { _ in context.fireUserInboundEventTriggered(closed) }
            return
        }
        context.fireUserInboundEventTriggered(event)
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
        return connection.lowercased() == "keep-alive"
    }
}
