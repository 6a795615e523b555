import Foundation
import Glibc
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
        /// Wall-clock medians, in milliseconds.
        var capture: Double
        var stripFull: Double
        /// A small change right after a full change (every band is copied from the last frame), and one on a
        /// steady screen (the same band changes again: nothing copied).
        var stripSmall: Double
        var stripSteady: Double
        var stripUnchanged: Double
        var libpngDefault: Double
        var libpngFast: Double?
        var stripBytes: Int
        var libpngDefaultBytes: Int
        var libpngFastBytes: Int?
        /// Medians of the CPU time this process spent (all its threads; the X server's copy not included), in
        /// milliseconds: less disturbed than wall-clock time by other work on a shared machine.
        var stripFullCPU: Double
        var stripSmallCPU: Double
        var stripSteadyCPU: Double
        var libpngDefaultCPU: Double
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
        func withBand(_ frame: Frame, every step: Int) -> Frame {
            var rgb = frame.rgb
            for i in (bandTop * width * 3)..<((bandTop + 32) * width * 3) where i % step == 0 { rgb[i] = ~rgb[i] }
            return Frame(width: width, height: height, rgb: rgb)
        }
        let pictures = [desktop, full]
        let banded = pictures.map { withBand($0, every: 5) }
        // The same band changed again, otherwise: typing on a steady screen.
        let retyped = pictures.map { withBand($0, every: 7) }

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
        var stripFullCPU: [Double] = []
        var stripSmallCPU: [Double] = []
        var stripSteady: [Double] = []
        var stripSteadyCPU: [Double] = []
        var libpngDefaultCPU: [Double] = []
        /// CPU time of the last `timed` call.
        var cpu = 0.0

        func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
            let start = ContinuousClock.now
            let startCPU = Self.processCPU()
            let value = try await body()
            cpu = Self.processCPU() - startCPU
            return (value, (ContinuousClock.now - start).milliseconds)
        }

        painter.show(banded[0])
        _ = try await store.currentFrame()
        for round in 0..<(rounds + 1) {
            // Full change: the screen alternates between the two pictures, so every request encodes every strip.
            painter.show(pictures[(round + 1) % 2])
            // Only the size is kept: a frame held here would keep its pixels from being reused in place later.
            let (fullBytes, fullTime) = try await timed { try await store.currentFrame().png.readableBytes }
            let fullCPU = cpu
            // Unchanged: the same screen again, so capture and digest only.
            let (_, unchangedTime) = try await timed { try await store.currentFrame() }
            // Peers on the same screen: capture, then libpng.
            let (pixels, captureTime) = try await timed { try await captureSource.captureFrame() }
            let captureCPU = cpu
            let (referencePNG, defaultTime) = try await timed { try libpngDefault.encode(pixels) }
            let defaultCPU = cpu
            var fastTime: Double?
            if includeFastLibpng {
                let (fastPNG, time) = try await timed { try libpngFast.encode(pixels) }
                fastTime = time
                sizes.libpngFast = fastPNG.count
            }
            // Small change: one band of text changes on the same picture.
            painter.show(banded[(round + 1) % 2])
            let (_, smallTime) = try await timed { try await store.currentFrame() }
            let smallCPU = cpu
            // And again: after a small change, the buffer the next frame is written into (the one of two captures
            // ago) differs only in that band, so nothing is copied.
            painter.show(retyped[(round + 1) % 2])
            let (_, steadyTime) = try await timed { try await store.currentFrame() }
            let steadyCPU = cpu

            // Round 0 warms up (first encodes, allocations). StripPNGEncoderTests and CaptureTests prove that the
            // strip encoder's output decodes to exactly the captured pixels.
            if round == 0 { continue }
            capture.append(captureTime)
            stripFull.append(fullTime)  // FrameStore's time includes its capture
            stripUnchanged.append(unchangedTime)
            stripSmall.append(smallTime)
            stripSteady.append(steadyTime)
            stripSteadyCPU.append(steadyCPU)
            libpngDefaultTimes.append(captureTime + defaultTime)
            if let fastTime { libpngFastTimes.append(captureTime + fastTime) }
            stripFullCPU.append(fullCPU)
            stripSmallCPU.append(smallCPU)
            libpngDefaultCPU.append(captureCPU + defaultCPU)
            sizes.strip = fullBytes
            sizes.libpngDefault = referencePNG.count
        }
        return Result(
            capture: median(capture),
            stripFull: median(stripFull),
            stripSmall: median(stripSmall),
            stripSteady: median(stripSteady),
            stripUnchanged: median(stripUnchanged),
            libpngDefault: median(libpngDefaultTimes),
            libpngFast: includeFastLibpng ? median(libpngFastTimes) : nil,
            stripBytes: sizes.strip,
            libpngDefaultBytes: sizes.libpngDefault,
            libpngFastBytes: includeFastLibpng ? sizes.libpngFast : nil,
            stripFullCPU: median(stripFullCPU),
            stripSmallCPU: median(stripSmallCPU),
            stripSteadyCPU: median(stripSteadyCPU),
            libpngDefaultCPU: median(libpngDefaultCPU)
        )
    }

    /// CPU time of this process so far (every thread), in milliseconds (`clock`: microsecond resolution).
    static func processCPU() -> Double {
        Double(clock()) * 1000 / Double(CLOCKS_PER_SEC)
    }
}
