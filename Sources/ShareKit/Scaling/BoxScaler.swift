import Dispatch
import Glibc

/// Downscaling by area averaging (a box filter): each output pixel is the mean of the source pixels it covers,
/// fractional edges weighted by how much of them it covers. Text stays readable and thin lines fade instead of
/// vanishing, unlike nearest-neighbour sampling.
package enum BoxScaler {
    /// The size that fits `width`x`height` inside the limits, keeping the aspect ratio; never larger than the
    /// source (only downscaling), never below 1x1.
    package static func fit(width: Int, height: Int, maxWidth: Int?, maxHeight: Int?) -> (width: Int, height: Int) {
        var factor = 1.0
        if let maxWidth, maxWidth < width { factor = min(factor, Double(maxWidth) / Double(width)) }
        if let maxHeight, maxHeight < height { factor = min(factor, Double(maxHeight) / Double(height)) }
        guard factor < 1 else { return (width, height) }
        var newWidth = max(1, Int((Double(width) * factor).rounded()))
        var newHeight = max(1, Int((Double(height) * factor).rounded()))
        // Rounding must never step over a limit.
        if let maxWidth { newWidth = min(newWidth, maxWidth) }
        if let maxHeight { newHeight = min(newHeight, maxHeight) }
        return (newWidth, newHeight)
    }

    /// The height for `width` that keeps the aspect ratio of `sourceWidth`x`sourceHeight`.
    package static func height(forWidth width: Int, sourceWidth: Int, sourceHeight: Int) -> Int {
        max(1, Int((Double(sourceHeight) * Double(width) / Double(sourceWidth)).rounded()))
    }

    /// `frame` scaled to `width`x`height` (each at most the source's).
    ///
    /// Per output row: the source rows it covers are summed with their weights into one row of floats, then
    /// each output pixel sums the columns it covers. Output rows are spread over every core
    /// (`DispatchQueue.concurrentPerform`); blocking and CPU-bound, so call it from a thread pool.
    package static func scale(_ frame: Frame, width: Int, height: Int) -> Frame {
        precondition(width >= 1 && height >= 1 && width <= frame.width && height <= frame.height)
        if width == frame.width && height == frame.height { return frame }
        let columns = Taps(source: frame.width, target: width)
        let rows = Taps(source: frame.height, target: height)
        let sourceWidth = frame.width
        let threads = min(height, processorCount)
        let rgb = [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, count in
            frame.rgb.withUnsafeBufferPointer { source in
                // Shared without locks, safely: each output row is written by exactly one thread (rows are
                // dealt out round-robin by thread number), the source and the taps are only read, and
                // concurrentPerform returns once every thread is done.
                nonisolated(unsafe) let source = source
                nonisolated(unsafe) let out = out
                DispatchQueue.concurrentPerform(iterations: threads) { thread in
                    var line = [Float](repeating: 0, count: sourceWidth * 3)
                    line.withUnsafeMutableBufferPointer { line in
                        for y in stride(from: thread, to: height, by: threads) {
                            rows.sum(y, of: source, rowLength: sourceWidth * 3, into: line)
                            columns.columns(of: line, into: out, at: y * width * 3, count: width)
                        }
                    }
                }
            }
            count = width * height * 3
        }
        return Frame(width: width, height: height, rgb: rgb)
    }

    private static var processorCount: Int {
        min(64, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// For each target index along one axis: the first source index it covers and the weights of the source
    /// indices it covers, which sum to 1. All weights are in one flat array; `offsets` says where each begins.
    private struct Taps {
        var first: [Int] = []
        var offsets: [Int] = []
        var weights: [Float] = []

        init(source: Int, target: Int) {
            let scale = Double(source) / Double(target)
            for i in 0..<target {
                let start = Double(i) * scale
                let end = Double(i + 1) * scale
                let firstIndex = Int(start.rounded(.down))
                let lastIndex = min(source - 1, Int(end.rounded(.up)) - 1)
                first.append(firstIndex)
                offsets.append(weights.count)
                for j in firstIndex...max(firstIndex, lastIndex) {
                    let covered = min(end, Double(j + 1)) - max(start, Double(j))
                    weights.append(Float(max(0, covered) / scale))
                }
            }
            offsets.append(weights.count)
        }

        /// Vertical: the weighted sum of the source rows that output row `y` covers, into `line`.
        func sum(
            _ y: Int,
            of source: UnsafeBufferPointer<UInt8>,
            rowLength: Int,
            into line: UnsafeMutableBufferPointer<Float>
        ) {
            weights.withUnsafeBufferPointer { weights in
                let firstWeight = offsets[y]
                for index in 0..<rowLength { line[index] = 0 }
                for tap in firstWeight..<offsets[y + 1] {
                    let weight = weights[tap]
                    let row = (first[y] + tap - firstWeight) * rowLength
                    for index in 0..<rowLength { line[index] += weight * Float(source[row + index]) }
                }
            }
        }

        /// Horizontal: each of `count` output pixels is the weighted sum of the `line` pixels it covers, rounded
        /// into `out` from `start`.
        func columns(
            of line: UnsafeMutableBufferPointer<Float>,
            into out: UnsafeMutableBufferPointer<UInt8>,
            at start: Int,
            count: Int
        ) {
            weights.withUnsafeBufferPointer { weights in
                first.withUnsafeBufferPointer { first in
                    offsets.withUnsafeBufferPointer { offsets in
                        for x in 0..<count {
                            var red: Float = 0
                            var green: Float = 0
                            var blue: Float = 0
                            var pixel = first[x] * 3
                            for tap in offsets[x]..<offsets[x + 1] {
                                let weight = weights[tap]
                                red += weight * line[pixel]
                                green += weight * line[pixel + 1]
                                blue += weight * line[pixel + 2]
                                pixel += 3
                            }
                            out[start + x * 3] = Self.byte(red)
                            out[start + x * 3 + 1] = Self.byte(green)
                            out[start + x * 3 + 2] = Self.byte(blue)
                        }
                    }
                }
            }
        }

        @inline(__always)
        private static func byte(_ value: Float) -> UInt8 { UInt8(min(255, max(0, value.rounded()))) }
    }
}
