/// A failure the user can act on: every message says what happened and what to do next.
public struct ShareError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong and how to fix it, ready to print.
    public let description: String

    package init(_ description: String) {
        self.description = description
    }
}

extension ShareError {
    /// The X display could not be opened.
    package static func displayUnavailable(_ name: String?) -> ShareError {
        let what: String
        if let name, !name.isEmpty {
            what = "Cannot open the X display '\(name)'."
        } else {
            what = "No X display to capture: DISPLAY is not set and --display was not given."
        }
        return ShareError(
            """
            \(what)
            Run share from your desktop session, or set DISPLAY to it (for example DISPLAY=:0 share start) \
            or pass --display :0.
            To check that the room can connect without sharing your screen, use 'share start --test-card'.
            A Wayland session without XWayland cannot be captured through X11.
            """
        )
    }

    /// The X server went away while sharing.
    package static func displayLost(_ name: String) -> ShareError {
        ShareError(
            "The X display '\(name)' went away (the X server stopped or the session ended), so sharing stopped. "
                + "Start share again from your desktop session."
        )
    }

    /// The port is taken by another program.
    package static func portInUse(_ port: Int, address: String) -> ShareError {
        ShareError(
            "Port \(port) on \(address) is already in use by another program. "
                + "Pick another with --port, or use --port 0 to let the system choose a free one."
        )
    }

    /// The bind address does not belong to this machine.
    package static func addressUnavailable(_ address: String) -> ShareError {
        ShareError(
            "Cannot listen on \(address): it is not an address of this machine. "
                + "Leave out --bind to listen on every interface, or pass one of this machine's addresses "
                + "(see 'ip -brief address')."
        )
    }

    /// A frame is too large to hold.
    package static func frameTooLarge(width: Int, height: Int) -> ShareError {
        ShareError(
            "The screen is \(width)x\(height) pixels, which is too large to capture. Lower the screen resolution."
        )
    }
}
