/// One picture of the screen: 8-bit RGB pixels, row after row, with no padding.
package struct Frame: Sendable {
    /// Width in pixels.
    package let width: Int
    /// Height in pixels.
    package let height: Int
    /// `width * height * 3` bytes: red, green, blue for each pixel, top row first.
    package let rgb: [UInt8]

    /// Wraps pixels that are already in the frame layout.
    package init(width: Int, height: Int, rgb: [UInt8]) {
        precondition(rgb.count == width * height * 3, "a frame holds width*height*3 bytes")
        self.width = width
        self.height = height
        self.rgb = rgb
    }

    /// Bytes from one row to the next.
    package var rowBytes: Int { width * 3 }

    /// The colour at (x, y), for tests and diagnostics.
    package func pixel(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let i = (y * width + x) * 3
        return (rgb[i], rgb[i + 1], rgb[i + 2])
    }
}

/// Where frames come from: the X screen, or the built-in test card.
package protocol FrameSource: Sendable {
    /// Takes one picture now. Called at most once at a time by `FrameStore`.
    func captureFrame() async throws -> Frame

    /// A short description for logs and the page, such as "display :0 (1920x1080)".
    var summary: String { get }
}
