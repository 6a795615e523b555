import Foundation
import Testing

@testable import ShareKit

/// The QR code `share start` prints for phones, read back by a real decoder (zbarimg, from Debian's zbar-tools).
@Suite(
    "The QR code of the share's URL",
    .enabled(
        if: TestEnvironment.requiresX || FileManager.default.isExecutableFile(atPath: "/usr/bin/zbarimg"),
        "zbarimg is not installed; run Scripts/test"
    )
)
struct QRCodeTests {
    @Test("zbarimg decodes the code to the URL", arguments: ["http://192.168.1.20:8000/", "http://10.0.0.7:41234/"])
    func decodes(url: String) async throws {
        let code = try #require(TerminalQRCode(url))
        // Draw the modules as a scanner would see them on screen: 6 pixels each, a 4-module quiet zone.
        let scale = 6
        let side = (code.size + 8) * scale
        var rgb = [UInt8](repeating: 255, count: side * side * 3)
        for y in 0..<side {
            for x in 0..<side where code.isDark(x: x / scale - 4, y: y / scale - 4) {
                let i = (y * side + x) * 3
                rgb[i] = 0
                rgb[i + 1] = 0
                rgb[i + 2] = 0
            }
        }
        let png = try PNGEncoder.live.encode(Frame(width: side, height: side, rgb: rgb))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qr-\(UUID().uuidString).png").path
        try Data(png).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let outputPath = path + ".txt"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let zbar = try ChildProcess(
            executable: "/usr/bin/zbarimg",
            arguments: ["--raw", "-q", path],
            standardOutputPath: outputPath
        )
        #expect(try await zbar.wait(timeout: .seconds(20)) == 0)
        let decoded = try String(contentsOfFile: outputPath, encoding: .utf8)
        #expect(decoded.trimmingCharacters(in: .whitespacesAndNewlines) == url)
    }

    @Test("Half blocks: each text line holds two rows of modules, in black on white")
    func rendering() throws {
        let code = try #require(TerminalQRCode("http://10.0.0.7:8000/"))
        let lines = code.rendered(margin: 2)
        #expect(lines.count == (code.size + 4 + 1) / 2)
        #expect(lines.allSatisfy { $0.hasPrefix("\u{1B}[30;47m") && $0.hasSuffix("\u{1B}[0m") })
    }
}
