package import NIOPosix
import Synchronization

/// A frame source that downscales another one to fit `--max-width` / `--max-height`, keeping the aspect ratio.
///
/// The scaling (a box filter, `BoxScaler`) runs on a thread pool, off the cooperative pool and the X thread. An
/// unchanged screen is not scaled again: the last scaled frame is kept with the digest of its source, so a still
/// 4K screen costs a digest (a few ms) instead of a scale.
package final class ScalingSource: FrameSource {
    private let base: any FrameSource
    private let maxWidth: Int?
    private let maxHeight: Int?
    private let pool: NIOThreadPool
    /// The last scaled frame and the digest of the frame it was made from.
    private let last = Mutex<(digest: UInt64, frame: Frame)?>(nil)
    private let scales = Mutex(0)

    package init(_ base: any FrameSource, maxWidth: Int?, maxHeight: Int?, pool: NIOThreadPool = .singleton) {
        self.base = base
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.pool = pool
    }

    package var summary: String {
        let limits = [maxWidth.map { "width \($0)" }, maxHeight.map { "height \($0)" }].compactMap { $0 }
        return base.summary + ", scaled to at most " + limits.joined(separator: " and ")
    }

    /// How many frames have been scaled: for tests.
    package var scaleCount: Int { scales.withLock { $0 } }

    package func captureFrame() async throws -> Frame {
        let frame = try await base.captureFrame()
        let size = BoxScaler.fit(width: frame.width, height: frame.height, maxWidth: maxWidth, maxHeight: maxHeight)
        if size.width == frame.width && size.height == frame.height { return frame }
        // The X capture hands its digest along; other sources' frames are hashed on the pool.
        let sourceDigest: UInt64
        if let known = frame.knownDigest {
            sourceDigest = known
        } else {
            sourceDigest = try await pool.runIfActive { FrameDigest.digest(of: frame) }
        }
        if let last = last.withLock({ $0 }), last.digest == sourceDigest { return last.frame }
        let result = try await pool.runIfActive {
            let pixels = BoxScaler.scale(frame, width: size.width, height: size.height)
            // The scaler is deterministic: the source's digest and the new size identify the scaled pixels.
            let digest = FrameDigest.combine([sourceDigest, UInt64(size.width) << 32 | UInt64(size.height)], seed: 1)
            return Frame(width: pixels.width, height: pixels.height, rgb: pixels.rgb, knownDigest: digest)
        }
        last.withLock { $0 = (sourceDigest, result) }
        scales.withLock { $0 += 1 }
        return result
    }
}
