package import Foundation
package import NIOCore
package import NIOPosix
import Synchronization

/// A frame ready to serve: PNG bytes with the validators HTTP needs.
package struct EncodedFrame: Sendable {
    /// The PNG file, encoded once and shared by every response without copying.
    package let png: ByteBuffer
    /// Strong entity tag, quoted: the same pixels always give the same tag.
    package let etag: String
    /// When these pixels were first seen: the `Last-Modified` time.
    package let changedAt: Date
    /// When the capture that produced or confirmed these pixels started.
    package let capturedAt: ContinuousClock.Instant
    package let width: Int
    package let height: Int
    /// Pixel digest, to notice an unchanged screen without encoding it.
    let digest: UInt64
}

/// Capture coalescing: however many viewers ask, at most one capture per interval, shared by all of them.
///
/// A request gets the cached frame while it is younger than the interval. Otherwise it starts a capture, or
/// joins the one already in flight, so that concurrent requests get the same frame and ETag. Nobody asking
/// means no captures at all. When a new capture shows the same pixels as before, the old PNG is kept and no
/// encode happens.
package final class FrameStore: Sendable {
    private enum State {
        case empty
        case ready(EncodedFrame)
        case capturing(Task<EncodedFrame, any Error>)
    }

    private let source: any FrameSource
    private let interval: Duration
    private let encoder: PNGEncoder
    private let encodePool: NIOThreadPool
    private let state = Mutex<State>(.empty)
    private let counters = Mutex<(captures: Int, encodes: Int)>((0, 0))

    /// - Parameters:
    ///   - source: where frames come from.
    ///   - interval: the minimum time between two captures.
    ///   - encodePool: threads for PNG encoding, off the event loops and the cooperative pool.
    package init(
        source: any FrameSource,
        interval: Duration,
        encoder: PNGEncoder = .live,
        encodePool: NIOThreadPool = .singleton
    ) {
        self.source = source
        self.interval = interval
        self.encoder = encoder
        self.encodePool = encodePool
    }

    /// How many captures and encodes have been made: for tests and logs.
    package var statistics: (captures: Int, encodes: Int) { counters.withLock { $0 } }

    /// The frame to serve now: cached if fresh, else from the one capture in flight.
    package func currentFrame() async throws -> EncodedFrame {
        enum Next {
            case serve(EncodedFrame)
            case wait(Task<EncodedFrame, any Error>)
        }
        let now = ContinuousClock.now
        // Decide under the lock; wait for a capture after releasing it.
        let next: Next = state.withLock { state in
            switch state {
            case .ready(let frame) where now - frame.capturedAt < interval:
                return .serve(frame)
            case .capturing(let task):
                return .wait(task)
            case .ready(let frame):
                let task = Task { try await self.produce(previous: frame) }
                state = .capturing(task)
                return .wait(task)
            case .empty:
                let task = Task { try await self.produce(previous: nil) }
                state = .capturing(task)
                return .wait(task)
            }
        }
        switch next {
        case .serve(let frame): return frame
        case .wait(let task): return try await task.value
        }
    }

    /// Captures, and encodes unless the pixels are unchanged; then publishes the result to later requests.
    private func produce(previous: EncodedFrame?) async throws -> EncodedFrame {
        let startedAt = ContinuousClock.now
        let frame: EncodedFrame
        do {
            let pixels = try await source.captureFrame()
            counters.withLock { $0.captures += 1 }
            let digest = FrameDigest.digest(of: pixels)
            if let previous, previous.digest == digest {
                frame = EncodedFrame(
                    png: previous.png,
                    etag: previous.etag,
                    changedAt: previous.changedAt,
                    capturedAt: startedAt,
                    width: previous.width,
                    height: previous.height,
                    digest: digest
                )
            } else {
                let encoder = self.encoder
                let png = try await encodePool.runIfActive { ByteBuffer(bytes: try encoder.encode(pixels)) }
                counters.withLock { $0.encodes += 1 }
                frame = EncodedFrame(
                    png: png,
                    etag: "\"\(String(digest, radix: 16))\"",
                    changedAt: Date(),
                    capturedAt: startedAt,
                    width: pixels.width,
                    height: pixels.height,
                    digest: digest
                )
            }
        } catch {
            // Let the next request try again rather than caching the failure.
            state.withLock { state in state = previous.map { .ready($0) } ?? .empty }
            throw error
        }
        state.withLock { $0 = .ready(frame) }
        return frame
    }
}
