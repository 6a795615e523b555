/// One picture of the screen: 8-bit RGB pixels, row after row, with no padding.
package struct Frame: Sendable {
    /// Width in pixels.
    package let width: Int
    /// Height in pixels.
    package let height: Int
    /// `width * height * 3` bytes: red, green, blue for each pixel, top row first.
    package let rgb: [UInt8]
    /// The digest of these pixels and this size when the source already knows it (the X capturer makes it from
    /// its band digests), so that nobody reads the pixels again to find it; nil: `FrameDigest` computes it.
    package let knownDigest: UInt64?
    /// Digests of bands of rows, when the source already knows them: the strip encoder uses them instead of
    /// hashing its strips again when its strips are these bands.
    package let bands: BandDigests?

    /// Wraps pixels that are already in the frame layout.
    ///
    /// `knownDigest` and `bands`, when given, must be functions of the pixels (equal pixels, equal digests, and
    /// different pixels almost surely different ones), as `FrameDigest` is.
    package init(width: Int, height: Int, rgb: [UInt8], knownDigest: UInt64? = nil, bands: BandDigests? = nil) {
        precondition(rgb.count == width * height * 3, "a frame holds width*height*3 bytes")
        precondition(
            bands.map { $0.rows > 0 && $0.digests.count == ($0.rows + height - 1) / $0.rows } ?? true,
            "one digest per band"
        )
        self.width = width
        self.height = height
        self.rgb = rgb
        self.knownDigest = knownDigest
        self.bands = bands
    }

    /// Bytes from one row to the next.
    package var rowBytes: Int { width * 3 }

    /// The colour at (x, y), for tests and diagnostics.
    package func pixel(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let i = (y * width + x) * 3
        return (rgb[i], rgb[i + 1], rgb[i + 2])
    }
}

/// The digests of a frame's bands of `rows` rows each (the last band may have fewer), top band first.
package struct BandDigests: Sendable, Equatable {
    package let rows: Int
    package let digests: [UInt64]

    package init(rows: Int, digests: [UInt64]) {
        self.rows = rows
        self.digests = digests
    }
}

/// Where frames come from: the X screen, or the built-in test card.
package protocol FrameSource: Sendable {
    /// Takes one picture now. Called at most once at a time by `FrameStore`.
    func captureFrame() async throws -> Frame

    /// A short description for logs and the page, such as "display :0 (1920x1080)".
    var summary: String { get }
}
