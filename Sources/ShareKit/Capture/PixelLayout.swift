/// How an X image stores its pixels, read from the image and its visual, and how to turn them into RGB.
///
/// Covers TrueColor and DirectColor visuals at 15, 16, 24 and 32 bits per pixel, in either byte order.
package struct PixelLayout: Sendable, Equatable {
    /// Bits per pixel in memory: 8, 16, 24 or 32.
    package var bitsPerPixel: Int
    /// Bytes from one row to the next.
    package var bytesPerLine: Int
    /// True when the most significant byte comes first (X's MSBFirst).
    package var bigEndian: Bool
    package var redMask: UInt32
    package var greenMask: UInt32
    package var blueMask: UInt32

    package init(
        bitsPerPixel: Int,
        bytesPerLine: Int,
        bigEndian: Bool,
        redMask: UInt32,
        greenMask: UInt32,
        blueMask: UInt32
    ) {
        self.bitsPerPixel = bitsPerPixel
        self.bytesPerLine = bytesPerLine
        self.bigEndian = bigEndian
        self.redMask = redMask
        self.greenMask = greenMask
        self.blueMask = blueMask
    }

    /// Whether this layout can be converted at all.
    package var isSupported: Bool {
        [16, 24, 32].contains(bitsPerPixel) && redMask != 0 && greenMask != 0 && blueMask != 0
    }

    /// Converts `height` rows of `width` pixels starting at `base` into a frame.
    package func frame(from base: UnsafeRawPointer, width: Int, height: Int) -> Frame {
        let rgb = [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, count in
            if let destination = out.baseAddress {
                convert(from: base, width: width, rows: 0..<height, into: destination)
            }
            count = width * height * 3
        }
        return Frame(width: width, height: height, rgb: rgb)
    }

    /// Bytes of one row that hold pixels (`bytesPerLine` may add padding after them).
    package func pixelBytes(width: Int) -> Int { width * bitsPerPixel / 8 }

    /// Converts the rows `rows` of an image of `width` pixels a row starting at `base` into packed RGB, written
    /// where those rows lie in a frame that starts at `frame`.
    package func convert(
        from base: UnsafeRawPointer,
        width: Int,
        rows: Range<Int>,
        into frame: UnsafeMutablePointer<UInt8>
    ) {
        let isBGRX = bitsPerPixel == 32 && !bigEndian && redMask == 0xFF_0000 && greenMask == 0xFF00 && blueMask == 0xFF
        for y in rows {
            let row = base + y * bytesPerLine
            let target = frame + y * width * 3
            if isBGRX {
                Self.convertBGRXRow(row, width: width, into: target)
            } else {
                convertGenericRow(row, width: width, into: target)
            }
        }
    }

    /// The common case on every desktop: 32 bits, little-endian, blue in the lowest byte. Four pixels (16 bytes)
    /// become three 32-bit words (12 bytes), so the loop does whole-word loads and stores.
    @inline(__always)
    private static func convertBGRXRow(_ row: UnsafeRawPointer, width: Int, into target: UnsafeMutablePointer<UInt8>) {
        /// 0xXXRRGGBB → 0x00BBGGRR: the pixel's bytes in RGB order, little-endian.
        @inline(__always)
        func rgb(_ pixel: UInt32) -> UInt32 {
            (pixel >> 16) & 0xFF | pixel & 0xFF00 | (pixel & 0xFF) << 16
        }
        let out = UnsafeMutableRawPointer(target)
        var x = 0
        while x + 4 <= width {
            let p0 = rgb(row.loadUnaligned(fromByteOffset: x * 4, as: UInt32.self).littleEndian)
            let p1 = rgb(row.loadUnaligned(fromByteOffset: x * 4 + 4, as: UInt32.self).littleEndian)
            let p2 = rgb(row.loadUnaligned(fromByteOffset: x * 4 + 8, as: UInt32.self).littleEndian)
            let p3 = rgb(row.loadUnaligned(fromByteOffset: x * 4 + 12, as: UInt32.self).littleEndian)
            out.storeBytes(of: (p0 | p1 << 24).littleEndian, toByteOffset: x * 3, as: UInt32.self)
            out.storeBytes(of: (p1 >> 8 | p2 << 16).littleEndian, toByteOffset: x * 3 + 4, as: UInt32.self)
            out.storeBytes(of: (p2 >> 16 | p3 << 8).littleEndian, toByteOffset: x * 3 + 8, as: UInt32.self)
            x += 4
        }
        while x < width {
            let pixel = row.loadUnaligned(fromByteOffset: x * 4, as: UInt32.self).littleEndian
            target[x * 3] = UInt8(truncatingIfNeeded: pixel >> 16)
            target[x * 3 + 1] = UInt8(truncatingIfNeeded: pixel >> 8)
            target[x * 3 + 2] = UInt8(truncatingIfNeeded: pixel)
            x += 1
        }
    }

    /// Any depth and byte order: read each pixel as an integer, then scale each masked channel to 0-255.
    private func convertGenericRow(_ base: UnsafeRawPointer, width: Int, into target: UnsafeMutablePointer<UInt8>) {
        let red = Channel(mask: redMask)
        let green = Channel(mask: greenMask)
        let blue = Channel(mask: blueMask)
        let bytesPerPixel = bitsPerPixel / 8
        let row = base.assumingMemoryBound(to: UInt8.self)
        var target = target
        for x in 0..<width {
            let bytes = row + x * bytesPerPixel
            var pixel: UInt32 = 0
            if bigEndian {
                for i in 0..<bytesPerPixel { pixel = pixel << 8 | UInt32(bytes[i]) }
            } else {
                for i in (0..<bytesPerPixel).reversed() { pixel = pixel << 8 | UInt32(bytes[i]) }
            }
            target[0] = red.value(of: pixel)
            target[1] = green.value(of: pixel)
            target[2] = blue.value(of: pixel)
            target += 3
        }
    }

    /// One colour channel: where its bits sit in a pixel, and how to widen them to 8 bits.
    private struct Channel {
        let shift: UInt32
        let maximum: UInt32
        let mask: UInt32

        init(mask: UInt32) {
            self.mask = mask
            self.shift = UInt32(mask.trailingZeroBitCount)
            self.maximum = mask >> UInt32(mask.trailingZeroBitCount)
        }

        @inline(__always)
        func value(of pixel: UInt32) -> UInt8 {
            let raw = (pixel & mask) >> shift
            if maximum == 255 { return UInt8(truncatingIfNeeded: raw) }
            // Round to the nearest 8-bit value, so that full scale maps to 255 and zero to 0.
            return UInt8(truncatingIfNeeded: (raw * 255 + maximum / 2) / maximum)
        }
    }
}
