internal import CX11
import Synchronization

/// Collects X protocol errors per display instead of letting Xlib's default handler exit the process.
///
/// Xlib has one process-wide error handler, called on the thread that reads the error, with the display it
/// came from. The handler records the error code for that display; the code that made the request calls
/// `XSync` and then `take(for:)`.
enum XErrorTrap {
    /// Error codes seen since the last `take`, by display address.
    private static let errors = Mutex<[UInt: UInt8]>([:])

    /// Installs the handler once per process. Also turns on Xlib's thread support, since tests and the
    /// application may hold several displays on several threads.
    static let installed: Void = {
        XInitThreads()
        XSetErrorHandler { display, event in
            guard let display, let event else { return 0 }
            let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(display)))
            let code = event.pointee.error_code
            XErrorTrap.errors.withLock { errors in
                if errors[key] == nil { errors[key] = code }
            }
            return 0
        }
        // Xlib calls this when the connection breaks (the X server died or the session ended), then the
        // display's exit handler, which `watch(_:)` replaces so that the process does not exit.
        XSetIOErrorHandler { _ in 0 }
    }()

    /// Displays whose connection broke, by address.
    private static let lost = Mutex<Set<UInt>>([])

    /// Turns a broken connection to `display` into a flag (see `isLost`) instead of Xlib's `exit(1)`.
    ///
    /// After the handler returns, Xlib marks the display dead and its calls return failure; the capturer
    /// checks `isLost` and makes no more calls on it.
    static func watch(_ display: OpaquePointer) {
        XSetIOErrorExitHandler(
            display,
            { display, _ in
                guard let display else { return }
                let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(display)))
                _ = XErrorTrap.lost.withLock { $0.insert(key) }
            },
            nil
        )
    }

    /// True once the connection to `display` broke.
    static func isLost(_ display: OpaquePointer) -> Bool {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(display)))
        return lost.withLock { $0.contains(key) }
    }

    /// Forgets a display that is being closed (its address may be reused).
    static func forget(_ display: OpaquePointer) {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(display)))
        _ = lost.withLock { $0.remove(key) }
        _ = errors.withLock { $0.removeValue(forKey: key) }
    }

    /// The first error code recorded for `display` since the last call, if any.
    static func take(for display: OpaquePointer) -> UInt8? {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(display)))
        return errors.withLock { $0.removeValue(forKey: key) }
    }
}
