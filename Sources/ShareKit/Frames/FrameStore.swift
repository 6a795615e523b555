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
    /// The pixels, kept for the scaled copies (`ScaledFrameStore`); nil for a scaled copy itself.
    let pixels: Frame?
}

/// Capture coalescing: however many viewers ask, at most one capture per interval, shared by all of them.
///
/// A request gets the cached frame while it is younger than the interval. Otherwise it starts a capture, or
/// joins the one already in flight, so that concurrent requests get the same frame and ETag. Nobody asking
/// means no captures at all. When a new capture shows the same pixels as before, the old PNG is kept and no
/// encode happens.
package final class FrameStore: Sendable {
    /// A request waiting for the capture in flight.
    private typealias Waiter = CheckedContinuation<EncodedFrame, any Error>

    private struct State {
        /// The last good frame.
        var latest: EncodedFrame?
        /// The last failed capture, answered to every request until an interval has passed.
        var failure: (error: any Error, at: ContinuousClock.Instant)?
        /// Requests waiting for the capture in flight, by request number; nil when no capture runs.
        var waiters: [Int: Waiter]?
        var nextRequest = 0
        var captures = 0
        var encodes = 0
    }

    private let source: any FrameSource
    private let interval: Duration
    private let encoder: any FrameEncoder
    private let encodePool: NIOThreadPool
    private let state = Mutex(State())

    /// - Parameters:
    ///   - source: where frames come from.
    ///   - interval: the minimum time between two captures.
    ///   - encodePool: threads for PNG encoding, off the event loops and the cooperative pool.
    package init(
        source: any FrameSource,
        interval: Duration,
        encoder: any FrameEncoder = StripPNGEncoder(),
        encodePool: NIOThreadPool = .singleton
    ) {
        self.source = source
        self.interval = interval
        self.encoder = encoder
        self.encodePool = encodePool
    }

    /// How many captures and encodes have been made: for tests and logs.
    package var statistics: (captures: Int, encodes: Int) { state.withLock { ($0.captures, $0.encodes) } }

    /// The cached frame if it is fresh (younger than the interval), as `currentFrame()` would serve it at once;
    /// nil when serving a frame now needs a capture (or waits for the one in flight).
    package func freshFrame() -> EncodedFrame? {
        let now = ContinuousClock.now
        return state.withLock { fresh($0.latest, at: now) }
    }

    /// `frame` if it is younger than the interval at `now`.
    private func fresh(_ frame: EncodedFrame?, at now: ContinuousClock.Instant) -> EncodedFrame? {
        guard let frame, now - frame.capturedAt < interval else { return nil }
        return frame
    }

    /// The frame to serve now: cached if fresh, else from the one capture in flight.
    ///
    /// A cancelled request stops waiting at once; the capture it joined goes on for the others.
    package func currentFrame() async throws -> EncodedFrame {
        enum Next {
            case serve(EncodedFrame)
            case fail(any Error)
            case wait(request: Int)
            case capture(request: Int, previous: EncodedFrame?)
        }
        let now = ContinuousClock.now
        // Decide under the lock; resume or start the capture after releasing it.
        let next: Next = state.withLock { state in
            if let frame = fresh(state.latest, at: now) { return .serve(frame) }
            if let failure = state.failure, now - failure.at < interval { return .fail(failure.error) }
            state.nextRequest += 1
            if state.waiters != nil { return .wait(request: state.nextRequest) }
            state.waiters = [:]
            return .capture(request: state.nextRequest, previous: state.latest)
        }
        let request: Int
        switch next {
        case .serve(let frame): return frame
        case .fail(let error): throw error
        case .wait(let number): request = number
        case .capture(let number, let previous):
            request = number
            Task { await self.produce(previous: previous) }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                let outcome = state.withLock { state -> Result<EncodedFrame, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.waiters != nil {
                        state.waiters?[request] = continuation
                        return nil
                    }
                    // The capture finished before this request got here: take what it left.
                    if let failure = state.failure, failure.at > (state.latest?.capturedAt ?? failure.at - .seconds(1))
                    {
                        return .failure(failure.error)
                    }
                    if let latest = state.latest { return .success(latest) }
                    return .failure(ShareError("No frame has been captured yet; try again."))
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters?.removeValue(forKey: request) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Captures, and encodes unless the pixels are unchanged; then hands the result to every waiting request.
    private func produce(previous: EncodedFrame?) async {
        let startedAt = ContinuousClock.now
        let result: Result<EncodedFrame, any Error>
        do {
            let pixels = try await source.captureFrame()
            state.withLock { $0.captures += 1 }
            // Sources that bring no digest (the test card) are hashed on the pool: tasks may run on event loops.
            let digest =
                if let known = pixels.knownDigest { known } else {
                    try await encodePool.runIfActive { FrameDigest.digest(of: pixels) }
                }
            if let previous, previous.digest == digest {
                result = .success(
                    EncodedFrame(
                        png: previous.png,
                        etag: previous.etag,
                        changedAt: previous.changedAt,
                        capturedAt: startedAt,
                        width: previous.width,
                        height: previous.height,
                        digest: digest,
                        pixels: pixels
                    )
                )
            } else {
                let encoder = self.encoder
                let png = try await encodePool.runIfActive { try encoder.encodeBuffer(pixels) }
                state.withLock { $0.encodes += 1 }
                result = .success(
                    EncodedFrame(
                        png: png,
                        etag: "\"\(String(digest, radix: 16))-\(encoder.tag)\"",
                        changedAt: Date(),
                        capturedAt: startedAt,
                        width: pixels.width,
                        height: pixels.height,
                        digest: digest,
                        pixels: pixels
                    )
                )
            }
        } catch {
            result = .failure(error)
        }
        let waiters = state.withLock { state -> [Int: Waiter] in
            switch result {
            case .success(let frame):
                state.latest = frame
                state.failure = nil
            case .failure(let error):
                // Failures are cached for an interval too: N viewers of a broken display cost one attempt.
                state.failure = (error, startedAt)
            }
            defer { state.waiters = nil }
            return state.waiters ?? [:]
        }
        for waiter in waiters.values { waiter.resume(with: result) }
    }
}
