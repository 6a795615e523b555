/// A rectangle of pixels in root-window coordinates.
public struct PixelRect: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// X geometry syntax: `WxH+X+Y`, as `xrandr` and `xwininfo` print it.
    public var description: String { "\(width)x\(height)\(x < 0 ? "-" : "+")\(abs(x))\(y < 0 ? "-" : "+")\(abs(y))" }

    /// Parses `WxH+X+Y` (offsets may be negative: `WxH-X-Y` is not a corner spec here, just a signed offset).
    ///
    /// Returns nil when the text is not of that form or the size is not positive.
    public init?(geometry text: String) {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        func number() -> Int? {
            let start = index
            while index < scalars.count, ("0"..."9").contains(scalars[index]) { index += 1 }
            guard index > start, index - start <= 6 else { return nil }
            return Int(String(String.UnicodeScalarView(scalars[start..<index])))
        }
        func signed() -> Int? {
            guard index < scalars.count, scalars[index] == "+" || scalars[index] == "-" else { return nil }
            let negative = scalars[index] == "-"
            index += 1
            return number().map { negative ? -$0 : $0 }
        }
        guard let width = number(), index < scalars.count, scalars[index] == "x" || scalars[index] == "X" else {
            return nil
        }
        index += 1
        guard let height = number(), let x = signed(), let y = signed(), index == scalars.count, width > 0,
            height > 0
        else { return nil }
        self.init(x: x, y: y, width: width, height: height)
    }

    /// The part of this rectangle inside `other`; nil when they do not overlap.
    public func intersection(_ other: PixelRect) -> PixelRect? {
        let left = max(x, other.x)
        let top = max(y, other.y)
        let right = min(x + width, other.x + other.width)
        let bottom = min(y + height, other.y + other.height)
        guard right > left, bottom > top else { return nil }
        return PixelRect(x: left, y: top, width: right - left, height: bottom - top)
    }
}

/// Which monitor to share: by the name XRandR gives it, or by its position in `share monitors`.
public enum MonitorChoice: Sendable, Equatable, CustomStringConvertible {
    case name(String)
    case index(Int)

    /// A number is an index, anything else a name.
    public init(_ text: String) {
        if let index = Int(text), index >= 0 { self = .index(index) } else { self = .name(text) }
    }

    /// The monitor this choice names, if it is in `monitors`.
    public func pick(from monitors: [Monitor]) -> Monitor? {
        switch self {
        case .name(let name): return monitors.first { $0.name == name }
        case .index(let index): return index < monitors.count ? monitors[index] : nil
        }
    }

    public var description: String {
        switch self {
        case .name(let name): return "'\(name)'"
        case .index(let index): return "number \(index)"
        }
    }
}

/// What part of the X screen a share shows.
public enum CaptureArea: Sendable, Equatable, CustomStringConvertible {
    /// The whole root window (every monitor).
    case screen
    /// One XRandR monitor, followed when it moves or changes size.
    case monitor(MonitorChoice)
    /// A fixed rectangle, clipped to the screen.
    case region(PixelRect)
    /// A top-level window by its X id, followed when it moves or changes size.
    case window(UInt)

    public var description: String {
        switch self {
        case .screen: return "the whole screen"
        case .monitor(let choice): return "monitor \(choice)"
        case .region(let rect): return "region \(rect)"
        case .window(let id): return "window 0x\(String(id, radix: 16))"
        }
    }

    /// Parses a window id as `xwininfo` prints it (`0x1e00007`) or in decimal.
    public static func windowID(_ text: String) -> UInt? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return UInt(lower.dropFirst(2), radix: 16).flatMap { $0 > 0 ? $0 : nil } }
        return UInt(lower).flatMap { $0 > 0 ? $0 : nil }
    }
}
