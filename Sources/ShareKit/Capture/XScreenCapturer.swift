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
    private(set) var width: Int
    private(set) var height: Int
    let depth: Int
    private(set) var method: Method
    private var display: OpaquePointer?
    private let root: Window
    private let visual: UnsafeMutablePointer<Visual>
    private var shared: SharedImage?

    /// Opens `displayName` (nil: `$DISPLAY`) with `XOpenDisplay` and prepares the fastest capture it allows.
    init(displayName: String?) throws {
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

        let visualClass = visual.pointee.`class`
        guard visualClass == TrueColor || visualClass == DirectColor else {
            XCloseDisplay(display)
            self.display = nil
            throw ShareError(
                "The X display '\(requested)' uses a \(depth)-bit palette visual, which share cannot capture. "
                    + "Run the X server at depth 16, 24 or 32."
            )
        }
        guard width * height <= 16384 * 16384 else {
            XCloseDisplay(display)
            self.display = nil
            throw ShareError.frameTooLarge(width: width, height: height)
        }
        if let shared = SharedImage(display: display, visual: visual, depth: depth, width: width, height: height) {
            self.shared = shared
            self.method = .sharedMemory
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

    /// A round trip to the server, so that a dead connection is noticed even while nobody watches.
    func checkConnection() throws {
        guard let display, !XErrorTrap.isLost(display) else { throw ShareError.displayLost(displayName) }
        XSync(display, 0)
        if XErrorTrap.isLost(display) { throw ShareError.displayLost(displayName) }
    }

    /// Reads the whole root window and converts it to RGB.
    func capture() throws -> Frame {
        guard let display else { throw ShareError("The X display '\(displayName)' is closed.") }
        guard !XErrorTrap.isLost(display) else { throw ShareError.displayLost(displayName) }
        followSizeChanges(display)
        if let shared {
            if XShmGetImage(display, root, shared.image, 0, 0, share_AllPlanes()) != 0 {
                return shared.layout.frame(
                    from: UnsafeRawPointer(shared.image.pointee.data),
                    width: width,
                    height: height
                )
            }
            // The segment stopped working (rare): use the socket from now on.
            shared.release(display: display)
            self.shared = nil
            method = .getImage
        }
        guard let image = XGetImage(display, root, 0, 0, UInt32(width), UInt32(height), share_AllPlanes(), ZPixmap)
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
        return layout.frame(from: UnsafeRawPointer(image.pointee.data), width: width, height: height)
    }
}

extension XScreenCapturer {
    /// Notices a new screen size (xrandr, a projector plugged in) and makes a shared image of the new size.
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
        if let old = shared {
            old.release(display: display)
            shared = SharedImage(display: display, visual: visual, depth: depth, width: width, height: height)
            method = shared == nil ? .getImage : .sharedMemory
        }
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
