import CX11
import Foundation

/// Test helpers that change an X display through Xlib connections of their own: the pointer, XRandR monitors and
/// windows.
enum TestDisplay {
    /// Opens `displayName` or throws.
    static func open(_ displayName: String) throws -> OpaquePointer {
        guard let display = XOpenDisplay(displayName) else {
            throw EnvironmentError(description: "Cannot open \(displayName) for the test.")
        }
        return display
    }

    /// Gives the root window an invisible cursor (a 1x1 pixmap with an empty mask), which outlives this
    /// connection: XFixes then reports a fully transparent pointer.
    static func hidePointer(on displayName: String) throws {
        let display = try open(displayName)
        defer { XCloseDisplay(display) }
        let root = share_RootWindow(display, share_DefaultScreen(display))
        let pixmap = XCreatePixmap(display, root, 1, 1, 1)
        let gc = XCreateGC(display, pixmap, 0, nil)
        XSetForeground(display, gc, 0)
        XFillRectangle(display, pixmap, gc, 0, 0, 1, 1)
        var foreground = XColor()
        var background = XColor()
        let cursor = XCreatePixmapCursor(display, pixmap, pixmap, &foreground, &background, 0, 0)
        XDefineCursor(display, root, cursor)
        XFreeCursor(display, cursor)
        XFreeGC(display, gc)
        XFreePixmap(display, pixmap)
        XSync(display, 0)
    }

    /// Moves the pointer to (x, y) of the root window with `XWarpPointer` (xdotool cannot move Xvfb's pointer).
    static func warpPointer(on displayName: String, x: Int, y: Int) throws {
        let display = try open(displayName)
        defer { XCloseDisplay(display) }
        let root = share_RootWindow(display, share_DefaultScreen(display))
        XWarpPointer(display, 0, root, 0, 0, 0, 0, Int32(x), Int32(y))
        XSync(display, 0)
    }

    /// The pointer's image as XFixes reports it now: what the frame should show, independently fetched.
    static func cursor(on displayName: String) throws -> TestCursor {
        let display = try open(displayName)
        defer { XCloseDisplay(display) }
        guard let image = XFixesGetCursorImage(display) else {
            throw EnvironmentError(description: "XFixesGetCursorImage failed on \(displayName).")
        }
        defer { XFree(image) }
        let c = image.pointee
        let count = Int(c.width) * Int(c.height)
        let argb = (0..<count).map { UInt32(truncatingIfNeeded: c.pixels[$0]) }
        return (Int(c.x) - Int(c.xhot), Int(c.y) - Int(c.yhot), Int(c.width), Int(c.height), argb)
    }

    /// `rgb` (width pixels wide) cut to `rect`.
    static func crop(_ rgb: [UInt8], width: Int, x: Int, y: Int, cropWidth: Int, cropHeight: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(cropWidth * cropHeight * 3)
        for row in y..<(y + cropHeight) {
            let start = (row * width + x) * 3
            out += rgb[start..<(start + cropWidth * 3)]
        }
        return out
    }
}

/// The pointer image as `TestDisplay.cursor` reports it.
typealias TestCursor = (x: Int, y: Int, width: Int, height: Int, argb: [UInt32])

/// Runs `body` with a 320x240 Xvfb that shows its pointer at (`x`, `y`) over the pattern of `seed`.
func withPointer(
    seed: Int,
    x: Int,
    y: Int,
    _ body: (XvfbServer, TestPattern, TestCursor) async throws -> Void
) async throws {
    try await withXvfb(width: 320, height: 240, pointer: true) { xvfb in
        let pattern = TestPattern(width: 320, height: 240, depth: 24, seed: seed)
        try pattern.draw(on: xvfb.displayName)
        try TestDisplay.warpPointer(on: xvfb.displayName, x: x, y: y)
        try await body(xvfb, pattern, try TestDisplay.cursor(on: xvfb.displayName))
    }
}

/// XRandR monitors defined by a test (`XRRSetMonitor`), on an Xvfb started with `-noreset` (without it, Xvfb resets
/// when its last client leaves and forgets them, which is why a lone `xrandr --setmonitor` seemed to do nothing).
/// `remove()` deletes them again, which is how a test unplugs a monitor.
final class TestMonitors: @unchecked Sendable {
    // @unchecked Sendable: the display is used only in init and remove(), never concurrently.
    private var display: OpaquePointer?
    /// The atoms of the monitors' names.
    private var definedNames: [Atom] = []

    /// Splits the screen into monitors `(name, x, y, width, height)`; the first is primary and takes over Xvfb's
    /// one output, so that its own whole-screen monitor disappears.
    init(on displayName: String, monitors: [(String, Int, Int, Int, Int)]) throws {
        let display = try TestDisplay.open(displayName)
        self.display = display
        let root = share_RootWindow(display, share_DefaultScreen(display))
        guard let resources = XRRGetScreenResources(display, root) else {
            throw EnvironmentError(description: "XRRGetScreenResources failed on \(displayName).")
        }
        defer { XRRFreeScreenResources(resources) }
        for (index, monitor) in monitors.enumerated() {
            let outputs: Int32 = index == 0 && resources.pointee.noutput > 0 ? 1 : 0
            guard let info = XRRAllocateMonitor(display, outputs) else { continue }
            info.pointee.name = XInternAtom(display, monitor.0, 0)
            definedNames.append(info.pointee.name)
            info.pointee.primary = index == 0 ? 1 : 0
            info.pointee.x = Int32(monitor.1)
            info.pointee.y = Int32(monitor.2)
            info.pointee.width = Int32(monitor.3)
            info.pointee.height = Int32(monitor.4)
            info.pointee.mwidth = Int32(monitor.3 / 4)
            info.pointee.mheight = Int32(monitor.4 / 4)
            if outputs == 1 { info.pointee.outputs[0] = resources.pointee.outputs[0] }
            XRRSetMonitor(display, root, info)
            XFree(info)
        }
        XSync(display, 0)
    }

    deinit { remove() }

    /// Deletes the monitors (`XRRDeleteMonitor`), as unplugging them would, and closes the connection.
    func remove() {
        guard let display else { return }
        let root = share_RootWindow(display, share_DefaultScreen(display))
        for name in definedNames { XRRDeleteMonitor(display, root, name) }
        XSync(display, 0)
        XCloseDisplay(display)
        self.display = nil
    }
}

/// A top-level window (override-redirect, so no window manager is needed) of one colour with a child of another,
/// held open by a connection of its own.
final class TestWindow: @unchecked Sendable {
    // @unchecked Sendable: the display is used from one test task at a time.
    private var display: OpaquePointer?
    let id: UInt
    private(set) var width: Int
    private(set) var height: Int
    static let outer: (UInt8, UInt8, UInt8) = (200, 100, 50)
    static let inner: (UInt8, UInt8, UInt8) = (18, 52, 86)
    /// The child's rectangle inside the window.
    static let child = (x: 10, y: 7, width: 31, height: 17)

    init(on displayName: String, x: Int, y: Int, width: Int, height: Int) throws {
        let display = try TestDisplay.open(displayName)
        self.display = display
        self.width = width
        self.height = height
        let screen = share_DefaultScreen(display)
        let root = share_RootWindow(display, screen)
        var attributes = XSetWindowAttributes()
        attributes.override_redirect = 1
        attributes.background_pixel = Self.pixel(Self.outer)
        let window = XCreateWindow(
            display,
            root,
            Int32(x),
            Int32(y),
            UInt32(width),
            UInt32(height),
            0,
            Int32(CopyFromParent),
            UInt32(InputOutput),
            nil,
            UInt(CWOverrideRedirect | CWBackPixel),
            &attributes
        )
        let child = XCreateSimpleWindow(
            display,
            window,
            Int32(Self.child.x),
            Int32(Self.child.y),
            UInt32(Self.child.width),
            UInt32(Self.child.height),
            0,
            0,
            Self.pixel(Self.inner)
        )
        XMapWindow(display, child)
        XMapRaised(display, window)
        XSync(display, 0)
        id = UInt(window)
    }

    deinit { close() }

    /// The pixels the window should show: outer colour with the child's rectangle.
    var expected: [UInt8] {
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let c = Self.child
                let inChild = x >= c.x && x < c.x + c.width && y >= c.y && y < c.y + c.height
                let colour = inChild ? Self.inner : Self.outer
                let i = (y * width + x) * 3
                (rgb[i], rgb[i + 1], rgb[i + 2]) = colour
            }
        }
        return rgb
    }

    /// Moves the window to (x, y) of the root window.
    func move(x: Int, y: Int) {
        guard let display else { return }
        XMoveWindow(display, Window(id), Int32(x), Int32(y))
        XSync(display, 0)
    }

    /// Gives the window a new size; the child stays where it is.
    func resize(width: Int, height: Int) {
        guard let display else { return }
        XResizeWindow(display, Window(id), UInt32(width), UInt32(height))
        XSync(display, 0)
        self.width = width
        self.height = height
    }

    /// Destroys the window and closes the connection.
    func close() {
        guard let display else { return }
        XDestroyWindow(display, Window(id))
        XSync(display, 0)
        XCloseDisplay(display)
        self.display = nil
    }

    /// A 24-bit TrueColor pixel value.
    private static func pixel(_ colour: (UInt8, UInt8, UInt8)) -> UInt {
        UInt(colour.0) << 16 | UInt(colour.1) << 8 | UInt(colour.2)
    }
}
