import Testing

@testable import ShareKit

/// Capture from a real X server (Xvfb): the pixels that come out are the pixels drawn, at several sizes and
/// depths, through MIT-SHM and through plain XGetImage.
@Suite(
    "Capturing a real X display",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these"),
    .serialized
)
struct CaptureTests {
    @Test(
        "The captured frame and its decoded PNG equal the pattern drawn on the screen",
        arguments: [(640, 480, 24), (1023, 767, 24), (640, 480, 16), (801, 603, 16)]
    )
    func capturedPixelsEqualThePattern(size: (width: Int, height: Int, depth: Int)) async throws {
        try await withXvfb(width: size.width, height: size.height, depth: size.depth) { xvfb in
            let pattern = TestPattern(width: size.width, height: size.height, depth: size.depth)
            try pattern.draw(on: xvfb.displayName)

            let source = try await XScreenSource.open(displayName: xvfb.displayName)
            defer { Task { await source.close() } }
            #expect(source.usesSharedMemory, "a local Xvfb offers MIT-SHM")
            let frame = try await source.captureFrame()
            #expect(frame.width == size.width && frame.height == size.height)
            let expected = pattern.expected
            #expect(firstDifference(frame.rgb, expected, width: size.width) == nil)

            // Both encoders: libpng's, and the strip encoder the frame path uses.
            for encoder in [PNGEncoder.live as any FrameEncoder, StripPNGEncoder()] {
                let decoded = try decodePNG(try encoder.encode(frame))
                #expect(decoded.width == size.width && decoded.height == size.height)
                #expect(firstDifference(decoded.rgb, expected, width: size.width) == nil, "\(encoder.tag)")
            }
            await source.close()
        }
    }

    @Test("Without MIT-SHM, XGetImage gives the same pixels")
    func fallsBackToXGetImage() async throws {
        try await withXvfb(width: 320, height: 200, depth: 24, extraArguments: ["-extension", "MIT-SHM"]) { xvfb in
            let pattern = TestPattern(width: 320, height: 200, depth: 24, seed: 3)
            try pattern.draw(on: xvfb.displayName)
            let source = try await XScreenSource.open(displayName: xvfb.displayName)
            #expect(!source.usesSharedMemory)
            #expect(source.summary.contains("XGetImage"))
            let frame = try await source.captureFrame()
            #expect(firstDifference(frame.rgb, pattern.expected, width: 320) == nil)
            await source.close()
        }
    }

    @Test("A later capture sees the screen change")
    func seesChanges() async throws {
        try await withXvfb(width: 200, height: 100) { xvfb in
            let source = try await XScreenSource.open(displayName: xvfb.displayName)
            for seed in [1, 2] {
                let pattern = TestPattern(width: 200, height: 100, depth: 24, seed: seed)
                try pattern.draw(on: xvfb.displayName)
                let frame = try await source.captureFrame()
                #expect(firstDifference(frame.rgb, pattern.expected, width: 200) == nil)
            }
            await source.close()
        }
    }

    @Test("A display that does not exist gives advice, not a crash")
    func missingDisplay() async throws {
        let error = await #expect(throws: ShareError.self) {
            _ = try await XScreenSource.open(displayName: ":4242")
        }
        let message = error?.description ?? ""
        #expect(message.contains("Cannot open the X display ':4242'"))
        #expect(message.contains("DISPLAY"))
        #expect(message.contains("--test-card"))
        #expect(message.contains("Wayland"))
    }
}
