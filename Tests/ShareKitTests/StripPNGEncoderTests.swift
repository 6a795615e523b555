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
        let frame = SyntheticDesktop.desktop(width: 800, height: 450)
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
        let text = SyntheticDesktop.denseText(width: width, height: 64).rgb
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

    @Test("The run-length coder round-trips every run length, incompressible bytes and skewed symbol counts")
    func runLengthCoder() throws {
        let encoder = StripPNGEncoder(stripHeight: 1000, strategy: .rle, filter: .up)
        // Runs of every length from 1 to 300 (deflate's lengths end at 258, so longer runs take two matches),
        // ending exactly at the row's end too.
        var runs: [UInt8] = []
        for length in 1...300 { runs += [UInt8](repeating: UInt8(truncatingIfNeeded: length), count: length) }
        try expectDecodes(try encoder.encode(Self.oneRow(filteredAs: runs)), to: Self.oneRow(filteredAs: runs))
        // A flat frame: one literal, then runs of 258 only.
        let flat = Frame(width: 777, height: 77, rgb: [UInt8](repeating: 7, count: 777 * 77 * 3))
        try expectDecodes(try encoder.encode(flat), to: flat)
        // Random bytes: no Huffman code beats storing them, so they go into stored blocks (over 65535 bytes, so
        // more than one).
        var random = SplitMix(state: 11)
        let noise = (0..<90_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let stored = try encoder.encode(Self.oneRow(filteredAs: noise))
        try expectDecodes(stored, to: Self.oneRow(filteredAs: noise))
        // The PNG's own 65 bytes, and 5 per stored block: a Huffman block's code lengths alone take more.
        #expect(stored.count < noise.count + 128)
        // Byte counts that grow like the Fibonacci numbers: an unlimited Huffman code would need codes of over
        // 15 bits, which deflate does not allow.
        var counts = [1, 1]
        while counts.count < 26 { counts.append(counts[counts.count - 1] + counts[counts.count - 2]) }
        var skewed = counts.enumerated().flatMap { symbol, count in
            [UInt8](repeating: UInt8(symbol * 9 + 1), count: count)
        }
        // Interleaved deterministically, so that most bytes are literals rather than runs.
        for index in skewed.indices.reversed() {
            skewed.swapAt(index, Int(random.next() % UInt64(index + 1)))
        }
        let skewedFrame = Self.oneRow(filteredAs: skewed)
        try expectDecodes(try encoder.encode(skewedFrame), to: skewedFrame)
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

    /// One row whose SUB filter (the first row of a strip) gives exactly `filtered` (padded to whole pixels).
    static func oneRow(filteredAs filtered: [UInt8]) -> Frame {
        var rgb = filtered + [UInt8](repeating: 0, count: (3 - filtered.count % 3) % 3)
        for i in 3..<max(3, rgb.count) { rgb[i] &+= rgb[i - 3] }
        return Frame(width: rgb.count / 3, height: 1, rgb: rgb)
    }

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
}
