internal import CX11
import Glibc

/// Owns one X display connection and, when MIT-SHM works, one shared-memory image of the root window.
///
/// Xlib is not thread-safe per display, so an instance is confined to the single thread of `XScreenSource`:
/// it is created, used and closed there and nowhere else.
final class XScreenCapturer {
    /// How frames are read from the server.
    enum Method: String {
        /// `XShmGetImage` into a segment shared with the X server: no copy through the socket.
        case sharedMemory = "MIT-SHM"
        /// `XGetImage`: the image travels through the X socket. Used when the server is remote or lacks SHM.
        case getImage = "XGetImage"
    }

    let displayName: String
    /// The screen (root window) size, followed when it changes.
    private(set) var width: Int
    private(set) var height: Int
    let depth: Int
    private(set) var method: Method
    /// What part of the screen is shared. A monitor chosen by index is pinned to its name here.
    private(set) var area: CaptureArea
    /// Whether the pointer is drawn into frames (and XFixes is there to draw it).
    let drawsCursor: Bool
    private var display: OpaquePointer?
    private let root: Window
    private let visual: UnsafeMutablePointer<Visual>
    private var shared: SharedImage?
    /// False once MIT-SHM turned out not to work on this display; then every capture uses `XGetImage`.
    private var sharedMemoryWorks = true
    /// Converts only the bands of rows that changed since the last capture.
    private let assembler = FrameAssembler()

    /// Bands of rows converted to RGB so far (a full frame at 1080p is 34): for tests.
    var bandsConverted: Int { assembler.bandsConverted }

    /// Opens `displayName` (nil: `$DISPLAY`) with `XOpenDisplay` and prepares the fastest capture it allows.
    ///
    /// Throws `ShareError` with advice when the display cannot be opened or `area` is not on it (no such
    /// monitor or window, a region fully outside the screen).
    /// `budget` refuses a shared area too large for the memory limits (nil: no check, for listing monitors).
    init(
        displayName: String?,
        area: CaptureArea = .screen,
        drawsCursor: Bool = false,
        budget: FrameBudget? = .current
    ) throws {
        _ = XErrorTrap.installed
        let requested = displayName ?? getenv("DISPLAY").map { String(cString: $0) }
        guard let requested, !requested.isEmpty else { throw ShareError.displayUnavailable(nil) }
        guard let display = XOpenDisplay(requested) else { throw ShareError.displayUnavailable(requested) }
        let screen = share_DefaultScreen(display)
        XErrorTrap.watch(display)
        self.display = display
        self.displayName = requested
        self.root = share_RootWindow(display, screen)
        self.visual = share_DefaultVisual(display, screen)
        self.width = Int(share_DisplayWidth(display, screen))
        self.height = Int(share_DisplayHeight(display, screen))
        self.depth = Int(share_DefaultDepth(display, screen))
        self.method = .getImage
        self.area = area
        self.drawsCursor = drawsCursor && CursorImage.isAvailable(display: display)

        let visualClass = visual.pointee.`class`
        guard visualClass == TrueColor || visualClass == DirectColor else {
            close()
            throw ShareError(
                "The X display '\(requested)' uses a \(depth)-bit palette visual, which share cannot capture. "
                    + "Run the X server at depth 16, 24 or 32."
            )
        }
        guard width * height <= 16384 * 16384 else {
            close()
            throw ShareError.frameTooLarge(width: width, height: height)
        }
        if case .monitor(let choice) = area {
            // Pin the choice to the monitor's name, so that the share follows that monitor, not a position.
            let monitors = Monitor.list(display: display, root: root)
            guard let monitor = choice.pick(from: monitors) else {
                close()
                throw ShareError.noSuchMonitor(choice, monitors: monitors)
            }
            self.area = .monitor(.name(monitor.name))
        }
        switch resolveArea(display) {
        case .rect(let rect):
            do {
                try budget?.check(width: rect.width, height: rect.height)
            } catch {
                close()
                throw error
            }
            method = makeSharedImage(display, width: rect.width, height: rect.height) ? .sharedMemory : .getImage
        case .gone(let error), .unavailable(let error):
            close()
            if case .window(let id) = area { throw ShareError.noSuchWindow(id, displayName: requested) }
            throw error
        }
    }

    deinit {
        close()
    }

    /// Detaches shared memory and closes the display. Safe to call twice.
    func close() {
        guard let display else { return }
        if XErrorTrap.isLost(display) {
            // The connection is dead: no more Xlib calls on it. Only our side of the segment is left to drop.
            shared?.detachLocally()
        } else {
            shared?.release(display: display)
            XCloseDisplay(display)
        }
        XErrorTrap.forget(display)
        shared = nil
        self.display = nil
    }

    /// A round trip to the server, so that a dead connection, a closed window or an unplugged monitor is
    /// noticed even while nobody watches.
    func checkConnection() throws {
        guard let display, !XErrorTrap.isLost(display) else { throw ShareError.displayLost(displayName) }
        XSync(display, 0)
        if XErrorTrap.isLost(display) { throw ShareError.displayLost(displayName) }
        if case .gone(let error) = resolveArea(display) { throw error }
    }

    /// The monitors XRandR reports (`XRRGetMonitors`); empty when the server lacks RandR 1.5.
    func monitors() throws -> [Monitor] {
        guard let display, !XErrorTrap.isLost(display) else { throw ShareError.displayLost(displayName) }
        return Monitor.list(display: display, root: root)
    }

    /// Reads the shared area of the root window, converts it to RGB and draws the pointer into it; only the bands
    /// of rows that changed since the last capture are converted, and an unchanged screen gives the last frame.
    func capture() throws -> Frame {
        guard let display else { throw ShareError("The X display '\(displayName)' is closed.") }
        guard !XErrorTrap.isLost(display) else { throw ShareError.displayLost(displayName) }
        followSizeChanges(display)
        let rect: PixelRect
        switch resolveArea(display) {
        case .rect(let resolved): rect = resolved
        case .gone(let error), .unavailable(let error): throw error
        }
        // A screen that grew (xrandr), or a window or monitor that did, can outgrow the memory share may use.
        try FrameBudget.current.check(width: rect.width, height: rect.height)
        return try read(rect, from: display) { base, layout in
            let cursor = drawsCursor ? CursorImage.current(display: display) : nil
            return assembler.frame(
                from: base,
                layout: layout,
                width: rect.width,
                height: rect.height,
                cursor: cursor,
                originX: rect.x,
                originY: rect.y
            )
        }
    }

    /// Reads the pixels of `rect` (inside the screen), through the shared segment when it works, else
    /// `XGetImage`, and hands them to `body` while they are valid.
    private func read(
        _ rect: PixelRect,
        from display: OpaquePointer,
        _ body: (UnsafeRawPointer, PixelLayout) -> Frame
    ) throws -> Frame {
        if sharedMemoryWorks, shared?.width != rect.width || shared?.height != rect.height {
            method = makeSharedImage(display, width: rect.width, height: rect.height) ? .sharedMemory : .getImage
        }
        if let shared {
            if XShmGetImage(display, root, shared.image, Int32(rect.x), Int32(rect.y), share_AllPlanes()) != 0 {
                return body(UnsafeRawPointer(shared.image.pointee.data), shared.layout)
            }
            // The segment stopped working (rare): use the socket from now on.
            shared.release(display: display)
            self.shared = nil
            sharedMemoryWorks = false
            method = .getImage
        }
        guard
            let image = XGetImage(
                display,
                root,
                Int32(rect.x),
                Int32(rect.y),
                UInt32(rect.width),
                UInt32(rect.height),
                share_AllPlanes(),
                ZPixmap
            )
        else {
            _ = XErrorTrap.take(for: display)
            if XErrorTrap.isLost(display) { throw ShareError.displayLost(displayName) }
            throw ShareError(
                "The X server '\(displayName)' refused to hand over the screen image. "
                    + "Check that the display is still running and try again."
            )
        }
        defer { _ = share_XDestroyImage(image) }
        let layout = PixelLayout(image: image.pointee)
        guard layout.isSupported else {
            throw ShareError(
                "The X display '\(displayName)' stores pixels in a format share cannot read "
                    + "(\(layout.bitsPerPixel) bits per pixel). Run the X server at depth 16, 24 or 32."
            )
        }
        return body(UnsafeRawPointer(image.pointee.data), layout)
    }

    /// Replaces the shared image by one of the given size; false (and no shared image) when MIT-SHM does not work.
    private func makeSharedImage(_ display: OpaquePointer, width: Int, height: Int) -> Bool {
        shared?.release(display: display)
        shared = nil
        guard sharedMemoryWorks else { return false }
        shared = SharedImage(display: display, visual: visual, depth: depth, width: width, height: height)
        if shared == nil { sharedMemoryWorks = false }
        return shared != nil
    }
}

extension XScreenCapturer {
    /// Where the shared area is now, or why it cannot be captured.
    enum AreaState {
        /// Capture this rectangle of the root window (always inside the screen).
        case rect(PixelRect)
        /// The window closed or the monitor went away: the share should end with this message.
        case gone(ShareError)
        /// Not capturable at the moment (a window moved fully off the screen): fail this capture only.
        case unavailable(ShareError)
    }

    /// Looks up the area's current rectangle: monitors and windows are asked again on every call, so moves and
    /// resizes are followed.
    func resolveArea(_ display: OpaquePointer) -> AreaState {
        let screen = PixelRect(x: 0, y: 0, width: width, height: height)
        switch area {
        case .screen:
            return .rect(screen)
        case .region(let region):
            guard let clipped = region.intersection(screen) else {
                return .unavailable(ShareError.regionOutside(region, screenWidth: width, screenHeight: height))
            }
            return .rect(clipped)
        case .monitor(let choice):
            let monitors = Monitor.list(display: display, root: root)
            guard let monitor = choice.pick(from: monitors) else {
                return .gone(ShareError.monitorGone(choice, monitors: monitors))
            }
            guard let clipped = monitor.rect.intersection(screen) else {
                return .unavailable(ShareError("The monitor '\(monitor.name)' lies outside the screen; try again."))
            }
            return .rect(clipped)
        case .window(let id):
            return windowRect(display, id: Window(id), screen: screen)
        }
    }

    /// The on-screen rectangle of a window (`XGetWindowAttributes`, `XTranslateCoordinates`).
    private func windowRect(_ display: OpaquePointer, id: Window, screen: PixelRect) -> AreaState {
        _ = XErrorTrap.take(for: display)
        var attributes = XWindowAttributes()
        let found = XGetWindowAttributes(display, id, &attributes) != 0
        var x: Int32 = 0
        var y: Int32 = 0
        var child: Window = 0
        let translated = found && XTranslateCoordinates(display, id, root, 0, 0, &x, &y, &child) != 0
        XSync(display, 0)
        let failed = XErrorTrap.take(for: display) != nil
        if XErrorTrap.isLost(display) { return .gone(ShareError.displayLost(displayName)) }
        guard found, translated, !failed else { return .gone(ShareError.windowClosed(UInt(id))) }
        let rect = PixelRect(x: Int(x), y: Int(y), width: Int(attributes.width), height: Int(attributes.height))
        guard attributes.map_state == IsViewable, let clipped = rect.intersection(screen) else {
            return .unavailable(
                ShareError(
                    "The window 0x\(String(UInt(id), radix: 16)) is not on the screen (minimised or moved away); "
                        + "bring it back to share it."
                )
            )
        }
        return .rect(clipped)
    }

    /// Notices a new screen size (xrandr, a projector plugged in); the next capture makes a shared image to fit.
    private func followSizeChanges(_ display: OpaquePointer) {
        var rootReturn: Window = 0
        var x: Int32 = 0
        var y: Int32 = 0
        var newWidth: UInt32 = 0
        var newHeight: UInt32 = 0
        var border: UInt32 = 0
        var newDepth: UInt32 = 0
        guard XGetGeometry(display, root, &rootReturn, &x, &y, &newWidth, &newHeight, &border, &newDepth) != 0,
            Int(newWidth) != width || Int(newHeight) != height, newWidth > 0, newHeight > 0,
            Int(newWidth) * Int(newHeight) <= 16384 * 16384
        else { return }
        width = Int(newWidth)
        height = Int(newHeight)
    }
}

extension PixelLayout {
    /// The layout of an `XImage`.
    init(image: XImage) {
        self.init(
            bitsPerPixel: Int(image.bits_per_pixel),
            bytesPerLine: Int(image.bytes_per_line),
            bigEndian: image.byte_order == MSBFirst,
            redMask: UInt32(truncatingIfNeeded: image.red_mask),
            greenMask: UInt32(truncatingIfNeeded: image.green_mask),
            blueMask: UInt32(truncatingIfNeeded: image.blue_mask)
        )
    }
}

/// One MIT-SHM segment attached both here and in the X server, and the `XImage` that points into it.
///
/// The segment is marked for removal as soon as both sides are attached, so that the kernel frees it even if
/// this process is killed. Owned by `XScreenCapturer`, on its thread.
private final class SharedImage {
    let image: UnsafeMutablePointer<XImage>
    let layout: PixelLayout
    let width: Int
    let height: Int
    private let info: UnsafeMutablePointer<XShmSegmentInfo>

    /// Creates and attaches the segment; nil when the server has no MIT-SHM or is not on this machine.
    init?(display: OpaquePointer, visual: UnsafeMutablePointer<Visual>, depth: Int, width: Int, height: Int) {
        guard XShmQueryExtension(display) != 0 else { return nil }
        let info = UnsafeMutablePointer<XShmSegmentInfo>.allocate(capacity: 1)
        info.initialize(to: XShmSegmentInfo())
        guard
            let image = XShmCreateImage(
                display,
                visual,
                UInt32(depth),
                ZPixmap,
                nil,
                info,
                UInt32(width),
                UInt32(height)
            )
        else {
            info.deallocate()
            return nil
        }
        let size = Int(image.pointee.bytes_per_line) * height
        let id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600)
        guard id >= 0 else {
            _ = share_XDestroyImage(image)
            info.deallocate()
            return nil
        }
        guard let address = shmat(id, nil, 0), address != UnsafeMutableRawPointer(bitPattern: -1) else {
            shmctl(id, IPC_RMID, nil)
            _ = share_XDestroyImage(image)
            info.deallocate()
            return nil
        }
        info.pointee.shmid = id
        info.pointee.shmaddr = address.assumingMemoryBound(to: CChar.self)
        info.pointee.readOnly = 0
        image.pointee.data = info.pointee.shmaddr

        _ = XErrorTrap.take(for: display)
        let attached = XShmAttach(display, info) != 0
        XSync(display, 0)
        let failed = XErrorTrap.take(for: display) != nil
        // Both sides are attached (or the server refused): the segment can go once the last one detaches.
        shmctl(id, IPC_RMID, nil)
        guard attached, !failed else {
            // A remote X server cannot attach a segment of this machine; XGetImage works everywhere.
            shmdt(address)
            image.pointee.data = nil
            _ = share_XDestroyImage(image)
            info.deallocate()
            return nil
        }
        let layout = PixelLayout(image: image.pointee)
        guard layout.isSupported else {
            XShmDetach(display, info)
            XSync(display, 0)
            shmdt(address)
            image.pointee.data = nil
            _ = share_XDestroyImage(image)
            info.deallocate()
            return nil
        }
        self.image = image
        self.info = info
        self.layout = layout
        self.width = width
        self.height = height
    }

    /// Drops this process's side of the segment when the server is gone, and frees the image.
    func detachLocally() {
        shmdt(info.pointee.shmaddr)
        image.pointee.data = nil
        _ = share_XDestroyImage(image)
        info.deallocate()
    }

    /// Detaches the segment from the server and from this process, and frees the image.
    func release(display: OpaquePointer) {
        XShmDetach(display, info)
        XSync(display, 0)
        shmdt(info.pointee.shmaddr)
        image.pointee.data = nil
        _ = share_XDestroyImage(image)
        info.deallocate()
    }
}
