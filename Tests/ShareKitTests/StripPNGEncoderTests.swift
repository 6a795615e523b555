import Foundation
import Testing

@testable import ShareKit

@Suite("Strip PNG encoder")
struct StripPNGEncoderTests {
    /// Sizes around the strip height (32), with odd widths and single rows and columns.
    static let sizes: [(width: Int, height: Int)] = [
        (1, 1), (3, 7), (257, 129), (1, 200), (300, 1), (32, 32), (65, 31), (97, 33), (31, 192),
    ]

    @Test("Encoded frames decode with libpng to exactly the same pixels", arguments: sizes)
    func roundTrip(size: (width: Int, height: Int)) throws {
        let frame = Self.noisyFrame(width: size.width, height: size.height, seed: 1)
        let encoder = StripPNGEncoder()
        try expectDecodes(try encoder.encode(frame), to: frame)
        let stripCount = (size.height + encoder.stripHeight - 1) / encoder.stripHeight
        #expect(strips(encoder.lastEncode) == [stripCount, 0])
    }

    @Test(
        "Every filter, strategy and strip height round-trips",
        arguments: [StripPNGEncoder.Filter.up, .paeth],
        [StripPNGEncoder.Strategy.default, .rle, .adaptive]
    )
    func settings(filter: StripPNGEncoder.Filter, strategy: StripPNGEncoder.Strategy) throws {
        for stripHeight in [1, 2, 7, 64, 1000] {
            for size in [(257, 129), (5, 3), (1, 9)] {
                let frame = Self.noisyFrame(width: size.0, height: size.1, seed: UInt64(stripHeight))
                let encoder = StripPNGEncoder(stripHeight: stripHeight, strategy: strategy, filter: filter)
                try expectDecodes(try encoder.encode(frame), to: frame)
            }
        }
    }

    @Test("A desktop-like frame round-trips at every level, and run lengths do not depend on the level")
    func desktop() throws {
        let frame = Self.desktopFrame(width: 800, height: 450)
        for level: Int32 in [1, 6, 9] {
            try expectDecodes(try StripPNGEncoder(level: level).encode(frame), to: frame)
        }
        let rle = try StripPNGEncoder(strategy: .rle).encode(frame)
        try expectDecodes(rle, to: frame)
        #expect(try StripPNGEncoder(level: 9, strategy: .rle).encode(frame) == rle)
    }

    @Test("The output does not depend on how many threads compress the strips")
    func threads() throws {
        let frame = Self.noisyFrame(width: 123, height: 1000, seed: 3)
        let one = try StripPNGEncoder(stripHeight: 16, concurrency: 1).encode(frame)
        let four = try StripPNGEncoder(stripHeight: 16, concurrency: 4).encode(frame)
        #expect(one == four)
        try expectDecodes(one, to: frame)
    }

    @Test("An unchanged frame reuses every strip and gives identical bytes")
    func unchanged() throws {
        let frame = Self.noisyFrame(width: 200, height: 300, seed: 4)
        let encoder = StripPNGEncoder(stripHeight: 64)
        let first = try encoder.encode(frame)
        #expect(strips(encoder.lastEncode) == [5, 0])
        let second = try encoder.encode(Frame(width: 200, height: 300, rgb: frame.rgb))
        #expect(strips(encoder.lastEncode) == [0, 5])
        #expect(second == first)
        #expect(strips(encoder.total) == [5, 5])
    }

    @Test("A partly changed frame recompresses only the changed strips and matches a fresh encode")
    func partlyChanged() throws {
        let width = 200
        let height = 300
        let frame = Self.noisyFrame(width: width, height: height, seed: 5)
        let encoder = StripPNGEncoder(stripHeight: 64)
        _ = try encoder.encode(frame)

        // One pixel in strip 1 (rows 64-127), and the last row of strip 3 (rows 192-255): strip 4 is reused, which
        // is right only if its first row does not depend on the row above it.
        var rgb = frame.rgb
        rgb[(100 * width + 17) * 3 + 1] &+= 1
        for x in 0..<(width * 3) { rgb[255 * width * 3 + x] = UInt8(truncatingIfNeeded: x * 7) }
        let changed = Frame(width: width, height: height, rgb: rgb)
        let png = try encoder.encode(changed)
        #expect(strips(encoder.lastEncode) == [2, 3])
        try expectDecodes(png, to: changed)
        #expect(png == (try StripPNGEncoder(stripHeight: 64).encode(changed)))

        // And back: strips 1 and 3 change again, the others are reused.
        let back = try encoder.encode(frame)
        #expect(strips(encoder.lastEncode) == [2, 3])
        try expectDecodes(back, to: frame)
    }

    @Test("A frame of another size starts the cache afresh")
    func resized() throws {
        let encoder = StripPNGEncoder(stripHeight: 64)
        let small = Self.noisyFrame(width: 200, height: 300, seed: 6)
        _ = try encoder.encode(small)
        // Same byte count, other shape: nothing may be reused.
        let reshaped = Frame(width: 300, height: 200, rgb: small.rgb)
        try expectDecodes(try encoder.encode(reshaped), to: reshaped)
        #expect(strips(encoder.lastEncode) == [4, 0])
        let large = Self.noisyFrame(width: 640, height: 480, seed: 7)
        try expectDecodes(try encoder.encode(large), to: large)
        #expect(strips(encoder.lastEncode) == [8, 0])
        try expectDecodes(try encoder.encode(small), to: small)
        #expect(strips(encoder.lastEncode) == [5, 0])
    }

    @Test("A frame without pixels is refused with a message")
    func empty() {
        #expect(throws: ShareError.self) { try StripPNGEncoder().encode(Frame(width: 0, height: 0, rgb: [])) }
    }

    @Test("The adaptive strategy uses LZ77 for text and run lengths for noise and flat areas")
    func adaptive() throws {
        let width = 400
        let noise = Self.noisyFrame(width: width, height: 64, seed: 8).rgb.enumerated().map { i, byte in
            byte &+ UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 13)
        }
        let text = Self.textFrame(width: width, height: 64).rgb
        let flat = [UInt8](repeating: 90, count: width * 64 * 3)
        let frame = Frame(width: width, height: 192, rgb: noise + text + flat)
        let encoder = StripPNGEncoder(stripHeight: 64)
        try expectDecodes(try encoder.encode(frame), to: frame)
        #expect(encoder.lastEncode == .init(stripsCompressed: 3, stripsReused: 0, stripsRunLength: 2))
        let lz77 = StripPNGEncoder(stripHeight: 64, strategy: .default)
        _ = try lz77.encode(frame)
        #expect(lz77.lastEncode.stripsRunLength == 0)
        let rle = StripPNGEncoder(stripHeight: 64, strategy: .rle)
        _ = try rle.encode(frame)
        #expect(rle.lastEncode.stripsRunLength == 3)
    }

    /// Strips compressed and reused.
    private func strips(_ counters: StripPNGEncoder.Counters) -> [Int] {
        [counters.stripsCompressed, counters.stripsReused]
    }

    private func expectDecodes(
        _ png: [UInt8],
        to frame: Frame,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let decoded = try decodePNG(png)
        #expect(decoded.width == frame.width && decoded.height == frame.height, sourceLocation: sourceLocation)
        #expect(
            firstDifference(decoded.rgb, frame.rgb, width: frame.width) == nil,
            "\(frame.width)x\(frame.height)",
            sourceLocation: sourceLocation
        )
    }

    // MARK: - Pictures

    /// Flat areas, gradients and random bytes side by side, so that every filter case (ties included) occurs.
    static func noisyFrame(width: Int, height: Int, seed: UInt64) -> Frame {
        var random = SplitMix(state: seed)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                switch (x / 16 + y / 16) % 4 {
                case 0: (rgb[i], rgb[i + 1], rgb[i + 2]) = (200, 30, 30)
                case 1: (rgb[i], rgb[i + 1], rgb[i + 2]) = (UInt8(x & 255), UInt8(y & 255), UInt8((x + y) & 255))
                case 2:
                    for k in 0..<3 { rgb[i + k] = UInt8(truncatingIfNeeded: random.next()) }
                default:
                    for k in 0..<3 { rgb[i + k] = UInt8(truncatingIfNeeded: (i + k) &* 31 &+ (i + k) / 7) }
                }
            }
        }
        return Frame(width: width, height: height, rgb: rgb)
    }

    /// A desktop-like picture: a gradient wallpaper, a panel, an editor with anti-aliased text in several colours,
    /// a photo with sensor noise, a terminal and dock icons.
    static func desktopFrame(width: Int, height: Int, seed: UInt64 = 1) -> Frame {
        var canvas = Canvas(width: width, height: height, seed: seed)
        canvas.paintDesktop()
        return Frame(width: width, height: height, rgb: canvas.rgb)
    }

    /// A screen full of small dark text on white, the worst case for run-length matching.
    static func textFrame(width: Int, height: Int, seed: UInt64 = 2) -> Frame {
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
private struct SplitMix {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
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
