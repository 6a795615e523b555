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
        _ = ()
    }()

    /// The first error code recorded for `display` since the last call, if any.
    static func take(for display: OpaquePointer) -> UInt8? {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(display)))
        return errors.withLock { $0.removeValue(forKey: key) }
    }
}
