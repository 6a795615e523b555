import Foundation
import Glibc
import Logging

/// Everything `share start` needs to know, already validated by the command line.
public struct StartConfiguration: Sendable {
    /// TCP port; 0 lets the system pick a free one.
    public var port: Int
    /// The address to listen on; "0.0.0.0" means every IPv4 interface.
    public var bindAddress: String
    /// Seconds between two captures, at most; also the page's refresh interval.
    public var interval: Double
    /// X display to capture; nil means `$DISPLAY`.
    public var displayName: String?
    /// The share's name, shown in the page title; nil means the host name.
    public var name: String?
    /// Serve the built-in test card instead of the screen.
    public var testCard: Bool
    /// Advertise the share on the LAN through Avahi.
    public var advertise: Bool
    /// Print a QR code of the first URL (only ever when stdout is a terminal).
    public var qrCode: Bool
    /// The PIN that locks the share; nil for an open share.
    public var pin: String?
    /// Print the number of viewers on stderr whenever it changes.
    public var showViewers = false
    /// The limits every client must keep to (sizes, timeouts, connections).
    package var limits = ConnectionLimits.standard
    /// `--monitor NAME|INDEX`: share one XRandR monitor.
    public var monitor: String?
    /// `--region WxH+X+Y`: share a rectangle of the screen.
    public var region: String?
    /// `--window ID`: share one window (hex as xwininfo prints it, or decimal).
    public var window: String?
    /// Draw the mouse pointer into the frames.
    public var drawsCursor: Bool
    /// Downscale frames wider than this, keeping the aspect ratio.
    public var maxWidth: Int?
    /// Downscale frames taller than this, keeping the aspect ratio.
    public var maxHeight: Int?

    /// The allowed range of `interval`, in seconds.
    public static let intervalRange: ClosedRange<Double> = 0.1...3600
    /// The allowed range of `--max-width` and `--max-height`, in pixels.
    public static let maxSizeRange: ClosedRange<Int> = 16...16384

    public init(
        port: Int = 8000,
        bindAddress: String = "0.0.0.0",
        interval: Double = 1,
        displayName: String? = nil,
        name: String? = nil,
        testCard: Bool = false,
        advertise: Bool = true,
        qrCode: Bool = true,
        monitor: String? = nil,
        region: String? = nil,
        window: String? = nil,
        drawsCursor: Bool = true,
        maxWidth: Int? = nil,
        maxHeight: Int? = nil
    ) {
        self.monitor = monitor
        self.region = region
        self.window = window
        self.drawsCursor = drawsCursor
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.port = port
        self.bindAddress = bindAddress
        self.interval = interval
        self.displayName = displayName
        self.name = name
        self.testCard = testCard
        self.advertise = advertise
        self.qrCode = qrCode
    }

    /// Problems with the values, each phrased as what to change; empty when all is well.
    public var problems: [String] {
        var problems: [String] = []
        if !(0...65535).contains(port) {
            problems.append("--port must be between 0 and 65535 (0 picks a free port); got \(port).")
        }
        if !Self.intervalRange.contains(interval) || !interval.isFinite {
            problems.append("--interval must be between 0.1 and 3600 seconds; got \(interval).")
        }
        if !IPAddress.isLiteral(bindAddress) {
            problems.append(
                "--bind needs an IP address of this machine, such as 0.0.0.0 (every interface) or 127.0.0.1 "
                    + "(this machine only); got '\(bindAddress)'."
            )
        }
        if let pin, !Self.isValidPIN(pin) {
            problems.append("--pin must be 4 to 32 letters or digits (or --pin alone for a random one); got '\(pin)'.")
        }
        if let name, name.trimmingCharacters(in: .whitespaces).isEmpty || name.utf8.count > 63 {
            problems.append("--name must be 1 to 63 bytes long (a DNS-SD instance name); got '\(name)'.")
        }
        problems += areaProblems
        for (option, value) in [("--max-width", maxWidth), ("--max-height", maxHeight)] {
            if let value, !Self.maxSizeRange.contains(value) {
                problems.append(
                    "\(option) must be between \(Self.maxSizeRange.lowerBound) and \(Self.maxSizeRange.upperBound) "
                        + "pixels; got \(value)."
                )
            }
        }
        return problems
    }

    /// What part of the screen to share; `.screen` unless `--monitor`, `--region` or `--window` was given.
    public var area: CaptureArea {
        if let monitor { return .monitor(MonitorChoice(monitor)) }
        if let region, let rect = PixelRect(geometry: region) { return .region(rect) }
        if let window, let id = CaptureArea.windowID(window) { return .window(id) }
        return .screen
    }

    private var areaProblems: [String] {
        var problems: [String] = []
        let given = [("--monitor", monitor), ("--region", region), ("--window", window)].filter { $0.1 != nil }
        if given.count > 1 {
            problems.append(
                "Give only one of --monitor, --region and --window; got " + given.map(\.0).joined(separator: " and ")
                    + "."
            )
        }
        if testCard, let first = given.first {
            problems.append("\(first.0) picks part of the screen, so it cannot go with --test-card; drop one.")
        }
        if let monitor, monitor.trimmingCharacters(in: .whitespaces).isEmpty {
            problems.append("--monitor needs a monitor name or index, as 'share monitors' lists them.")
        }
        if let region, PixelRect(geometry: region) == nil {
            problems.append(
                "--region must be WIDTHxHEIGHT+X+Y in pixels, as xrandr and xwininfo write it "
                    + "(for example 1280x720+0+0); got '\(region)'."
            )
        }
        if let window, CaptureArea.windowID(window) == nil {
            problems.append(
                "--window needs a window id, in hex (0x1e00007) or decimal, as 'xwininfo' or 'wmctrl -l' print it; "
                    + "got '\(window)'."
            )
        }
        return problems
    }

    /// A PIN is 4 to 32 ASCII letters or digits: easy to type on a phone and safe in a URL as it is.
    public static func isValidPIN(_ pin: String) -> Bool {
        (4...32).contains(pin.utf8.count)
            && pin.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            }
    }

    /// A random 6-digit PIN, for `--pin` without a value.
    public static func randomPIN() -> String {
        PINLock.randomPIN()
    }
}

/// IP address checks.
package enum IPAddress {
    /// True for an IPv4 or IPv6 literal.
    package static func isLiteral(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
