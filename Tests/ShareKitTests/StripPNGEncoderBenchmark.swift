import Foundation
import Testing

@testable import ShareKit

// MARK: - Benchmark

/// Prints medians for a 1920x1080 desktop-like frame: this encoder (full change, small change, unchanged) beside
/// `PNGEncoder.live` and libpng's defaults. A measurement, not a test; run it in release with SHARE_BENCH=1.
@Suite(
    "Benchmark: strip PNG encoder",
    .enabled(if: ProcessInfo.processInfo.environment["SHARE_BENCH"] != nil, "a benchmark; set SHARE_BENCH=1"),
    .serialized
)
struct StripPNGEncoderBenchmark {
    @Test("Medians of encoding a 1920x1080 frame")
    func frameTiming() throws {
        let width = 1920
        let height = 1080
        for (name, frame) in [
            ("desktop", SyntheticDesktop.desktop(width: width, height: height)),
            ("dense text", SyntheticDesktop.denseText(width: width, height: height)),
        ] {
            try measure(name: name, frame: frame)
        }
    }

    private func measure(name: String, frame: Frame) throws {
        let width = frame.width
        // Every strip changed: one pixel in every eighth row.
        var everyStrip = frame.rgb
        for y in stride(from: 3, to: frame.height, by: 8) { everyStrip[(y * width + 100) * 3] &+= 1 }
        let full = Frame(width: width, height: frame.height, rgb: everyStrip)
        // A small change: 32 rows (3 % of the frame) of one text line.
        var line = frame.rgb
        for i in (500 * width * 3)..<(532 * width * 3) where i % 5 == 0 { line[i] = ~line[i] }
        let small = Frame(width: width, height: frame.height, rgb: line)

        let libpngDefault = PNGEncoder(level: 6, filters: 0xF8)
        let reference = try libpngDefault.encode(frame)
        // Every case runs once per round, so the noise of a shared machine falls on all of them alike.
        var cases: [(label: String, encode: (Int) throws -> [UInt8])] = []
        for (label, encoder) in [
            ("strip, defaults", StripPNGEncoder()),
            ("strip, defaults, 1 thread", StripPNGEncoder(concurrency: 1)),
            ("strip, 64-row strips", StripPNGEncoder(stripHeight: 64)),
            ("strip, 16-row strips", StripPNGEncoder(stripHeight: 16)),
            ("strip, LZ77 level 1", StripPNGEncoder(level: 1)),
            ("strip, LZ77 level 2", StripPNGEncoder(level: 2)),
            ("strip, LZ77 level 3", StripPNGEncoder(level: 3)),
            ("strip, PAETH+RLE only", StripPNGEncoder(strategy: .rle)),
            ("strip, PAETH+LZ77 level 1 only", StripPNGEncoder(level: 1, strategy: .default)),
            ("strip, UP+LZ77 level 1 only", StripPNGEncoder(level: 1, strategy: .default, filter: .up)),
        ] {
            // Each case alternates between two frames, so every round encodes a change.
            cases.append(("\(label), full change", { try encoder.encode($0 % 2 == 0 ? frame : full) }))
            if label.hasPrefix("strip, defaults") || label.hasSuffix("-row strips") {
                let other = StripPNGEncoder(stripHeight: encoder.stripHeight, concurrency: encoder.concurrency)
                let unchanged = StripPNGEncoder(stripHeight: encoder.stripHeight, concurrency: encoder.concurrency)
                cases.append(("\(label), 32 rows changed", { try other.encode($0 % 2 == 0 ? frame : small) }))
                cases.append(("\(label), unchanged", { _ in try unchanged.encode(frame) }))
            }
        }
        cases.append(("PNGEncoder.live (libpng level 1, UP)", { _ in try PNGEncoder.live.encode(frame) }))
        cases.append(("libpng default (level 6, all filters)", { _ in try libpngDefault.encode(frame) }))

        let rounds = 21
        var times = [[Double]](repeating: [], count: cases.count)
        var sizes = [Int](repeating: 0, count: cases.count)
        for round in 0..<rounds {
            for (index, item) in cases.enumerated() {
                let start = ContinuousClock.now
                let png = try item.encode(round)
                let elapsed = ContinuousClock.now - start
                times[index].append(
                    Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
                )
                sizes[index] = png.count
                if round == 0 { #expect((try? decodePNG(png))?.rgb == frame.rgb, "\(item.label) decodes") }
            }
        }
        // Round 0 warms up (first encodes, allocations); the odd rounds encode the changed frame, so sizes are
        // those of round 20, the original frame.
        let rows = cases.indices.map { index in
            (cases[index].label, times[index].dropFirst().sorted()[(rounds - 1) / 2], sizes[index])
        }

        var report = "\n\(name) \(width)x\(frame.height): libpng default \(reference.count) bytes\n"
        report += "| encoder | median ms | bytes | bytes / libpng default |\n| --- | --- | --- | --- |\n"
        for (label, milliseconds, bytes) in rows {
            let ratio = Double(bytes) / Double(reference.count)
            report +=
                "| \(label) | \(String(format: "%.1f", milliseconds)) | \(bytes) | \(String(format: "%.3f", ratio)) |\n"
        }
        print(report)
    }
}
