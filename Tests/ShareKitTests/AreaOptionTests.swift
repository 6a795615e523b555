import Testing

@testable import ShareKit

/// Parsing what to share, the cursor compositing arithmetic and the Wayland warning: fast, no X server.
@Suite("Options for what to share")
struct AreaOptionTests {
    @Test("WxH+X+Y parses like X geometry; anything else is refused")
    func geometry() {
        #expect(PixelRect(geometry: "1280x720+0+0") == PixelRect(x: 0, y: 0, width: 1280, height: 720))
        #expect(PixelRect(geometry: "101x67+13-29") == PixelRect(x: 13, y: -29, width: 101, height: 67))
        #expect(PixelRect(geometry: "101x67+13-29")?.description == "101x67+13-29")
        for bad in ["", "100x100", "0x10+0+0", "10x0+0+0", "axb+0+0", "10x10+0+0+0", "10x10 +0+0", "9999999x1+0+0"] {
            #expect(PixelRect(geometry: bad) == nil, "\(bad)")
        }
    }

    @Test("--monitor takes an index or a name; --window takes hex or decimal ids")
    func choices() {
        #expect(StartConfiguration(monitor: "1").area == .monitor(.index(1)))
        #expect(StartConfiguration(monitor: "HDMI-1").area == .monitor(.name("HDMI-1")))
        #expect(StartConfiguration(window: "0x1e00007").area == .window(0x1e00007))
        #expect(StartConfiguration(window: "31457287").area == .window(31_457_287))
        #expect(StartConfiguration(region: "10x10+5+5").area == .region(PixelRect(x: 5, y: 5, width: 10, height: 10)))
        #expect(StartConfiguration().area == .screen)
        #expect(StartConfiguration().drawsCursor, "the pointer is drawn by default")
        #expect(StartConfiguration(window: "0x0").problems.first?.contains("--window needs a window id") == true)
        #expect(StartConfiguration(maxHeight: 100_000).problems.first?.contains("--max-height must be between") == true)
        #expect(StartConfiguration(monitor: "A", region: "1x1+0+0").problems.count == 1)
    }

    @Test("The cursor is blended over the frame with its alpha, clipped to the frame")
    func cursorBlend() {
        let frame = Frame(width: 3, height: 1, rgb: [100, 100, 100, 100, 100, 100, 100, 100, 100])
        // Opaque red, half-transparent white (premultiplied: 0x80 each), fully transparent.
        let cursor = CursorImage(x: 11, y: 20, width: 3, height: 1, argb: [0xFFFF_0000, 0x8080_8080, 0x0000_0000])
        let drawn = cursor.drawn(over: frame, originX: 10, originY: 20)
        // x 11 -> frame 1: opaque red; x 12 -> frame 2: 128 + 100 * 127 / 255 = 178; x 13 is outside.
        #expect(drawn.rgb == [100, 100, 100, 255, 0, 0, 178, 178, 178])
        #expect(cursor.drawn(over: frame, originX: 100, originY: 0).rgb == frame.rgb, "off the frame: unchanged")
    }

    @Test("A Wayland session gets a warning that says what is captured and what to do")
    func wayland() {
        #expect(WaylandSession.warning(environment: ["XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"]) == nil)
        #expect(WaylandSession.warning(environment: [:]) == nil)
        let warning = WaylandSession.warning(environment: ["XDG_SESSION_TYPE": "wayland"]) ?? ""
        #expect(warning.contains("Wayland session (XDG_SESSION_TYPE=wayland)"))
        #expect(warning.contains("XWayland"))
        #expect(warning.contains("X11 session"))
        #expect(WaylandSession.warning(environment: ["WAYLAND_DISPLAY": "wayland-0"])?.contains("wayland-0") == true)
    }
}
