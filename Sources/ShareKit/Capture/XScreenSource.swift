import NIOPosix
import ServiceLifecycle

/// Frames from an X display's root window.
///
/// Owns one thread (a single-thread `NIOThreadPool`) that owns the `Display`: every Xlib call happens there,
/// so the cooperative pool never blocks on the X socket and Xlib never sees two threads on one display.
package final class XScreenSource: FrameSource, @unchecked Sendable {
    // @unchecked Sendable: `capturer` is only ever touched inside `thread.runIfActive`, and that pool has
    // exactly one thread, so all access is serialised on it. The other stored properties are immutable.
    private let thread: NIOThreadPool
    private let capturer: XScreenCapturer
    package let summary: String
    /// Screen size in pixels.
    package let width: Int
    package let height: Int
    /// True when frames come through MIT-SHM rather than the X socket.
    package let usesSharedMemory: Bool

    private init(thread: NIOThreadPool, capturer: XScreenCapturer) {
        self.thread = thread
        self.capturer = capturer
        self.width = capturer.width
        self.height = capturer.height
        self.usesSharedMemory = capturer.method == .sharedMemory
        self.summary =
            "display \(capturer.displayName), \(capturer.width)x\(capturer.height), depth \(capturer.depth), "
            + capturer.method.rawValue
    }

    /// Opens the display (nil: `$DISPLAY`) on a new X thread. Throws `ShareError` with advice when it cannot.
    package static func open(displayName: String?) async throws -> XScreenSource {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        do {
            let capturer = try await thread.runIfActive { try UncheckedBox(XScreenCapturer(displayName: displayName)) }
            return XScreenSource(thread: thread, capturer: capturer.value)
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
    }

    package func captureFrame() async throws -> Frame {
        try await thread.runIfActive { try self.capturer.capture() }
    }

    /// Makes one round trip to the X server; throws `ShareError.displayLost` once it is gone.
    package func checkConnection() async throws {
        try await thread.runIfActive { try self.capturer.checkConnection() }
    }

    /// Closes the display on its own thread, then stops that thread.
    package func close() async {
        _ = try? await thread.runIfActive { self.capturer.close() }
        try? await thread.shutdownGracefully()
    }
}

/// Carries a value created on the X thread back to the caller.
///
/// @unchecked Sendable: used once, to hand the freshly made capturer over before any other thread could touch
/// it; from then on it is only used on the X thread again.
private struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Watches the X connection while sharing, so that a dead X server ends the share even when nobody is watching.
///
/// One `XSync` a second on the X thread (a few microseconds). When the server is gone it throws
/// `ShareError.displayLost`, which shuts the whole share down gracefully: the advertisement is withdrawn and
/// `share start` exits non-zero with that message.
struct DisplayWatchService: Service {
    let source: XScreenSource

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            try await source.checkConnection()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
        }
    }
}
