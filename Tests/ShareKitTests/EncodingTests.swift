import Foundation
import Testing

@testable import ShareKit

@Suite("PNG encoding")
struct EncodingTests {
    @Test("Encoded frames decode with libpng to exactly the same pixels", arguments: [(1, 1), (3, 7), (257, 129)])
    func roundTrip(size: (width: Int, height: Int)) throws {
        var rgb = [UInt8](repeating: 0, count: size.width * size.height * 3)
        for i in rgb.indices { rgb[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i / 7) }
        let frame = Frame(width: size.width, height: size.height, rgb: rgb)
        let decoded = try decodePNG(try PNGEncoder.live.encode(frame))
        #expect(decoded.width == size.width && decoded.height == size.height)
        #expect(decoded.rgb == rgb)
    }

    @Test("The test card is a valid PNG that shows the colour bars and changes every second")
    func testCard() async throws {
        let card = TestCardSource(name: "Room 4", host: "lectern")
        let first = card.render(at: .init(timeIntervalSince1970: 1_000_000))
        let second = card.render(at: .init(timeIntervalSince1970: 1_000_001))
        #expect(first.rgb != second.rgb)
        let decoded = try decodePNG(try PNGEncoder.live.encode(first))
        #expect(decoded.rgb == first.rgb)
        // The middle of each colour bar has the bar's colour.
        for (index, colour) in TestCardSource.bars.enumerated() {
            let x = (2 * index + 1) * card.width / (2 * TestCardSource.bars.count)
            let pixel = first.pixel(x: x, y: card.height / 6)
            #expect(pixel == colour, "bar \(index)")
        }
    }
}
