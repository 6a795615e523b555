import CX11
import NIOCore
import Testing

@testable import ShareKit

/// The incremental capture (`FrameAssembler`): only the bands of rows that changed are converted, an unchanged
/// screen gives the last frame, and every frame and its PNG still equal the screen exactly.
@Suite(
    "Incremental capture on a real X display",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these"),
    .serialized
)
struct IncrementalCaptureTests {
    /// Captures through `store`, checks the frame and its decoded PNG against `model`, and returns the frame
    /// served and how many bands the capture converted.
    func captureAndCheck(
        _ source: XScreenSource,
        _ store: FrameStore,
        _ model: ScreenModel,
        _ what: String
    ) async throws -> (frame: EncodedFrame, converted: Int) {
        let before = try await source.bandsConverted()
        let served = try await store.currentFrame()
        let converted = try await source.bandsConverted() - before
        let pixels = try #require(served.pixels)
        #expect(pixels.width == model.width && pixels.height == model.height, "\(what)")
        #expect(firstDifference(pixels.rgb, model.rgb, width: model.width) == nil, "\(what): the frame")
        let decoded = try decodePNG(Array(buffer: served.png))
        #expect(decoded.width == model.width && decoded.height == model.height, "\(what)")
        #expect(firstDifference(decoded.rgb, model.rgb, width: model.width) == nil, "\(what): the PNG")
        return (served, converted)
    }

    @Test(
        "Small changes, band boundaries and the last partial band: only the bands concerned are converted, and the frame and PNG equal the screen"
    )
    func changedBands() async throws {
        // 481 rows: 15 bands of 32 and a last band of one row.
        try await withXvfb(width: 641, height: 481) { xvfb in
            let model = try ScreenModel(on: xvfb.displayName, width: 641, height: 481)
            try TestPattern(width: 641, height: 481, depth: 24, seed: 2).draw(on: xvfb.displayName)
            model.rgb = TestPattern(width: 641, height: 481, depth: 24, seed: 2).expected

            let source = try await XScreenSource.open(displayName: xvfb.displayName)
            defer { Task { await source.close() } }
            let store = FrameStore(source: source, interval: .nanoseconds(1))
            let bandCount = 16
            var first = try await captureAndCheck(source, store, model, "first capture")
            #expect(first.converted == bandCount)

            // Unchanged: the same frame and ETag, nothing converted, nothing encoded.
            let encodes = store.statistics.encodes
            let unchanged = try await captureAndCheck(source, store, model, "unchanged")
            #expect(unchanged.converted == 0)
            #expect(unchanged.frame.etag == first.frame.etag)
            #expect(store.statistics.encodes == encodes, "an unchanged screen is not encoded")

            // Each change: (rectangle, the bands it touches). Only those bands are converted (the frame is written
            // into the buffer of the frame before the last; the bands of the change before are copied).
            let changes: [(x: Int, y: Int, width: Int, height: Int, bands: Set<Int>, what: String)] = [
                (0, 0, 641, 481, Set(0..<bandCount), "a full change"),
                (100, 100, 10, 5, [3], "a small area"),
                (300, 62, 40, 4, [1, 2], "across a band boundary"),
                (0, 480, 641, 1, [15], "the last, one-row band"),
                (640, 0, 1, 1, [0], "the last pixel of the first row"),
                (5, 448, 3, 33, [14, 15], "the last two bands"),
            ]
            for (index, change) in changes.enumerated() {
                model.fill(x: change.x, y: change.y, width: change.width, height: change.height, colour: index)
                let result = try await captureAndCheck(source, store, model, change.what)
                #expect(result.frame.etag != first.frame.etag, "\(change.what): a new ETag")
                if index > 0 {
                    #expect(result.converted == change.bands.count, "\(change.what)")
                }
                first = result
                let again = try await captureAndCheck(source, store, model, change.what + ", again")
                #expect(again.converted == 0 && again.frame.etag == result.frame.etag, "\(change.what): unchanged")
            }

            // Back to an earlier picture: pixels equal to before give the ETag they had before.
            try TestPattern(width: 641, height: 481, depth: 24, seed: 2).draw(on: xvfb.displayName)
            model.rgb = TestPattern(width: 641, height: 481, depth: 24, seed: 2).expected
            let back = try await captureAndCheck(source, store, model, "the first picture again")
            #expect(back.frame.etag == unchanged.frame.etag, "the same pixels, the same strong ETag")
            await source.close()
        }
    }

    @Test("A shared window that changes size is captured whole at each size, and its PNG equals it")
    func sizeChanges() async throws {
        try await withXvfb(width: 640, height: 480) { xvfb in
            try TestPattern(width: 640, height: 480, depth: 24, seed: 4).draw(on: xvfb.displayName)
            let window = try TestWindow(on: xvfb.displayName, x: 30, y: 40, width: 121, height: 70)
            defer { window.close() }
            let source = try await XScreenSource.open(displayName: xvfb.displayName, area: .window(window.id))
            defer { Task { await source.close() } }
            let store = FrameStore(source: source, interval: .nanoseconds(1))
            for (width, height) in [(121, 70), (200, 97), (121, 70), (64, 33), (64, 32)] {
                window.resize(width: width, height: height)
                let served = try await store.currentFrame()
                let pixels = try #require(served.pixels)
                #expect(pixels.width == width && pixels.height == height)
                #expect(firstDifference(pixels.rgb, window.expected, width: width) == nil, "\(width)x\(height)")
                let decoded = try decodePNG(Array(buffer: served.png))
                #expect(firstDifference(decoded.rgb, window.expected, width: width) == nil, "\(width)x\(height) PNG")
            }
            await source.close()
        }
    }

    @Test("The pointer: a still pointer keeps the ETag; each move redraws it with no trace of where it was")
    func pointerMoves() async throws {
        try await withPointer(seed: 6, x: 40, y: 30) { xvfb, pattern, _ in
            let plain = Frame(width: 320, height: 240, rgb: pattern.expected)
            let source = try await XScreenSource.open(displayName: xvfb.displayName, drawsCursor: true)
            defer { Task { await source.close() } }
            let store = FrameStore(source: source, interval: .nanoseconds(1))
            var etags: [String] = []
            // Back to the first place at the end: the buffer it is written into last showed the pointer elsewhere.
            for (x, y) in [(40, 30), (150, 100), (290, 190), (40, 30), (41, 30)] {
                try TestDisplay.warpPointer(on: xvfb.displayName, x: x, y: y)
                let cursor = try TestDisplay.cursor(on: xvfb.displayName)
                let image = CursorImage(
                    x: cursor.x,
                    y: cursor.y,
                    width: cursor.width,
                    height: cursor.height,
                    argb: cursor.argb
                )
                let expected = image.drawn(over: plain, originX: 0, originY: 0).rgb
                let served = try await store.currentFrame()
                #expect(firstDifference(try #require(served.pixels).rgb, expected, width: 320) == nil, "at \(x),\(y)")
                let decoded = try decodePNG(Array(buffer: served.png))
                #expect(firstDifference(decoded.rgb, expected, width: 320) == nil, "PNG at \(x),\(y)")
                let encodes = store.statistics.encodes
                let still = try await store.currentFrame()
                #expect(still.etag == served.etag && store.statistics.encodes == encodes, "a still pointer")
                etags.append(served.etag)
            }
            #expect(etags[0] == etags[3], "the same place, the same pixels, the same ETag")
            #expect(Set(etags).count == 4, "every move is a new frame")
            await source.close()
        }
    }

    @Test("A hidden pointer that moves changes nothing: same frame, same ETag, no conversion, no encode")
    func hiddenPointer() async throws {
        try await withXvfb(width: 320, height: 240) { xvfb in
            try TestPattern(width: 320, height: 240, depth: 24, seed: 7).draw(on: xvfb.displayName)
            let source = try await XScreenSource.open(displayName: xvfb.displayName, drawsCursor: true)
            defer { Task { await source.close() } }
            let store = FrameStore(source: source, interval: .nanoseconds(1))
            let first = try await store.currentFrame()
            let converted = try await source.bandsConverted()
            let encodes = store.statistics.encodes
            for (x, y) in [(10, 10), (200, 150), (319, 239)] {
                try TestDisplay.warpPointer(on: xvfb.displayName, x: x, y: y)
                let frame = try await store.currentFrame()
                #expect(frame.etag == first.etag, "pointer at \(x),\(y)")
            }
            #expect(try await source.bandsConverted() == converted)
            #expect(store.statistics.encodes == encodes)
            await source.close()
        }
    }
}

/// Converting only changed bands, without an X server: many random changes to a raw image, in two layouts, each
/// frame equal to a full conversion with the pointer blended in.
@Suite("Incremental capture: band conversion against a full conversion")
struct IncrementalCaptureModelTests {
    @Test("Random changes and pointer moves give exactly the frame of a full conversion", arguments: [32, 16])
    func randomChanges(bitsPerPixel: Int) {
        let (width, height) = (77, 301)
        let layout =
            bitsPerPixel == 32
            ? PixelLayout(
                bitsPerPixel: 32,
                bytesPerLine: width * 4 + 8,
                bigEndian: false,
                redMask: 0xFF_0000,
                greenMask: 0xFF00,
                blueMask: 0xFF
            )
            : PixelLayout(
                bitsPerPixel: 16,
                bytesPerLine: width * 2,
                bigEndian: false,
                redMask: 0xF800,
                greenMask: 0x07E0,
                blueMask: 0x001F
            )
        var raw = [UInt8](repeating: 0, count: layout.bytesPerLine * height)
        var random = SplitMix(state: UInt64(bitsPerPixel))
        for i in raw.indices { raw[i] = UInt8(truncatingIfNeeded: random.next()) }
        let cursor = CursorImage(
            x: 0,
            y: 0,
            width: 9,
            height: 13,
            argb: (0..<(9 * 13)).map { i in i % 3 == 0 ? 0 : 0x8040_2010 | UInt32(i) << 24 }
        )
        let assembler = FrameAssembler(concurrency: 3)
        var previous: Frame?
        for step in 0..<60 {
            // A few rows changed (sometimes none), and the pointer moved now and then.
            if step % 4 != 3 {
                let row = Int(random.next() % UInt64(height))
                let rows = 1 + Int(random.next() % 40)
                for y in row..<min(height, row + rows) {
                    let x = Int(random.next() % UInt64(width))
                    raw[y * layout.bytesPerLine + x * bitsPerPixel / 8] &+= 1
                }
            }
            var pointer = cursor
            pointer.x = Int(random.next() % 100) - 10
            pointer.y = step % 5 == 0 ? 400 : Int(random.next() % 320) - 10
            let frame = raw.withUnsafeBytes {
                assembler.frame(
                    from: $0.baseAddress!,
                    layout: layout,
                    width: width,
                    height: height,
                    cursor: pointer,
                    originX: 3,
                    originY: 5
                )
            }
            let full = raw.withUnsafeBytes { layout.frame(from: $0.baseAddress!, width: width, height: height) }
            let expected = pointer.drawn(over: full, originX: 3, originY: 5)
            #expect(firstDifference(frame.rgb, expected.rgb, width: width) == nil, "step \(step)")
            if let previous {
                #expect((previous.rgb == frame.rgb) == (previous.knownDigest == frame.knownDigest), "step \(step)")
            }
            previous = frame
        }
    }
}

/// What the screen should show, kept beside the real screen: rectangles are filled on both.
final class ScreenModel {
    let width: Int
    let height: Int
    var rgb: [UInt8]
    private let displayName: String

    init(on displayName: String, width: Int, height: Int) throws {
        self.displayName = displayName
        self.width = width
        self.height = height
        self.rgb = [UInt8](repeating: 0, count: width * height * 3)
    }

    /// Fills a rectangle of the root window with colour number `colour` (24-bit display), and the model too.
    func fill(x: Int, y: Int, width: Int, height: Int, colour: Int) {
        let value = (
            UInt8(truncatingIfNeeded: 40 + colour * 37), UInt8(truncatingIfNeeded: 200 - colour * 23),
            UInt8(truncatingIfNeeded: colour * 91)
        )
        guard let display = XOpenDisplay(displayName) else { return }
        defer { XCloseDisplay(display) }
        let screen = share_DefaultScreen(display)
        let gc = share_DefaultGC(display, screen)
        XSetForeground(display, gc, UInt(value.0) << 16 | UInt(value.1) << 8 | UInt(value.2))
        XFillRectangle(
            display,
            share_RootWindow(display, screen),
            gc,
            Int32(x),
            Int32(y),
            UInt32(width),
            UInt32(height)
        )
        XSync(display, 0)
        for row in y..<(y + height) {
            for column in x..<(x + width) {
                let i = (row * self.width + column) * 3
                (rgb[i], rgb[i + 1], rgb[i + 2]) = value
            }
        }
    }
}
