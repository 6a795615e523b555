import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import ShareKit

/// Viewers learn that the presenter stopped sharing: over a real socket, with the test card as the source.
@Suite("Telling viewers the share ended")
struct ShareEndTests {
    func withServedTestCard(_ body: @Sendable (any TestClientProtocol, ShareState) async throws -> Void) async throws {
        let state = ShareState()
        let frames = FrameStore(source: TestCardSource(name: "Room 4", host: "lectern"), interval: .seconds(1))
        let application = ShareServer.buildApplication(
            configuration: StartConfiguration(port: 0, bindAddress: "127.0.0.1"),
            frames: frames,
            name: "Room 4",
            host: "lectern",
            logger: Logger(label: "share.tests"),
            state: state
        )
        try await application.test(.live) { client in try await body(client, state) }
    }

    @Test("GET /status says live; a long poll is answered as soon as the share ends; then frames are 410 Gone")
    func longPollHearsTheEnd() async throws {
        try await withServedTestCard { client, state in
            let live = try await client.execute(uri: "/status", method: .get)
            #expect(String(buffer: live.body) == #"{"state":"live"}"#)
            #expect(live.headers[.cacheControl] == "no-store")
            #expect(try await client.execute(uri: "/screen.png", method: .get).status == .ok)

            Task {
                try await Task.sleep(for: .milliseconds(300))
                state.end()
            }
            // The client waits on this request; end() answers it long before 25 s.
            let waited = try await client.execute(uri: "/status?wait=25", method: .get)
            #expect(String(buffer: waited.body) == #"{"state":"ended"}"#)
            let frame = try await client.execute(uri: "/screen.png", method: .get)
            #expect(frame.status == .gone)
            #expect(String(buffer: frame.body).contains("stopped sharing"))
        }
    }

    @Test("A long poll that times out says live; a bad wait is a 400")
    func longPollTimesOut() async throws {
        try await withServedTestCard { client, _ in
            let waited = try await client.execute(uri: "/status?wait=0.2", method: .get)
            #expect(String(buffer: waited.body) == #"{"state":"live"}"#)
            #expect(try await client.execute(uri: "/status?wait=-1", method: .get).status == .badRequest)
            #expect(try await client.execute(uri: "/status?wait=soon", method: .get).status == .badRequest)
        }
    }
}
