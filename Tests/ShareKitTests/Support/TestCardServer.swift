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
    try await withServedShare(
        frames: FrameStore(source: TestCardSource(name: name, host: host), interval: .seconds(1)),
        name: name,
        host: host,
        pin: pin,
        limits: limits,
        body
    )
}

/// Runs `body` against a share of `frames` served in this process on loopback, on a real socket, locked with
/// `pin` if given, with `limits` and `state`, answering fresh frames on the event loop or not (`freshFramePath`).
func withServedShare(
    frames: FrameStore,
    name: String = "Test Card",
    host: String = "lectern",
    pin: String? = nil,
    limits: ConnectionLimits = .standard,
    state: ShareState = ShareState(),
    freshFramePath: FreshFramePath = FreshFramePath(),
    _ body: @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    var configuration = StartConfiguration(port: 0, bindAddress: "127.0.0.1", interval: 1)
    configuration.pin = pin
    configuration.limits = limits
    let application = ShareServer.buildApplication(
        configuration: configuration,
        frames: frames,
        name: name,
        host: host,
        logger: Logger(label: "share.tests"),
        state: state,
        freshFramePath: freshFramePath
    )
    try await application.test(.live, body)
}
