import Foundation
import NIOCore
import ShareKit

/// The frame path inside one process, on a real Xvfb showing desktop-like content: capture alone, and capture to
/// finished PNG bytes for a full change, a small change and an unchanged screen, with the strip encoder through
/// `FrameStore` (what `share start` runs) and with libpng beside it.
struct FramePathBenchmark {
    let display: String
    let painter: ScreenPainter
    let rounds: Int
    /// Also time libpng level 1 + UP (the encoder before the strip encoder).
    var includeFastLibpng = true

    struct Result {
        var capture: Double
        var stripFull: Double
        var stripSmall: Double
        var stripUnchanged: Double
        var libpngDefault: Double
        var libpngFast: Double?
        var stripBytes: Int
        var libpngDefaultBytes: Int
        var libpngFastBytes: Int?
    }

    func run() async throws -> Result {
        let width = painter.width
        let height = painter.height
        // Two pictures: the desktop, and the same with one pixel changed in every eighth row (so every strip
        // changes, at the same content cost); and each of them with one 32-row band of text changed (3 % at 1080p).
        let desktop = SyntheticDesktop.desktop(width: width, height: height)
        var everyStrip = desktop.rgb
        for y in stride(from: 3, to: height, by: 8) { everyStrip[(y * width + 100) * 3] &+= 1 }
        let full = Frame(width: width, height: height, rgb: everyStrip)
        let bandTop = height / 2
        func withBand(_ frame: Frame) -> Frame {
            var rgb = frame.rgb
            for i in (bandTop * width * 3)..<((bandTop + 32) * width * 3) where i % 5 == 0 { rgb[i] = ~rgb[i] }
            return Frame(width: width, height: height, rgb: rgb)
        }
        let pictures = [desktop, full]
        let banded = pictures.map(withBand)

        let source = try await XScreenSource.open(displayName: display)
        defer { Task { await source.close() } }
        // A second capturer for "capture alone": it sees the screen only once a round, so every capture of it is
        // a full change (all bands converted), as the first one's capture inside a full change is.
        let captureSource = try await XScreenSource.open(displayName: display)
        defer { Task { await captureSource.close() } }
        // FrameStore with a tiny interval: every request captures, digests and encodes if the pixels changed,
        // exactly as a viewer's request after an interval does.
        let store = FrameStore(source: source, interval: .nanoseconds(1))
        let libpngDefault = PNGEncoder(level: 6, filters: 0xF8)
        let libpngFast = PNGEncoder.live

        var capture: [Double] = []
        var stripFull: [Double] = []
        var stripSmall: [Double] = []
        var stripUnchanged: [Double] = []
        var libpngDefaultTimes: [Double] = []
        var libpngFastTimes: [Double] = []
        var sizes = (strip: 0, libpngDefault: 0, libpngFast: 0)

        func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
            let start = ContinuousClock.now
            let value = try await body()
            return (value, (ContinuousClock.now - start).milliseconds)
        }

        painter.show(banded[0])
        _ = try await store.currentFrame()
        for round in 0..<(rounds + 1) {
            // Full change: the screen alternates between the two pictures, so every request encodes every strip.
            painter.show(pictures[(round + 1) % 2])
            let (frame, fullTime) = try await timed { try await store.currentFrame() }
            // Unchanged: the same screen again, so capture and digest only.
            let (_, unchangedTime) = try await timed { try await store.currentFrame() }
            // Peers on the same screen: capture, then libpng.
            let (pixels, captureTime) = try await timed { try await captureSource.captureFrame() }
            let (referencePNG, defaultTime) = try await timed { try libpngDefault.encode(pixels) }
            var fastTime: Double?
            if includeFastLibpng {
                let (fastPNG, time) = try await timed { try libpngFast.encode(pixels) }
                fastTime = time
                sizes.libpngFast = fastPNG.count
            }
            // Small change: one band of text changes on the same picture.
            painter.show(banded[(round + 1) % 2])
            let (_, smallTime) = try await timed { try await store.currentFrame() }

            // Round 0 warms up (first encodes, allocations). StripPNGEncoderTests and CaptureTests prove that the
            // strip encoder's output decodes to exactly the captured pixels.
            if round == 0 { continue }
            capture.append(captureTime)
            stripFull.append(fullTime)  // FrameStore's time includes its capture
            stripUnchanged.append(unchangedTime)
            stripSmall.append(smallTime)
            libpngDefaultTimes.append(captureTime + defaultTime)
            if let fastTime { libpngFastTimes.append(captureTime + fastTime) }
            sizes.strip = frame.png.readableBytes
            sizes.libpngDefault = referencePNG.count
        }
        return Result(
            capture: median(capture),
            stripFull: median(stripFull),
            stripSmall: median(stripSmall),
            stripUnchanged: median(stripUnchanged),
            libpngDefault: median(libpngDefaultTimes),
            libpngFast: includeFastLibpng ? median(libpngFastTimes) : nil,
            stripBytes: sizes.strip,
            libpngDefaultBytes: sizes.libpngDefault,
            libpngFastBytes: includeFastLibpng ? sizes.libpngFast : nil
        )
    }
}
