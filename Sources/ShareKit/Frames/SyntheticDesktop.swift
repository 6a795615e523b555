import Foundation

/// Desktop-like pictures, the same every time for a seed: the frames the encoder tests and the benchmarks use
/// (`share-bench` draws them on an Xvfb screen). Not used by `share start`.
package enum SyntheticDesktop {
    /// A desktop-like picture: a gradient wallpaper, a panel, an editor with anti-aliased text in several colours,
    /// a photo with sensor noise, a terminal and dock icons.
    package static func desktop(width: Int, height: Int, seed: UInt64 = 1) -> Frame {
        var canvas = Canvas(width: width, height: height, seed: seed)
        canvas.paintDesktop()
        return Frame(width: width, height: height, rgb: canvas.rgb)
    }

    /// A screen full of small dark text on white, the worst case for run-length matching.
    package static func denseText(width: Int, height: Int, seed: UInt64 = 2) -> Frame {
        var canvas = Canvas(width: width, height: height, seed: seed)
        canvas.fill(0, 0, width, height, (255, 255, 255))
        canvas.text(
            0,
            0,
            width,
            height,
            colours: [(20, 20, 20), (20, 20, 20), (0, 0, 180)],
            background: (255, 255, 255),
            lineHeight: 15,
            dense: true
        )
        return Frame(width: width, height: height, rgb: canvas.rgb)
    }
}

/// SplitMix64: a small deterministic generator for test pictures.
package struct SplitMix {
    package var state: UInt64

    package init(state: UInt64) { self.state = state }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    package mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Paints desktop-like test pictures.
private struct Canvas {
    typealias Colour = (Int, Int, Int)

    let width: Int
    let height: Int
    var rgb: [UInt8]
    var random: SplitMix
    /// 96 glyphs of 7x13 cells with anti-aliasing coverage 0-3.
    var glyphs: [[UInt8]] = []

    init(width: Int, height: Int, seed: UInt64) {
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 0, count: width * height * 3)
        random = SplitMix(state: seed)
        for _ in 0..<96 {
            var glyph = [UInt8](repeating: 0, count: 7 * 13)
            for _ in 0..<4 {
                let vertical = random.below(2) == 0
                let line = random.below(vertical ? 6 : 10) + 1
                let from = random.below(4)
                for k in 0..<(3 + random.below(6)) {
                    let (gx, gy) = vertical ? (line, 2 + from + k) : (from + k, line + 1)
                    guard gx < 7, gy < 13 else { continue }
                    glyph[gy * 7 + gx] = 3
                    if gx + 1 < 7, glyph[gy * 7 + gx + 1] == 0 { glyph[gy * 7 + gx + 1] = 1 }
                    if gy + 1 < 13, glyph[(gy + 1) * 7 + gx] == 0 { glyph[(gy + 1) * 7 + gx] = 2 }
                }
            }
            glyphs.append(glyph)
        }
    }

    mutating func set(_ x: Int, _ y: Int, _ colour: Colour) {
        guard x >= 0, x < width, y >= 0, y < height else { return }
        let i = (y * width + x) * 3
        rgb[i] = UInt8(clamping: colour.0)
        rgb[i + 1] = UInt8(clamping: colour.1)
        rgb[i + 2] = UInt8(clamping: colour.2)
    }

    mutating func fill(_ x0: Int, _ y0: Int, _ w: Int, _ h: Int, _ colour: Colour) {
        for y in max(0, y0)..<max(max(0, y0), min(height, y0 + h)) {
            for x in max(0, x0)..<max(max(0, x0), min(width, x0 + w)) { set(x, y, colour) }
        }
    }

    /// Lines of words of random glyphs, ragged, with some empty lines.
    mutating func text(
        _ x0: Int,
        _ y0: Int,
        _ w: Int,
        _ h: Int,
        colours: [Colour],
        background: Colour,
        lineHeight: Int,
        dense: Bool = false
    ) {
        var y = y0 + 4
        while y + 13 <= y0 + h {
            let words = !dense && random.below(6) == 0 ? 0 : (dense ? 30 : 2) + random.below(12)
            var x = x0 + 6 + 8 * 4 * random.below(3)
            for _ in 0..<words {
                let colour = colours[random.below(colours.count)]
                let letters = 2 + random.below(8)
                if x + 8 * letters > x0 + w - 6 { break }
                for _ in 0..<letters {
                    let glyph = glyphs[random.below(glyphs.count)]
                    for gy in 0..<13 {
                        for gx in 0..<7 where glyph[gy * 7 + gx] != 0 {
                            let level = Int(glyph[gy * 7 + gx])
                            set(
                                x + gx,
                                y + gy,
                                (
                                    (colour.0 * level + background.0 * (3 - level)) / 3,
                                    (colour.1 * level + background.1 * (3 - level)) / 3,
                                    (colour.2 * level + background.2 * (3 - level)) / 3
                                )
                            )
                        }
                    }
                    x += 8
                }
                x += 8
            }
            y += lineHeight
        }
    }

    mutating func window(_ x: Int, _ y: Int, _ w: Int, _ h: Int) {
        fill(x - 1, y - 1, w + 2, h + 2, (60, 60, 60))
        fill(x, y, w, 30, (222, 222, 222))
        text(x + 40, y + 4, w / 2, 26, colours: [(30, 30, 30)], background: (222, 222, 222), lineHeight: 18)
        for (k, colour) in [(230, 80, 70), (240, 190, 60), (90, 190, 90)].enumerated() {
            fill(x + w - 26 - 24 * k, y + 8, 14, 14, colour)
        }
    }

    mutating func paintDesktop() {
        // Wallpaper: a smooth two-axis gradient.
        for y in 0..<height {
            for x in 0..<width {
                set(x, y, (40 + 60 * x / width, 70 + 90 * y / height, 140 + 80 * (x + y) / (width + height)))
            }
        }
        // Top panel with a menu and a clock.
        let panel: Colour = (32, 32, 36)
        fill(0, 0, width, 28, panel)
        text(8, 2, 400, 26, colours: [(230, 230, 230)], background: panel, lineHeight: 20)
        text(width - 200, 2, 190, 26, colours: [(230, 230, 230)], background: panel, lineHeight: 20)

        // An editor: a sidebar and text with syntax colours.
        let (ex, ey, ew, eh) = (width / 32, height / 16, width * 9 / 16, height * 13 / 15)
        window(ex, ey, ew, eh)
        fill(ex, ey + 30, ew, eh - 30, (255, 255, 255))
        fill(ex, ey + 30, 180, eh - 30, (243, 243, 246))
        text(ex, ey + 36, 180, eh - 40, colours: [(60, 60, 70)], background: (243, 243, 246), lineHeight: 22)
        text(
            ex + 190,
            ey + 36,
            ew - 200,
            eh - 40,
            colours: [(20, 20, 20), (20, 20, 20), (0, 0, 200), (160, 20, 20), (0, 120, 0)],
            background: (255, 255, 255),
            lineHeight: 18
        )

        // A photo: smooth shapes with sensor noise.
        let (px, py, pw, ph) = (width * 19 / 32, height / 10, width * 12 / 32, height * 9 / 20)
        window(px, py, pw, ph)
        for y in (py + 30)..<(py + ph) {
            for x in px..<(px + pw) {
                let u = Double(x - px) / Double(pw)
                let v = Double(y - py) / Double(ph)
                let red = 128 + 90 * sin(6.3 * u + 1) * cos(4.1 * v)
                let green = 110 + 80 * sin(3.7 * v + 2 * u)
                let blue = 100 + 70 * cos(5.3 * u * v + 0.5)
                set(
                    x,
                    y,
                    (
                        Int(red) + random.below(13) - 6, Int(green) + random.below(13) - 6,
                        Int(blue) + random.below(13) - 6
                    )
                )
            }
        }

        // A terminal.
        let (tx, ty, tw, th) = (width * 19 / 32, height * 6 / 10, width * 12 / 32, height * 35 / 100)
        window(tx, ty, tw, th)
        fill(tx, ty + 30, tw, th - 30, (30, 30, 30))
        text(
            tx,
            ty + 34,
            tw,
            th - 36,
            colours: [(204, 204, 204), (204, 204, 204), (80, 220, 100), (100, 150, 255)],
            background: (30, 30, 30),
            lineHeight: 17
        )

        // Dock icons.
        for k in 0..<8 {
            let x0 = width / 2 - 8 * 30 + k * 60
            for y in (height - 56)..<(height - 8) {
                for x in x0..<(x0 + 48) {
                    set(x, y, ((k * 37 + x - x0) & 255, (k * 91 + 2 * (y - height + 56)) & 255, 200 - k * 20))
                }
            }
        }
    }
}
