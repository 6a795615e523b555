import HummingbirdTesting
import Logging

@testable import ShareKit

/// Runs `body` against a test-card share served in this process on loopback, on a real socket, locked with
/// `pin` if given, with `limits`.
func withTestCardServer(
    name: String = "Test Card",
    host: String = "lectern",
    pin: String? = nil,
    limits: ConnectionLimits = .standard,
    _ body: @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    var configuration = StartConfiguration(port: 0, bindAddress: "127.0.0.1", interval: 1)
    configuration.pin = pin
    configuration.limits = limits
    let application = ShareServer.buildApplication(
        configuration: configuration,
        frames: FrameStore(source: TestCardSource(name: name, host: host), interval: .seconds(1)),
        name: name,
        host: host,
        logger: Logger(label: "share.tests")
    )
    try await application.test(.live, body)
}
