import CX11
import Foundation

/// A pattern of coloured rectangles drawn on an X display's root window with Xlib, and the RGB image it
/// should produce. Cells have odd sizes and many colours, so a channel-order, stride or offset error fails.
struct TestPattern {
    typealias RGB = (UInt8, UInt8, UInt8)

    /// Colours every depth shows exactly.
    static let pureColours: [RGB] = [
        (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (255, 255, 255), (0, 0, 0),
    ]
    /// More colours, with distinct values in each channel, for 24-bit displays.
    static let trueColours: [RGB] = pureColours + [(18, 52, 86), (200, 100, 50), (1, 128, 254), (77, 7, 177)]

    let width: Int
    let height: Int
    let palette: [RGB]
    /// Shifts the pattern: draw with another seed to change the screen.
    var seed = 0

    init(width: Int, height: Int, depth: Int, seed: Int = 0) {
        self.width = width
        self.height = height
        self.palette = depth >= 24 ? Self.trueColours : Self.pureColours
        self.seed = seed
    }

    /// The cells: columns and rows of uneven sizes.
    private var cells: [(x: Int, y: Int, width: Int, height: Int, colour: RGB)] {
        var cells: [(Int, Int, Int, Int, RGB)] = []
        let columnWidth = max(1, width / 7 + 3)
        let rowHeight = max(1, height / 5 + 1)
        var index = seed
        for y in stride(from: 0, to: height, by: rowHeight) {
            for x in stride(from: 0, to: width, by: columnWidth) {
                cells.append(
                    (x, y, min(columnWidth, width - x), min(rowHeight, height - y), palette[index % palette.count])
                )
                index += 1
            }
            index += 3
        }
        // A one-pixel line and a single pixel, off the grid.
        cells.append((1, height / 2, width - 2, 1, palette[(seed + 2) % palette.count]))
        cells.append((width - 2, 1, 1, 1, palette[(seed + 5) % palette.count]))
        return cells
    }

    /// The expected image: width*height RGB triples.
    var expected: [UInt8] {
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for cell in cells {
            for y in cell.y..<(cell.y + cell.height) {
                for x in cell.x..<(cell.x + cell.width) {
                    let i = (y * width + x) * 3
                    rgb[i] = cell.colour.0
                    rgb[i + 1] = cell.colour.1
                    rgb[i + 2] = cell.colour.2
                }
            }
        }
        return rgb
    }

    /// Draws the pattern on the root window of `displayName`, through a connection of its own.
    func draw(on displayName: String) throws {
        guard let display = XOpenDisplay(displayName) else {
            throw EnvironmentError(description: "Cannot open \(displayName) to draw the test pattern.")
        }
        defer { XCloseDisplay(display) }
        let screen = share_DefaultScreen(display)
        let root = share_RootWindow(display, screen)
        let visual = share_DefaultVisual(display, screen).pointee
        let gc = share_DefaultGC(display, screen)
        for cell in cells {
            XSetForeground(display, gc, Self.pixel(cell.colour, visual: visual))
            XFillRectangle(display, root, gc, Int32(cell.x), Int32(cell.y), UInt32(cell.width), UInt32(cell.height))
        }
        XSync(display, 0)
    }

    /// The pixel value of a colour in a TrueColor visual: each channel's top bits, placed at its mask.
    private static func pixel(_ colour: RGB, visual: Visual) -> UInt {
        func place(_ value: UInt8, _ mask: UInt) -> UInt {
            let shift = UInt(mask.trailingZeroBitCount)
            let bits = UInt((mask >> shift).nonzeroBitCount)
            return (UInt(value) >> (8 - bits)) << shift
        }
        return place(colour.0, visual.red_mask) | place(colour.1, visual.green_mask) | place(colour.2, visual.blue_mask)
    }
}

/// Where two RGB images first differ, for a readable failure.
func firstDifference(_ actual: [UInt8], _ expected: [UInt8], width: Int) -> String? {
    guard actual.count == expected.count else { return "sizes differ: \(actual.count) vs \(expected.count) bytes" }
    for i in stride(from: 0, to: actual.count, by: 3) where actual[i..<(i + 3)] != expected[i..<(i + 3)] {
        let pixel = i / 3
        return
            "pixel (\(pixel % width), \(pixel / width)) is \(Array(actual[i..<(i + 3)])), expected \(Array(expected[i..<(i + 3)]))"
    }
    return nil
}
