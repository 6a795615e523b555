package import Foundation
import NIOPosix

/// The built-in test card: a self-describing picture that changes every second, served by `--test-card`
/// instead of the screen. It shows the share name, the host, the time, colour bars, a grey ramp and geometry
/// marks, so a room can check that it connects, sees colours right and is not frozen, before anything private
/// is shown. It needs no X server.
package struct TestCardSource: FrameSource {
    package let name: String
    package let host: String
    package let width: Int
    package let height: Int
    private let now: @Sendable () -> Date

    package init(
        name: String,
        host: String,
        width: Int = 1280,
        height: Int = 720,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.name = name
        self.host = host
        self.width = width
        self.height = height
        self.now = now
    }

    package var summary: String { "test card, \(width)x\(height)" }

    /// The eight colour bars, left to right.
    package static let bars: [(UInt8, UInt8, UInt8)] = [
        (255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0),
        (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0),
    ]

    /// Drawn on `NIOThreadPool.singleton`: tasks may run on the event loops (`ShareServer.runTasksOnEventLoops`).
    package func captureFrame() async throws -> Frame {
        let date = now()
        return try await NIOThreadPool.singleton.runIfActive { self.render(at: date) }
    }

    /// Draws the card as it looks at `date`.
    package func render(at date: Date) -> Frame {
        var canvas = Canvas(width: width, height: height, fill: (32, 34, 40))
        let second = Int(date.timeIntervalSince1970.rounded(.down))

        // Colour bars across the top third.
        let barHeight = height / 3
        for (index, colour) in Self.bars.enumerated() {
            let x0 = index * width / Self.bars.count
            let x1 = (index + 1) * width / Self.bars.count
            canvas.fill(x: x0, y: 0, width: x1 - x0, height: barHeight, colour: colour)
        }
        // A grey ramp below them.
        let rampY = barHeight
        let rampHeight = height / 12
        for x in 0..<width {
            let level = UInt8(x * 255 / max(width - 1, 1))
            canvas.fill(x: x, y: rampY, width: 1, height: rampHeight, colour: (level, level, level))
        }
        // A one-pixel white frame and corner squares, to show cropping and scaling.
        canvas.fill(x: 0, y: 0, width: width, height: 1, colour: (255, 255, 255))
        canvas.fill(x: 0, y: height - 1, width: width, height: 1, colour: (255, 255, 255))
        canvas.fill(x: 0, y: 0, width: 1, height: height, colour: (255, 255, 255))
        canvas.fill(x: width - 1, y: 0, width: 1, height: height, colour: (255, 255, 255))
        let mark = max(8, height / 24)
        for (x, y) in [(0, height - mark), (width - mark, height - mark)] {
            canvas.fill(x: x, y: y, width: mark, height: mark, colour: (255, 128, 0))
        }
        // A marker that steps along a track once a second: a frozen picture is obvious.
        let trackY = height - mark * 3
        let steps = 10
        let step = (width - 2 * mark) / steps
        canvas.fill(x: mark, y: trackY, width: step * steps, height: mark, colour: (60, 62, 70))
        canvas.fill(x: mark + (second % steps) * step, y: trackY, width: step, height: mark, colour: (0, 200, 120))

        // The words.
        let scale = max(2, height / 120)
        let lineHeight = (BitmapFont.glyphHeight + 3) * scale
        var y = rampY + rampHeight + lineHeight / 2
        let time = Self.clockTime(second)
        for (line, colour) in [
            ("share test card", (170, 175, 190) as (UInt8, UInt8, UInt8)),
            (name, (255, 255, 255)),
            ("host: \(host)", (255, 255, 255)),
            ("time: \(time)", (255, 220, 80)),
            ("\(width)x\(height)", (170, 175, 190)),
        ] {
            canvas.text(line, x: mark * 2, y: y, scale: scale, colour: colour)
            y += lineHeight
        }
        return Frame(width: width, height: height, rgb: canvas.rgb)
    }

    /// "HH:MM:SS" in local time.
    private static func clockTime(_ second: Int) -> String {
        var seconds = time_t(second)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return String(format: "%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}

/// An RGB drawing surface for the test card.
private struct Canvas {
    let width: Int
    let height: Int
    var rgb: [UInt8]

    init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 0, count: width * height * 3)
        self.fill(x: 0, y: 0, width: width, height: height, colour: fill)
    }

    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, colour: (UInt8, UInt8, UInt8)) {
        let x0 = max(0, x)
        let y0 = max(0, y)
        let x1 = min(width, x + w)
        let y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        rgb.withUnsafeMutableBufferPointer { pixels in
            for row in y0..<y1 {
                var i = (row * width + x0) * 3
                for _ in x0..<x1 {
                    pixels[i] = colour.0
                    pixels[i + 1] = colour.1
                    pixels[i + 2] = colour.2
                    i += 3
                }
            }
        }
    }

    /// Draws `string` with its top-left corner at (x, y), each font pixel `scale` pixels wide, clipped at the
    /// right edge.
    mutating func text(_ string: String, x: Int, y: Int, scale: Int, colour: (UInt8, UInt8, UInt8)) {
        var penX = x
        for character in string {
            guard penX + BitmapFont.glyphWidth * scale <= width else { break }
            for (column, bits) in BitmapFont.columns(of: character).enumerated() {
                for row in 0..<BitmapFont.glyphHeight where bits & (1 << row) != 0 {
                    fill(x: penX + column * scale, y: y + row * scale, width: scale, height: scale, colour: colour)
                }
            }
            penX += (BitmapFont.glyphWidth + 1) * scale
        }
    }
}
