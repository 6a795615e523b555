import NIOCore
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
    /// What is shared; a monitor chosen by index appears here by its name.
    package let area: CaptureArea

    private init(thread: NIOThreadPool, capturer: XScreenCapturer) {
        self.thread = thread
        self.capturer = capturer
        self.width = capturer.width
        self.height = capturer.height
        self.usesSharedMemory = capturer.method == .sharedMemory
        self.area = capturer.area
        self.summary =
            "display \(capturer.displayName), \(capturer.width)x\(capturer.height), depth \(capturer.depth), "
            + capturer.method.rawValue + ", \(capturer.area)" + (capturer.drawsCursor ? ", with the pointer" : "")
    }

    /// Opens the display (nil: `$DISPLAY`) on a new X thread. Throws `ShareError` with advice when it cannot,
    /// or when `area` is not on it.
    ///
    /// - Parameters:
    ///   - area: the part of the screen to capture; monitors and windows are followed as they move.
    ///   - drawsCursor: draw the pointer into each frame (XFixes), with its real shape and alpha.
    ///   - budget: refuses an area too large for the memory limits; nil only to list monitors.
    package static func open(
        displayName: String?,
        area: CaptureArea = .screen,
        drawsCursor: Bool = false,
        budget: FrameBudget? = .current
    ) async throws -> XScreenSource {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        do {
            let capturer = try await thread.runIfActive {
                try UncheckedBox(
                    XScreenCapturer(displayName: displayName, area: area, drawsCursor: drawsCursor, budget: budget)
                )
            }
            return XScreenSource(thread: thread, capturer: capturer.value)
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
    }

    package func captureFrame() async throws -> Frame {
        try await thread.runIfActive { try self.capturer.capture() }
    }

    /// Bands of rows the capturer has converted to RGB so far: for tests of the incremental capture.
    package func bandsConverted() async throws -> Int {
        try await thread.runIfActive { self.capturer.bandsConverted }
    }

    /// The monitors XRandR reports now; empty when the server lacks RandR 1.5.
    package func monitors() async throws -> [Monitor] {
        try await thread.runIfActive { try self.capturer.monitors() }
    }

    /// Makes one round trip to the X server; throws `ShareError.displayLost` once it is gone, and the
    /// `windowClosed` or `monitorGone` error once the shared window or monitor is.
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

/// Watches the X connection while sharing, so that a dead X server, a closed shared window or an unplugged shared
/// monitor ends the share even when nobody is watching.
///
/// One `XSync` a second on the X thread (a few microseconds). When the server is gone it throws
/// `ShareError.displayLost`, which shuts the whole share down gracefully: the advertisement is withdrawn and
/// `share start` exits non-zero with that message.
///
/// It waits on an event loop's own timer (`EventLoop.sleep(for:)`): `Task.sleep` goes through Dispatch's timer
/// thread and a Dispatch worker before the event loop, three threads woken per tick instead of one, and such
/// wake-ups are a large part of an idle share's CPU (Docs/Benchmarks.md).
struct DisplayWatchService: Service {
    let source: XScreenSource

    func run() async throws {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await source.checkConnection()
                    try await eventLoop.sleep(for: .seconds(1))
                }
            }
        } catch is CancellationError {
            // The share is shutting down anyway.
        }
    }
}
