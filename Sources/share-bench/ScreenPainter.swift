import CX11
import Foundation
import ShareKit

/// Draws desktop-like content on an X display's root window, on a connection of its own (never the one share or
/// `XScreenSource` captures with). Used from one thread only, the benchmark's main task.
final class ScreenPainter {
    let width: Int
    let height: Int
    private let display: OpaquePointer
    private let root: Window
    private let visual: UnsafeMutablePointer<Visual>
    private let gc: GC
    private let font: UnsafeMutablePointer<XFontStruct>?

    /// Opens `displayName`, waiting up to 10 s for a freshly started server to accept connections.
    init(displayName: String) throws {
        var opened: OpaquePointer?
        let deadline = ContinuousClock.now + .seconds(10)
        while opened == nil, ContinuousClock.now < deadline {
            opened = XOpenDisplay(displayName)
            if opened == nil { usleep(50_000) }
        }
        guard let display = opened else { throw BenchError("Cannot open the X display \(displayName).") }
        let screen = share_DefaultScreen(display)
        self.display = display
        root = share_RootWindow(display, screen)
        visual = share_DefaultVisual(display, screen)
        gc = share_DefaultGC(display, screen)
        width = Int(share_DisplayWidth(display, screen))
        height = Int(share_DisplayHeight(display, screen))
        guard share_DefaultDepth(display, screen) == 24 else {
            XCloseDisplay(display)
            throw BenchError("The benchmark's Xvfb must run at depth 24.")
        }
        // Real X core-font text (Debian's xfonts-base), as a terminal or an old toolkit draws it.
        font = XLoadQueryFont(display, "9x15") ?? XLoadQueryFont(display, "fixed")
    }

    deinit {
        if let font { XFreeFont(display, font) }
        XCloseDisplay(display)
    }

    /// Puts `frame` on the whole screen, then a terminal window of real core-font text over its lower right,
    /// and waits until the server has drawn it all.
    func show(_ frame: Frame) {
        precondition(frame.width == width && frame.height == height)
        // 24-bit TrueColor with 32 bits per pixel, little-endian: B, G, R, X.
        let pixels = UnsafeMutablePointer<UInt8>.allocate(capacity: width * height * 4)
        defer { pixels.deallocate() }
        frame.rgb.withUnsafeBufferPointer { rgb in
            for i in 0..<(width * height) {
                pixels[4 * i] = rgb[3 * i + 2]
                pixels[4 * i + 1] = rgb[3 * i + 1]
                pixels[4 * i + 2] = rgb[3 * i]
                pixels[4 * i + 3] = 0
            }
        }
        let data = UnsafeMutableRawPointer(pixels).assumingMemoryBound(to: CChar.self)
        guard
            let image = XCreateImage(
                display,
                visual,
                24,
                ZPixmap,
                0,
                data,
                UInt32(width),
                UInt32(height),
                32,
                Int32(width * 4)
            )
        else { return }
        image.pointee.byte_order = LSBFirst
        XPutImage(display, root, gc, image, 0, 0, 0, 0, UInt32(width), UInt32(height))
        image.pointee.data = nil  // ours, freed above; XDestroyImage would free it otherwise
        _ = share_XDestroyImage(image)
        drawTerminal()
        XSync(display, 0)
    }

    /// A dark terminal with lines of real text, over the lower right quarter of the screen.
    private func drawTerminal() {
        guard let font else { return }
        let x = width * 5 / 8
        let y = height * 5 / 8
        let w = width - x - width / 40
        let h = height - y - height / 12
        XSetForeground(display, gc, 0x1E1E1E)
        XFillRectangle(display, root, gc, Int32(x), Int32(y), UInt32(w), UInt32(h))
        let lineHeight = Int(font.pointee.ascent + font.pointee.descent)
        let colours: [UInt] = [0xCCCCCC, 0xCCCCCC, 0x50DC64, 0x6496FF, 0xE0C060]
        var line = 0
        var baseline = y + Int(font.pointee.ascent) + 4
        while baseline + Int(font.pointee.descent) < y + h {
            let text = Self.terminalLines[line % Self.terminalLines.count]
            XSetForeground(display, gc, colours[line % colours.count])
            XDrawString(display, root, gc, Int32(x + 6), Int32(baseline), text, Int32(text.utf8.count))
            baseline += lineHeight
            line += 1
        }
        XSetForeground(display, gc, 0)
    }

    private static let terminalLines = [
        "$ swift build -c release --product share-bench",
        "Building for production...",
        "[412/418] Compiling ShareKit StripPNGEncoder.swift FrameStore.swift ShareResponder.swift",
        "Build complete! (183.27s)",
        "$ ls -l Sources/ShareKit/Encoding",
        "-rw-r--r-- 1 root root  1702 Nov 21 21:14 FrameDigest.swift",
        "-rw-r--r-- 1 root root  2093 Nov 21 21:14 PNGEncoder.swift",
        "-rw-r--r-- 1 root root 14981 Nov 21 21:14 StripPNGEncoder.swift",
        "$ git log --oneline | head -3",
        "7e920fb StripPNGEncoder: 32-row strips filtered and deflated in parallel",
        "0e01da7 FrameEncoder protocol: FrameStore takes any encoder",
        "26d3773 FrameStore test: intervals far from the sleeps",
        "$ top -b -n 1 | head -4",
        "top - 22:41:07 up 3 days,  4:12,  0 users,  load average: 1.92, 1.74, 1.66",
        "Tasks: 131 total,   2 running, 129 sleeping,   0 stopped,   0 zombie",
        "%Cpu(s): 41.2 us,  6.1 sy,  0.0 ni, 52.1 id,  0.0 wa,  0.0 hi,  0.6 si",
    ]
}
