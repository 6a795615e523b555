package import Hummingbird
package import HummingbirdCore
package import Logging
package import NIOCore
import NIOHTTP1

/// What every client must keep to, whatever it sends: sizes, times and how many connections at once.
///
/// `RequestGuard` enforces the sizes, the request timeout and the idle timeout on each connection (it sees every
/// request, including those `FreshFrameHandler` answers before Hummingbird hears of them), and `MaximumAvailableConnections` stops accepting at the cap, so memory
/// stays bounded however many clients misbehave. The values are documented in Docs/Security.md.
package struct ConnectionLimits: Sendable {
    /// The request line (method, address, version): longer gets 414 URI Too Long.
    package var maximumRequestLineBytes = 8 * 1024
    /// All header lines of one request together: more gets 431 Request Header Fields Too Large.
    package var maximumHeaderBytes = 16 * 1024
    /// Header lines in one request: more gets 431.
    package var maximumHeaderCount = 100
    /// A request body, chunk framing included (share uses none, but a client may send one): larger gets 413.
    package var maximumBodyBytes = 16 * 1024
    /// A request must arrive whole within this time from its first byte (or from the connection's opening):
    /// otherwise 408 and the connection is closed. This is what stops slowloris-style clients.
    package var requestTimeout: TimeAmount = .seconds(10)
    /// A keep-alive connection with no request in progress (and every answer written) is closed after this long.
    package var idleTimeout: TimeAmount = .seconds(30)
    /// A client that takes none of its answers for this long (the connection's send buffer stays full) is
    /// disconnected, so a reader that never reads cannot hold a connection forever.
    package var sendStallTimeout: TimeAmount = .seconds(30)
    /// Connections open at once; beyond it new ones wait in the listen queue until one closes.
    package var maximumConnections = 512

    package init() {}

    /// The limits `share start` uses.
    package static let standard = ConnectionLimits()

    /// The HTTP/1 server with these limits: the guard in front of NIO's decoder, whose own limits are set
    /// above ours as a second line of defence (its errors are answered with 400).
    ///
    /// - Parameter freshFrames: answers given on the event loop, ahead of Hummingbird (`FreshFrameHandler`).
    package func server(freshFrames: FreshFrameAnswers? = nil) -> HTTPServerBuilder {
        let limits = self
        var decoder = HTTP1Channel.Configuration.DecoderConfiguration()
        decoder.maxHeaderFieldSize = 2 * max(maximumRequestLineBytes, maximumHeaderBytes)
        decoder.maxHeaderListSize = 2 * (maximumRequestLineBytes + maximumHeaderBytes)
        decoder.maxHeaderFieldCount = 2 * maximumHeaderCount
        // No idle timeout of Hummingbird's: it hears only of the requests it answers (RequestGuard's counts all).
        let configuration = HTTP1Channel.Configuration(idleTimeout: nil, httpDecoderConfiguration: decoder)
        return HTTPServerBuilder { responder in
            GuardedHTTP1Channel(
                http1: HTTP1Channel(responder: responder, configuration: configuration),
                limits: limits,
                freshFrames: freshFrames
            )
        }
    }

    /// Stops accepting connections at `maximumConnections`.
    package func connectionCap(logger: Logger) -> MaximumAvailableConnections {
        MaximumAvailableConnections(maximumConnections, logger: logger)
    }
}

/// Hummingbird's HTTP/1 channel with a `RequestGuard` in front of the request decoder, and a `FreshFrameHandler`
/// (if any) between the guard and the decoder.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let http1: HTTP1Channel
    let limits: ConnectionLimits
    let freshFrames: FreshFrameAnswers?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // Between the response encoder and the request decoder: raw bytes come in, response parts go out.
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let requestGuard = RequestGuard(limits: limits)
            try operations.addHandler(requestGuard, position: .before(decoder))
            if let freshFrames {
                // After the guard, whose limits and timeouts so hold for these requests too; before the decoder.
                try operations.addHandler(
                    FreshFrameHandler(answers: freshFrames, logger: logger),
                    position: .after(requestGuard)
                )
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
