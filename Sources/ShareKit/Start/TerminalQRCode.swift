internal import CQRencode

/// A QR code of a URL, drawn with Unicode half blocks for a terminal (libqrencode makes the code).
package struct TerminalQRCode: Sendable {
    /// Modules per side, without the quiet zone.
    package let size: Int
    /// Row-major, true for a dark module.
    package let modules: [Bool]

    /// Encodes `text` with error correction level M; nil if it cannot be encoded.
    package init?(_ text: String) {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        size = width
        modules = (0..<(width * width)).map { code.pointee.data[$0] & 1 == 1 }
    }

    package func isDark(x: Int, y: Int) -> Bool {
        guard x >= 0, y >= 0, x < size, y < size else { return false }
        return modules[y * size + x]
    }

    /// The code as lines of text: two module rows per line, black on white (ANSI colours) so that it scans on
    /// dark and light terminals alike, with a quiet zone of `margin` modules.
    package func rendered(margin: Int = 2) -> [String] {
        let start = -margin
        let end = size + margin
        var lines: [String] = []
        var y = start
        while y < end {
            var line = "\u{1B}[30;47m"
            for x in start..<end {
                switch (isDark(x: x, y: y), isDark(x: x, y: y + 1)) {
                case (true, true): line += "█"
                case (true, false): line += "▀"
                case (false, true): line += "▄"
                case (false, false): line += " "
                }
            }
            line += "\u{1B}[0m"
            lines.append(line)
            y += 2
        }
        return lines
    }
}
