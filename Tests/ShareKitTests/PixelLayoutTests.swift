import Testing

@testable import ShareKit

/// Pixel formats that Xvfb does not offer, built by hand: byte order and packing must not matter.
@Suite("Reading pixel formats")
struct PixelLayoutTests {
    @Test("16-bit RGB565, most significant byte first")
    func bigEndian565() {
        // Two pixels: pure red (0xF800) and a blue-green (0x07FF).
        let bytes: [UInt8] = [0xF8, 0x00, 0x07, 0xFF]
        let layout = PixelLayout(
            bitsPerPixel: 16,
            bytesPerLine: 4,
            bigEndian: true,
            redMask: 0xF800,
            greenMask: 0x07E0,
            blueMask: 0x001F
        )
        let frame = bytes.withUnsafeBytes { layout.frame(from: $0.baseAddress!, width: 2, height: 1) }
        #expect(frame.rgb == [255, 0, 0, 0, 255, 255])
    }

    @Test("24-bit packed pixels with padded rows")
    func packed24WithPadding() {
        // Two rows of one pixel, each row padded to 4 bytes; little-endian BGR.
        let bytes: [UInt8] = [0x56, 0x34, 0x12, 0xEE, 0x03, 0x02, 0x01, 0xEE]
        let layout = PixelLayout(
            bitsPerPixel: 24,
            bytesPerLine: 4,
            bigEndian: false,
            redMask: 0xFF0000,
            greenMask: 0xFF00,
            blueMask: 0xFF
        )
        let frame = bytes.withUnsafeBytes { layout.frame(from: $0.baseAddress!, width: 1, height: 2) }
        #expect(frame.rgb == [0x12, 0x34, 0x56, 0x01, 0x02, 0x03])
    }

    @Test("32-bit RGBX with red in the low byte")
    func rgbxOrder() {
        let bytes: [UInt8] = [10, 20, 30, 0]
        let layout = PixelLayout(
            bitsPerPixel: 32,
            bytesPerLine: 4,
            bigEndian: false,
            redMask: 0xFF,
            greenMask: 0xFF00,
            blueMask: 0xFF0000
        )
        let frame = bytes.withUnsafeBytes { layout.frame(from: $0.baseAddress!, width: 1, height: 1) }
        #expect(frame.rgb == [10, 20, 30])
    }
}
