package import NIOPosix

/// A frame source that downscales another one to fit `--max-width` / `--max-height`, keeping the aspect ratio.
///
/// The scaling (a box filter, `BoxScaler`) runs on a thread pool, off the cooperative pool and the X thread.
package struct ScalingSource: FrameSource {
    private let base: any FrameSource
    private let maxWidth: Int?
    private let maxHeight: Int?
    private let pool: NIOThreadPool

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

    package func captureFrame() async throws -> Frame {
        let frame = try await base.captureFrame()
        let size = BoxScaler.fit(width: frame.width, height: frame.height, maxWidth: maxWidth, maxHeight: maxHeight)
        if size.width == frame.width && size.height == frame.height { return frame }
        return try await pool.runIfActive { BoxScaler.scale(frame, width: size.width, height: size.height) }
    }
}
