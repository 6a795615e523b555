import Foundation
package import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Who is watching: each viewer (client address and user agent) is logged at info level when first seen, and
/// counted while it keeps asking.
///
/// A viewer counts as watching while it made a request within `window`: three intervals, and at least 30 s,
/// since a visible page asks for a frame every interval and keeps a 25 s status poll open. A hidden tab asks
/// nothing, so it stops counting after the window and is logged again when it comes back.
package final class ViewerLog: Sendable {
    private struct Viewer: Hashable {
        let address: String
        let userAgent: String
    }

    private let window: Duration
    private let logger: Logger
    private let lastSeen = Mutex<[Viewer: ContinuousClock.Instant]>([:])
    /// Viewers remembered at most; beyond it those gone quiet are dropped first.
    static let maximumViewers = 10_000

    package init(interval: Double, logger: Logger) {
        self.window = max(.seconds(30), .milliseconds(Int64(interval * 3000)))
        self.logger = logger
    }

    /// Notes a request from a viewer; logs the viewer if it is new (or back after leaving).
    package func saw(address: String, userAgent: String?, now: ContinuousClock.Instant = .now) {
        let agent = String(ShareListing.printable(userAgent ?? "(none)").prefix(200))
        let viewer = Viewer(address: address, userAgent: agent)
        let isNew = lastSeen.withLock { seen -> Bool in
            let previous = seen[viewer]
            if previous == nil, seen.count >= Self.maximumViewers { Self.dropGone(&seen, now: now, window: window) }
            if previous == nil, seen.count >= Self.maximumViewers { return false }
            seen[viewer] = now
            return previous.map { now - $0 > window } ?? true
        }
        if isNew {
            logger.info("New viewer", metadata: ["address": "\(address)", "user-agent": "\(agent)"])
        }
    }

    /// Viewers that made a request within the window.
    package func count(now: ContinuousClock.Instant = .now) -> Int {
        lastSeen.withLock { seen in
            Self.dropGone(&seen, now: now, window: window)
            return seen.count
        }
    }

    private static func dropGone(
        _ seen: inout [Viewer: ContinuousClock.Instant],
        now: ContinuousClock.Instant,
        window: Duration
    ) {
        seen = seen.filter { now - $0.value <= window }
    }
}

/// `share start --viewers`: prints "Viewers: N" on stderr whenever the number of viewers changes (checked every
/// second), so the presenter knows how many are watching.
struct ViewerCountService: Service {
    let viewers: ViewerLog
    let output: @Sendable (String) -> Void

    func run() async throws {
        // An event loop's timer, as `DisplayWatchService` waits: `Task.sleep` wakes two Dispatch threads too.
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        try? await cancelWhenGracefulShutdown {
            var last = -1
            while !Task.isCancelled {
                let count = viewers.count()
                if count != last {
                    output("Viewers: \(count)")
                    last = count
                }
                try await eventLoop.sleep(for: .seconds(1))
            }
        }
    }
}
