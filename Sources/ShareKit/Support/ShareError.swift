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

    /// The shared area needs more memory than the process may use (`FrameBudget`).
    package static func frameOverBudget(width: Int, height: Int, neededBytes: Int, budget: FrameBudget) -> ShareError {
        let megabytes = { (bytes: Int) in bytes / 1_000_000 }
        return ShareError(
            "The shared area is \(width)x\(height) pixels; sharing it needs about \(megabytes(neededBytes)) MB, more "
                + "than half of the \(megabytes(budget.limitBytes)) MB this process may use (set by \(budget.limitSource)). "
                + "Share a part of the screen with --monitor or --region, lower the screen resolution, or raise "
                + "the limit."
        )
    }

    /// A frame is too large to hold.
    package static func frameTooLarge(width: Int, height: Int) -> ShareError {
        ShareError(
            "The screen is \(width)x\(height) pixels, which is too large to capture. Lower the screen resolution."
        )
    }

    /// `--monitor` names no monitor of the display.
    package static func noSuchMonitor(_ choice: MonitorChoice, monitors: [Monitor]) -> ShareError {
        if monitors.isEmpty {
            return ShareError(
                "There is no monitor \(choice): this X server reports no monitors (it lacks XRandR 1.5), so "
                    + "--monitor cannot pick one. Leave --monitor out to share the whole screen, or share a part "
                    + "of it with --region WIDTHxHEIGHT+X+Y."
            )
        }
        return ShareError(
            "There is no monitor \(choice) on this X display. \(Self.monitorList(monitors)) "
                + "Pick one with --monitor NAME or --monitor INDEX ('share monitors' lists them), or leave "
                + "--monitor out to share the whole screen."
        )
    }

    /// The shared monitor went away while sharing (unplugged, turned off, its XRandR monitor deleted).
    package static func monitorGone(_ choice: MonitorChoice, monitors: [Monitor]) -> ShareError {
        ShareError(
            "The shared monitor \(choice) is gone (unplugged, turned off or reconfigured), so sharing stopped. "
                + "\(Self.monitorList(monitors)) Start share again with another --monitor, or without it for "
                + "the whole screen."
        )
    }

    private static func monitorList(_ monitors: [Monitor]) -> String {
        if monitors.isEmpty { return "The X server reports no monitors (it lacks XRandR 1.5)." }
        return "Monitors now: " + monitors.map(\.summary).joined(separator: ", ") + "."
    }

    /// `--region` lies fully outside the screen.
    package static func regionOutside(_ region: PixelRect, screenWidth: Int, screenHeight: Int) -> ShareError {
        ShareError(
            "The region \(region) lies fully outside the screen, which is \(screenWidth)x\(screenHeight)+0+0. "
                + "Give --region as WIDTHxHEIGHT+X+Y with part of it on the screen, for example "
                + "--region \(min(640, screenWidth))x\(min(480, screenHeight))+0+0."
        )
    }

    /// `--window` names no window of the display.
    package static func noSuchWindow(_ id: UInt, displayName: String) -> ShareError {
        ShareError(
            "There is no window 0x\(String(id, radix: 16)) on the X display '\(displayName)', or it is not shown. "
                + "Find a window's id with 'xwininfo' (then click the window) or 'wmctrl -l'."
        )
    }

    /// The shared window was closed while sharing.
    package static func windowClosed(_ id: UInt) -> ShareError {
        ShareError(
            "The shared window 0x\(String(id, radix: 16)) was closed, so sharing stopped. "
                + "Start share again with another --window, or without it to share the whole screen."
        )
    }
}
