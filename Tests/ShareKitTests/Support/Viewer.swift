import HummingbirdTesting

/// Runs `body` with a client on a connection of its own, as a separate browser would have, and closes it.
func withViewer<T: Sendable>(
    port: Int,
    _ body: @Sendable (TestClient) async throws -> T
) async throws -> T {
    let viewer = TestClient(host: "127.0.0.1", port: port)
    viewer.connect()
    let result: T
    do {
        result = try await body(viewer)
    } catch {
        try? await viewer.shutdown()
        throw error
    }
    try await viewer.shutdown()
    return result
}
