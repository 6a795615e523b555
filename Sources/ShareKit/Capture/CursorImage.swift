internal import CX11

/// The mouse pointer's picture and where it is, as XFixes reports it: premultiplied ARGB, so the cursor's real
/// shape and its soft (alpha-blended) edges are kept.
package struct CursorImage: Sendable, Equatable {
    /// Where the top-left pixel of the image lies, in root-window coordinates (the pointer minus the hot spot).
    package var x: Int
    package var y: Int
    package var width: Int
    package var height: Int
    /// `width * height` pixels, 0xAARRGGBB with the colour already multiplied by alpha.
    package var argb: [UInt32]

    package init(x: Int, y: Int, width: Int, height: Int, argb: [UInt32]) {
        precondition(argb.count == width * height, "a cursor holds width*height pixels")
        self.x = x
        self.y = y
        self.width = width
        self.height = height
        self.argb = argb
    }

    /// Blends the cursor over `frame`, whose top-left pixel is at (`originX`, `originY`) of the root window.
    ///
    /// Parts of the cursor outside the frame are left out. `out = cursor + frame * (255 - alpha) / 255`, per
    /// channel, rounded: the "over" operator for premultiplied colour.
    package func drawn(over frame: Frame, originX: Int, originY: Int) -> Frame {
        guard let covered = rows(inFrameOfWidth: frame.width, height: frame.height, originX: originX, originY: originY)
        else { return frame }
        var rgb = frame.rgb
        rgb.withUnsafeMutableBufferPointer { out in
            blend(into: out, frameWidth: frame.width, originX: originX, originY: originY, rows: covered)
        }
        return Frame(width: frame.width, height: frame.height, rgb: rgb)
    }

    /// The rows of a frame (of that size, its top-left pixel at `originX`, `originY` of the root window) that the
    /// cursor covers; nil when it lies outside the frame.
    package func rows(
        inFrameOfWidth frameWidth: Int,
        height frameHeight: Int,
        originX: Int,
        originY: Int
    ) -> Range<Int>? {
        let left = max(0, x - originX)
        let top = max(0, y - originY)
        let right = min(frameWidth, x - originX + width)
        let bottom = min(frameHeight, y - originY + height)
        guard right > left, bottom > top else { return nil }
        return top..<bottom
    }

    /// Blends the cursor, as `drawn(over:originX:originY:)` does, into the rows `rows` of the RGB pixels `out` of
    /// a frame `frameWidth` pixels wide; rows it does not cover are left alone.
    package func blend(
        into out: UnsafeMutableBufferPointer<UInt8>,
        frameWidth: Int,
        originX: Int,
        originY: Int,
        rows: Range<Int>
    ) {
        let frameHeight = out.count / max(1, frameWidth * 3)
        let left = max(0, x - originX)
        let right = min(frameWidth, x - originX + width)
        let top = max(rows.lowerBound, y - originY, 0)
        let bottom = min(rows.upperBound, y - originY + height, frameHeight)
        guard right > left, bottom > top else { return }
        for frameY in top..<bottom {
            let cursorRow = (frameY + originY - y) * width
            for frameX in left..<right {
                let pixel = argb[cursorRow + frameX + originX - x]
                let alpha = pixel >> 24
                if alpha == 0 && pixel & 0xFF_FFFF == 0 { continue }
                let i = (frameY * frameWidth + frameX) * 3
                let keep = 255 - alpha
                for channel in 0..<3 {
                    let source = (pixel >> UInt32(16 - 8 * channel)) & 0xFF
                    let blended = source + (UInt32(out[i + channel]) * keep + 127) / 255
                    out[i + channel] = UInt8(min(255, blended))
                }
            }
        }
    }

    /// A digest of the cursor's picture and of where it lies relative to a frame whose top-left pixel is at
    /// (`originX`, `originY`): equal when the pointer looks the same and has not moved over the frame.
    package func digest(originX: Int, originY: Int) -> UInt64 {
        let place =
            UInt64(UInt32(truncatingIfNeeded: x - originX)) << 32 | UInt64(UInt32(truncatingIfNeeded: y - originY))
        let seed = FrameDigest.combine([place, UInt64(width) << 32 | UInt64(height)], seed: 0)
        return argb.withUnsafeBytes { FrameDigest.digest(of: $0, seed: seed) }
    }
}

extension CursorImage {
    /// The current cursor of `display` (`XFixesGetCursorImage`); nil when XFixes is missing or the call fails.
    ///
    /// Runs on the X thread only. XFixes hands each pixel as a C `unsigned long` holding 32 bits of ARGB.
    static func current(display: OpaquePointer) -> CursorImage? {
        guard let image = XFixesGetCursorImage(display) else { return nil }
        defer { XFree(image) }
        let cursor = image.pointee
        let width = Int(cursor.width)
        let height = Int(cursor.height)
        guard width > 0, height > 0, width <= 1024, height <= 1024, let pixels = cursor.pixels else { return nil }
        let argb = (0..<(width * height)).map { UInt32(truncatingIfNeeded: pixels[$0]) }
        return CursorImage(
            x: Int(cursor.x) - Int(cursor.xhot),
            y: Int(cursor.y) - Int(cursor.yhot),
            width: width,
            height: height,
            argb: argb
        )
    }

    /// True when the server offers XFixes 2 or later (cursor images). Runs on the X thread only.
    static func isAvailable(display: OpaquePointer) -> Bool {
        var eventBase: Int32 = 0
        var errorBase: Int32 = 0
        var major: Int32 = 0
        var minor: Int32 = 0
        guard XFixesQueryExtension(display, &eventBase, &errorBase) != 0 else { return false }
        return XFixesQueryVersion(display, &major, &minor) != 0 && major >= 2
    }
}
