import Foundation
import Testing

@testable import ShareKit

/// Prints medians for a 3840x2160 desktop-like frame: encoding it whole (the peer) beside box-scaling it to 1280 or
/// 1920 wide and encoding that, which is what `--max-width` and `?width=` cost per changed frame. A measurement,
/// not a test; run it in release with SHARE_BENCH=1:
/// `SHARE_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter ScalingBenchmark`.
@Suite(
    "Benchmark: scaling for the room",
    .enabled(if: ProcessInfo.processInfo.environment["SHARE_BENCH"] != nil, "a benchmark; set SHARE_BENCH=1"),
    .serialized
)
struct ScalingBenchmark {
    @Test("Medians of scaling and encoding a 3840x2160 frame")
    func scaleTiming() throws {
        let frame = SyntheticDesktop.desktop(width: 3840, height: 2160)
        var cases: [(label: String, run: () throws -> Int)] = [
            ("encode 3840x2160 whole (peer)", { try StripPNGEncoder().encode(frame).count })
        ]
        for width in [1920, 1280] {
            let height = BoxScaler.height(forWidth: width, sourceWidth: 3840, sourceHeight: 2160)
            cases.append(
                ("box-scale to \(width)x\(height)", { BoxScaler.scale(frame, width: width, height: height).rgb.count })
            )
            cases.append(
                (
                    "box-scale to \(width)x\(height) + encode",
                    { try StripPNGEncoder().encode(BoxScaler.scale(frame, width: width, height: height)).count }
                )
            )
        }
        let rounds = 11
        var times = [[Double]](repeating: [], count: cases.count)
        var sizes = [Int](repeating: 0, count: cases.count)
        for _ in 0..<rounds {
            for (index, item) in cases.enumerated() {
                let start = ContinuousClock.now
                sizes[index] = try item.run()
                let elapsed = ContinuousClock.now - start
                times[index].append(
                    Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
                )
            }
        }
        let peer = times[0].dropFirst().sorted()[(rounds - 1) / 2]
        var report = "\n| 3840x2160 desktop frame | median ms | bytes | time / peer |\n| --- | --- | --- | --- |\n"
        for index in cases.indices {
            let median = times[index].dropFirst().sorted()[(rounds - 1) / 2]
            report += "| \(cases[index].label) | \(String(format: "%.1f", median)) | \(sizes[index]) | "
            report += "\(String(format: "%.2f", median / peer)) |\n"
        }
        print(report)
    }
}
