import Glibc
import Synchronization

/// Formats dates as HTTP wants them (RFC 9110 IMF-fixdate): "Sun, 06 Nov 1994 08:49:37 GMT".
package enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The last second formatted by `now()`, shared by every thread.
    private static let latest = Mutex<(second: Int, text: String)>((-1, ""))

    /// The IMF-fixdate of the current second, formatted once per second.
    package static func now() -> String {
        current().text
    }

    /// The current second (since 1970) and its IMF-fixdate, formatted once per second.
    package static func current() -> (second: Int, text: String) {
        let second = Int(time(nil))
        if let text = latest.withLock({ $0.second == second ? $0.text : nil }) { return (second, text) }
        let text = string(secondsSince1970: Double(second))
        latest.withLock { $0 = (second, text) }
        return (second, text)
    }

    /// The IMF-fixdate for a number of seconds since 1970.
    package static func string(secondsSince1970 seconds: Double) -> String {
        var time = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
