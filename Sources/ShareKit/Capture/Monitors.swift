internal import CX11
import Foundation

/// One monitor as XRandR reports it: a named rectangle of the X screen.
public struct Monitor: Sendable, Equatable, Codable {
    /// Its position in the list, as `--monitor INDEX` takes it.
    public var index: Int
    /// The XRandR monitor name, such as `HDMI-1` or `eDP-1`.
    public var name: String
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int
    /// True for the primary monitor.
    public var primary: Bool

    public init(index: Int, name: String, x: Int, y: Int, width: Int, height: Int, primary: Bool) {
        self.index = index
        self.name = name
        self.x = x
        self.y = y
        self.width = width
        self.height = height
        self.primary = primary
    }

    /// The monitor's rectangle of the screen.
    public var rect: PixelRect { PixelRect(x: x, y: y, width: width, height: height) }

    /// `NAME WxH+X+Y`, with "primary" when it is.
    public var summary: String { "\(index) \(name) \(rect)\(primary ? " primary" : "")" }
}

/// Printing the monitor list for `share monitors`.
public enum MonitorListing {
    /// An aligned table with a header: INDEX, NAME, GEOMETRY, PRIMARY.
    public static func table(_ monitors: [Monitor]) -> String {
        let rows =
            [["INDEX", "NAME", "GEOMETRY", "PRIMARY"]]
            + monitors.map { ["\($0.index)", $0.name, "\($0.rect)", $0.primary ? "yes" : ""] }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? text : text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// A JSON array of objects: index, name, x, y, width, height, primary.
    public static func json(_ monitors: [Monitor]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(monitors)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The line `share start` logs when the screen has several monitors and the whole screen is shared.
    public static func advice(_ monitors: [Monitor]) -> String {
        "Sharing the whole screen, which spans \(monitors.count) monitors ("
            + monitors.map(\.summary).joined(separator: ", ")
            + "). To share one, restart with --monitor NAME or --monitor INDEX; 'share monitors' lists them."
    }
}

extension Monitor {
    /// The monitors of `display`'s screen (`XRRGetMonitors`), primary flag included; empty without RandR 1.5.
    ///
    /// Runs on the X thread only.
    static func list(display: OpaquePointer, root: Window) -> [Monitor] {
        var eventBase: Int32 = 0
        var errorBase: Int32 = 0
        var major: Int32 = 0
        var minor: Int32 = 0
        guard XRRQueryExtension(display, &eventBase, &errorBase) != 0,
            XRRQueryVersion(display, &major, &minor) != 0, major > 1 || (major == 1 && minor >= 5)
        else { return [] }
        var count: Int32 = 0
        guard let infos = XRRGetMonitors(display, root, 1, &count) else { return [] }
        defer { XRRFreeMonitors(infos) }
        var monitors: [Monitor] = []
        for i in 0..<Int(max(0, count)) {
            let info = infos[i]
            var name = "monitor-\(i)"
            if let atomName = XGetAtomName(display, info.name) {
                name = String(cString: atomName)
                XFree(atomName)
            }
            monitors.append(
                Monitor(
                    index: i,
                    name: name,
                    x: Int(info.x),
                    y: Int(info.y),
                    width: Int(info.width),
                    height: Int(info.height),
                    primary: info.primary != 0
                )
            )
        }
        return monitors
    }
}

extension MonitorListing {
    /// The monitors of `displayName` (nil: `$DISPLAY`). Throws `ShareError` with advice when the display cannot
    /// be opened or reports no monitors.
    public static func monitors(displayName: String?) async throws -> [Monitor] {
        // Listing captures nothing, so a screen too large to share can still be listed (to pick a part of it).
        let source = try await XScreenSource.open(displayName: displayName, budget: nil)
        let monitors: [Monitor]
        do {
            monitors = try await source.monitors()
        } catch {
            await source.close()
            throw error
        }
        await source.close()
        guard !monitors.isEmpty else {
            throw ShareError(
                "The X display reports no monitors: its server lacks the RandR 1.5 extension. "
                    + "Share the whole screen, or a part of it with 'share start --region WIDTHxHEIGHT+X+Y'."
            )
        }
        return monitors
    }
}
