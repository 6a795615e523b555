/// Recognises a Wayland session, where X11 capture sees only XWayland windows, or nothing at all.
package enum WaylandSession {
    /// A warning for the presenter when `environment` says the session is Wayland; nil otherwise.
    ///
    /// Looks at `XDG_SESSION_TYPE` (`wayland`) and `WAYLAND_DISPLAY` (set inside a Wayland session).
    package static func warning(environment: [String: String]) -> String? {
        let type = environment["XDG_SESSION_TYPE"]?.lowercased()
        let waylandDisplay = environment["WAYLAND_DISPLAY"].flatMap { $0.isEmpty ? nil : $0 }
        guard type == "wayland" || waylandDisplay != nil else { return nil }
        let evidence =
            type == "wayland" ? "XDG_SESSION_TYPE=wayland" : "WAYLAND_DISPLAY=\(waylandDisplay ?? "")"
        return "This is a Wayland session (\(evidence)). share captures through X11, so viewers see only the "
            + "windows of X11 programs running under XWayland, or a black or empty screen. To share everything, "
            + "log in to an X11 session (\"GNOME on Xorg\" or similar at the login screen)."
    }
}
