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
    package static func scale(_ frame: Frame, width: Int, height: Int) -> Frame {
        precondition(width >= 1 && height >= 1 && width <= frame.width && height <= frame.height)
        if width == frame.width && height == frame.height { return frame }
        let columns = Taps(source: frame.width, target: width)
        let rows = Taps(source: frame.height, target: height)
        // Horizontal pass into floats, one row per source row; then the vertical pass into bytes.
        var horizontal = [Float](repeating: 0, count: width * frame.height * 3)
        frame.rgb.withUnsafeBufferPointer { source in
            horizontal.withUnsafeMutableBufferPointer { out in
                for y in 0..<frame.height {
                    let sourceRow = y * frame.width * 3
                    let outRow = y * width * 3
                    for x in 0..<width {
                        var red: Float = 0
                        var green: Float = 0
                        var blue: Float = 0
                        for tap in columns.range(x) {
                            let weight = columns.weights[tap]
                            let i = sourceRow + (columns.first[x] + tap - columns.offsets[x]) * 3
                            red += weight * Float(source[i])
                            green += weight * Float(source[i + 1])
                            blue += weight * Float(source[i + 2])
                        }
                        out[outRow + x * 3] = red
                        out[outRow + x * 3 + 1] = green
                        out[outRow + x * 3 + 2] = blue
                    }
                }
            }
        }
        let rgb = [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, count in
            horizontal.withUnsafeBufferPointer { source in
                for y in 0..<height {
                    let outRow = y * width * 3
                    for i in 0..<(width * 3) {
                        var sum: Float = 0
                        for tap in rows.range(y) {
                            sum += rows.weights[tap] * source[(rows.first[y] + tap - rows.offsets[y]) * width * 3 + i]
                        }
                        out[outRow + i] = UInt8(min(255, max(0, sum.rounded())))
                    }
                }
            }
            count = width * height * 3
        }
        return Frame(width: width, height: height, rgb: rgb)
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

        /// The indices into `weights` for target index `i`.
        @inline(__always)
        func range(_ i: Int) -> Range<Int> { offsets[i]..<offsets[i + 1] }
    }
}
