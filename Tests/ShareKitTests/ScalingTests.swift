import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import ShareKit

/// Downscaling: exact output sizes with the aspect ratio kept, a box filter that averages, and the per-width copies
/// served as `/screen.png?width=N`.
@Suite("Scaling the picture for the room")
struct ScalingTests {
    @Test(
        "--max-width and --max-height give exact sizes and keep the aspect ratio; nothing is enlarged",
        arguments: [
            (3840, 2160, 1280, nil, 1280, 720),
            (1920, 1080, nil, 500, 889, 500),
            (1920, 1080, 1000, 500, 889, 500),
            (1920, 1200, 1280, 1000, 1280, 800),
            (1024, 768, 2000, 2000, 1024, 768),
            (801, 603, 400, nil, 400, 301),
        ] as [(Int, Int, Int?, Int?, Int, Int)]
    )
    func fitSizes(_ c: (Int, Int, Int?, Int?, Int, Int)) {
        let size = BoxScaler.fit(width: c.0, height: c.1, maxWidth: c.2, maxHeight: c.3)
        #expect(size.width == c.4 && size.height == c.5)
        let sourceRatio = Double(c.0) / Double(c.1)
        let ratio = Double(size.width) / Double(size.height)
        #expect(abs(ratio - sourceRatio) / sourceRatio < 0.005, "aspect ratio kept")
    }

    @Test("The box filter averages the pixels each output pixel covers, including fractional edges")
    func boxFilterAverages() {
        // 4x2 with 2x2 blocks of black and white: halving gives one grey pixel per block, exactly.
        let blocks = Frame(
            width: 4,
            height: 2,
            rgb: [0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]
        )
        #expect(BoxScaler.scale(blocks, width: 2, height: 1).rgb == [0, 0, 0, 255, 255, 255])
        #expect(BoxScaler.scale(blocks, width: 1, height: 1).rgb == [128, 128, 128])
        // 3 -> 2: each output pixel covers 1.5 source pixels (weights 2/3 and 1/3).
        let row = Frame(width: 3, height: 1, rgb: [30, 0, 0, 90, 0, 0, 150, 0, 0])
        #expect(BoxScaler.scale(row, width: 2, height: 1).rgb == [50, 0, 0, 130, 0, 0])
        // A uniform colour stays exactly that colour at any size.
        let uniform = Frame(width: 97, height: 61, rgb: Array(repeating: [18, 52, 86], count: 97 * 61).flatMap { $0 })
        let small = BoxScaler.scale(uniform, width: 33, height: 20)
        #expect(small.width == 33 && small.height == 20)
        #expect(small.rgb == Array(repeating: [18, 52, 86], count: 33 * 20).flatMap { $0 })
    }

    @Test("A viewer's width picks the smallest standard width at least that wide, or the full frame")
    func standardWidths() {
        #expect(ScaledFrameStore.standardWidth(for: 1, sourceWidth: 1920) == 320)
        #expect(ScaledFrameStore.standardWidth(for: 320, sourceWidth: 1920) == 320)
        #expect(ScaledFrameStore.standardWidth(for: 321, sourceWidth: 1920) == 480)
        #expect(ScaledFrameStore.standardWidth(for: 1300, sourceWidth: 1920) == 1600)
        #expect(ScaledFrameStore.standardWidth(for: 1700, sourceWidth: 1920) == nil, "1920 is the frame itself")
        #expect(ScaledFrameStore.standardWidth(for: 3000, sourceWidth: 3840) == nil, "above 2560: full size")
    }

    @Test("ScalingSource downscales its source's frames, and does not scale an unchanged frame again")
    func scalingSource() async throws {
        let clock = Mutex(Date(timeIntervalSince1970: 1_000_000))
        let card = TestCardSource(name: "Scaled", host: "lectern") { clock.withLock { $0 } }
        let source = ScalingSource(card, maxWidth: 400, maxHeight: nil)
        let first = try await source.captureFrame()
        #expect(first.width == 400 && first.height == 225)
        #expect(source.summary.contains("scaled to at most width 400"))
        let same = try await source.captureFrame()
        #expect(same.rgb == first.rgb && source.scaleCount == 1, "the same picture is not scaled again")
        clock.withLock { $0 += 61 }
        let later = try await source.captureFrame()
        #expect(later.rgb != first.rgb && source.scaleCount == 2, "a new picture is")
    }
}

/// `/screen.png?width=N` over a real socket, from a real Xvfb screen.
@Suite(
    "Serving smaller copies per width",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these")
)
struct ScaledServingTests {
    func withServedScreen(
        _ body: @Sendable (any TestClientProtocol, FrameStore, ScaledFrameStore) async throws -> Void
    ) async throws {
        try await withXvfb(width: 1024, height: 768) { xvfb in
            try TestPattern(width: 1024, height: 768, depth: 24).draw(on: xvfb.displayName)
            let source = try await XScreenSource.open(displayName: xvfb.displayName)
            let frames = FrameStore(source: source, interval: .seconds(5))
            let scaled = ScaledFrameStore(frames: frames)
            let application = ShareServer.buildApplication(
                configuration: StartConfiguration(port: 0, bindAddress: "127.0.0.1", interval: 5),
                frames: frames,
                name: "Scaled",
                host: "lectern",
                logger: Logger(label: "share.tests"),
                scaledFrames: scaled
            )
            do {
                try await application.test(.live) { client in try await body(client, frames, scaled) }
            } catch {
                await source.close()
                throw error
            }
            await source.close()
        }
    }

    @Test("?width=300 is a 320x240 PNG with its own ETag; a matching If-None-Match is a 304; above 1024, full size")
    func scaledCopy() async throws {
        try await withServedScreen { client, _, _ in
            let full = try await client.execute(uri: "/screen.png", method: .get)
            let small = try await client.execute(uri: "/screen.png?width=300", method: .get)
            #expect(small.status == .ok)
            let decoded = try decodePNG(Array(buffer: small.body))
            #expect(decoded.width == 320 && decoded.height == 240)
            let etag = try #require(small.headers[.eTag])
            #expect(etag.hasSuffix("-w320\"") && etag != full.headers[.eTag])
            let again = try await client.execute(
                uri: "/screen.png?width=300",
                method: .get,
                headers: [.ifNoneMatch: etag]
            )
            #expect(again.status == .notModified)
            let large = try await client.execute(uri: "/screen.png?width=5000", method: .get)
            #expect(large.headers[.eTag] == full.headers[.eTag])
            #expect(try decodePNG(Array(buffer: large.body)).width == 1024)
        }
    }

    @Test("Bad widths are a 400 that says what is allowed", arguments: ["-1", "0", "abc", "999999999", "", "12.5"])
    func badWidth(_ width: String) async throws {
        try await withServedScreen { client, _, _ in
            let response = try await client.execute(uri: "/screen.png?width=\(width)", method: .get)
            #expect(response.status == .badRequest)
            let text = String(buffer: response.body)
            #expect(text.contains("width must be a whole number of pixels from 1 to 16384"))
            #expect(text.contains("320, 480, 640"))
        }
    }

    @Test("30 concurrent viewers of one width cost one capture, one scale and one encode")
    func oneEncodePerWidth() async throws {
        try await withServedScreen { client, frames, scaled in
            let etags = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<30 {
                    group.addTask {
                        let response = try await client.execute(uri: "/screen.png?width=640", method: .get)
                        return response.status == .ok ? response.headers[.eTag] : nil
                    }
                }
                var etags: [String?] = []
                for try await etag in group { etags.append(etag) }
                return etags
            }
            #expect(etags.count == 30 && Set(etags).count == 1 && etags.first??.hasSuffix("-w640\"") == true)
            #expect(scaled.encodes == 1)
            #expect(frames.statistics.captures == 1)
        }
    }
}
