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
            let isBGRX =
                bitsPerPixel == 32 && !bigEndian && redMask == 0xFF_0000 && greenMask == 0xFF00 && blueMask == 0xFF
            if isBGRX {
                convertBGRX(base, width: width, height: height, into: out)
            } else {
                convertGeneric(base, width: width, height: height, into: out)
            }
            count = width * height * 3
        }
        return Frame(width: width, height: height, rgb: rgb)
    }

    /// The common case on every desktop: 32 bits, little-endian, blue in the lowest byte.
    private func convertBGRX(
        _ base: UnsafeRawPointer,
        width: Int,
        height: Int,
        into out: UnsafeMutableBufferPointer<UInt8>
    ) {
        guard let destination = out.baseAddress else { return }
        for y in 0..<height {
            let row = base + y * bytesPerLine
            var target = destination + y * width * 3
            for x in 0..<width {
                let pixel = row.loadUnaligned(fromByteOffset: x * 4, as: UInt32.self).littleEndian
                target[0] = UInt8(truncatingIfNeeded: pixel >> 16)
                target[1] = UInt8(truncatingIfNeeded: pixel >> 8)
                target[2] = UInt8(truncatingIfNeeded: pixel)
                target += 3
            }
        }
    }

    /// Any depth and byte order: read each pixel as an integer, then scale each masked channel to 0-255.
    private func convertGeneric(
        _ base: UnsafeRawPointer,
        width: Int,
        height: Int,
        into out: UnsafeMutableBufferPointer<UInt8>
    ) {
        guard let destination = out.baseAddress else { return }
        let red = Channel(mask: redMask)
        let green = Channel(mask: greenMask)
        let blue = Channel(mask: blueMask)
        let bytesPerPixel = bitsPerPixel / 8
        for y in 0..<height {
            let row = (base + y * bytesPerLine).assumingMemoryBound(to: UInt8.self)
            var target = destination + y * width * 3
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
