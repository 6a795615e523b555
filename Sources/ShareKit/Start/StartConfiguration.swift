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

    /// The allowed range of `interval`, in seconds.
    public static let intervalRange: ClosedRange<Double> = 0.1...3600

    public init(
        port: Int = 8000,
        bindAddress: String = "0.0.0.0",
        interval: Double = 1,
        displayName: String? = nil,
        name: String? = nil,
        testCard: Bool = false,
        advertise: Bool = true,
        qrCode: Bool = true
    ) {
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
