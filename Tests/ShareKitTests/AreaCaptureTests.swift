import Testing

@testable import ShareKit

/// Sharing part of a real X display (Xvfb): one XRandR monitor, a region, a window, and the pointer drawn in.
@Suite(
    "Capturing a monitor, a region, a window and the pointer",
    .enabled(if: TestEnvironment.runsXSuites, "Xvfb is not installed; run Scripts/test to install it and run these"),
    .serialized
)
struct AreaCaptureTests {
    /// Xvfb at 640x240 split into two monitors: LEFT 300x240+0+0 (primary) and RIGHT 340x240+300+0.
    static let layout = [("LEFT", 0, 0, 300, 240), ("RIGHT", 300, 0, 340, 240)]

    func withTwoMonitors(
        pointer: Bool = false,
        _ body: (XvfbServer, TestPattern, TestMonitors) async throws -> Void
    ) async throws {
        try await withXvfb(width: 640, height: 240, pointer: pointer) { xvfb in
            let pattern = TestPattern(width: 640, height: 240, depth: 24, seed: 1)
            try pattern.draw(on: xvfb.displayName)
            let monitors = try TestMonitors(on: xvfb.displayName, monitors: Self.layout)
            defer { monitors.remove() }
            try await body(xvfb, pattern, monitors)
        }
    }

    /// Opens a source, runs `body`, closes the source whatever happens.
    func withSource(
        _ xvfb: XvfbServer,
        area: CaptureArea,
        drawsCursor: Bool = false,
        _ body: (XScreenSource) async throws -> Void
    ) async throws {
        let source = try await XScreenSource.open(displayName: xvfb.displayName, area: area, drawsCursor: drawsCursor)
        do {
            try await body(source)
        } catch {
            await source.close()
            throw error
        }
        await source.close()
    }

    @Test("XRandR reports the two test monitors with names, geometry and the primary flag")
    func listsMonitors() async throws {
        try await withTwoMonitors { xvfb, _, _ in
            let monitors = try await MonitorListing.monitors(displayName: xvfb.displayName)
            #expect(
                monitors == [
                    Monitor(index: 0, name: "LEFT", x: 0, y: 0, width: 300, height: 240, primary: true),
                    Monitor(index: 1, name: "RIGHT", x: 300, y: 0, width: 340, height: 240, primary: false),
                ]
            )
            #expect(
                MonitorListing.table(monitors)
                    == "INDEX  NAME   GEOMETRY       PRIMARY\n0      LEFT   300x240+0+0    yes\n1      RIGHT  340x240+300+0"
            )
            #expect(MonitorListing.json(monitors).hasPrefix(#"[{"height":240,"index":0,"name":"LEFT","primary":true,"#))
        }
    }

    @Test("A monitor, by name or by index, gives exactly that monitor's pixels")
    func monitorPixels() async throws {
        try await withTwoMonitors { xvfb, pattern, _ in
            for (area, rect) in [
                (CaptureArea.monitor(.name("RIGHT")), (300, 0, 340, 240)),
                (.monitor(.index(0)), (0, 0, 300, 240)),
            ] {
                try await withSource(xvfb, area: area) { source in
                    let frame = try await source.captureFrame()
                    #expect(frame.width == rect.2 && frame.height == rect.3)
                    let expected = TestDisplay.crop(
                        pattern.expected,
                        width: 640,
                        x: rect.0,
                        y: rect.1,
                        cropWidth: rect.2,
                        cropHeight: rect.3
                    )
                    #expect(firstDifference(frame.rgb, expected, width: rect.2) == nil, "\(area)")
                }
            }
        }
    }

    @Test("A monitor that changes geometry is followed; one that is unplugged ends the share with a message")
    func monitorChangesAndGoes() async throws {
        try await withTwoMonitors { xvfb, pattern, monitors in
            try await withSource(xvfb, area: .monitor(.name("RIGHT"))) { source in
                #expect(source.area == .monitor(.name("RIGHT")))
                // Re-plugged with another size and place: the next frame is the new rectangle.
                monitors.remove()
                let moved = try TestMonitors(
                    on: xvfb.displayName,
                    monitors: [("LEFT", 0, 0, 200, 240), ("RIGHT", 200, 10, 400, 200)]
                )
                let frame = try await source.captureFrame()
                #expect(frame.width == 400 && frame.height == 200)
                let expected = TestDisplay.crop(
                    pattern.expected,
                    width: 640,
                    x: 200,
                    y: 10,
                    cropWidth: 400,
                    cropHeight: 200
                )
                #expect(firstDifference(frame.rgb, expected, width: 400) == nil)
                try await source.checkConnection()

                // Unplugged: the capture and the watch say so, naming what is left.
                moved.remove()
                let error = await #expect(throws: ShareError.self) { try await source.checkConnection() }
                #expect(error?.description.contains("The shared monitor 'RIGHT' is gone") == true)
                #expect(error?.description.contains("Monitors now: 0 screen 640x240+0+0") == true)
                await #expect(throws: ShareError.self) { _ = try await source.captureFrame() }
            }
        }
    }

    @Test("A monitor that does not exist is refused with the list of monitors")
    func missingMonitor() async throws {
        try await withTwoMonitors { xvfb, _, _ in
            for choice in [MonitorChoice.name("HDMI-9"), .index(2)] {
                let error = await #expect(throws: ShareError.self) {
                    _ = try await XScreenSource.open(displayName: xvfb.displayName, area: .monitor(choice))
                }
                let message = error?.description ?? ""
                #expect(message.contains("There is no monitor \(choice)"))
                #expect(message.contains("0 LEFT 300x240+0+0 primary, 1 RIGHT 340x240+300+0"))
                #expect(message.contains("--monitor NAME"))
            }
        }
    }

    @Test("An X server without RandR: share monitors and --monitor say so and point to the alternatives")
    func withoutRandR() async throws {
        try await withXvfb(width: 320, height: 240, extraArguments: ["-extension", "RANDR"]) { xvfb in
            let listing = await #expect(throws: ShareError.self) {
                _ = try await MonitorListing.monitors(displayName: xvfb.displayName)
            }
            #expect(listing?.description.contains("lacks the RandR 1.5 extension") == true)
            let start = await #expect(throws: ShareError.self) {
                _ = try await XScreenSource.open(displayName: xvfb.displayName, area: .monitor(.index(0)))
            }
            #expect(start?.description.contains("--monitor cannot pick one") == true)
            #expect(start?.description.contains("--region") == true)
        }
    }

    @Test("A region gives exactly that rectangle, clipped to the screen; one fully outside is refused")
    func regionPixels() async throws {
        try await withXvfb(width: 640, height: 480) { xvfb in
            let pattern = TestPattern(width: 640, height: 480, depth: 24, seed: 2)
            try pattern.draw(on: xvfb.displayName)
            for (region, clipped) in [
                (PixelRect(x: 37, y: 51, width: 123, height: 77), PixelRect(x: 37, y: 51, width: 123, height: 77)),
                (PixelRect(x: 600, y: 430, width: 100, height: 100), PixelRect(x: 600, y: 430, width: 40, height: 50)),
                (PixelRect(x: -10, y: -5, width: 30, height: 20), PixelRect(x: 0, y: 0, width: 20, height: 15)),
            ] {
                try await withSource(xvfb, area: .region(region)) { source in
                    let frame = try await source.captureFrame()
                    #expect(frame.width == clipped.width && frame.height == clipped.height, "\(region)")
                    let expected = TestDisplay.crop(
                        pattern.expected,
                        width: 640,
                        x: clipped.x,
                        y: clipped.y,
                        cropWidth: clipped.width,
                        cropHeight: clipped.height
                    )
                    #expect(firstDifference(frame.rgb, expected, width: clipped.width) == nil, "\(region)")
                }
            }
            let error = await #expect(throws: ShareError.self) {
                _ = try await XScreenSource.open(
                    displayName: xvfb.displayName,
                    area: .region(PixelRect(x: 700, y: 0, width: 50, height: 50))
                )
            }
            #expect(error?.description.contains("The region 50x50+700+0 lies fully outside the screen") == true)
            #expect(error?.description.contains("640x480+0+0") == true)
        }
    }

    @Test("A window: its pixels, followed when it moves or changes size; closing it ends the share with a message")
    func windowFollowed() async throws {
        try await withXvfb(width: 640, height: 480) { xvfb in
            let pattern = TestPattern(width: 640, height: 480, depth: 24, seed: 3)
            try pattern.draw(on: xvfb.displayName)
            let window = try TestWindow(on: xvfb.displayName, x: 50, y: 60, width: 121, height: 83)
            defer { window.close() }
            try await withSource(xvfb, area: .window(window.id)) { source in
                var frame = try await source.captureFrame()
                #expect(frame.width == 121 && frame.height == 83)
                #expect(firstDifference(frame.rgb, window.expected, width: 121) == nil)

                window.move(x: 400, y: 300)
                frame = try await source.captureFrame()
                #expect(frame.width == 121 && frame.height == 83)
                #expect(firstDifference(frame.rgb, window.expected, width: 121) == nil, "the window was followed")

                window.resize(width: 150, height: 101)
                frame = try await source.captureFrame()
                #expect(frame.width == 150 && frame.height == 101)
                #expect(firstDifference(frame.rgb, window.expected, width: 150) == nil, "the resize was followed")

                // Partly off the screen: the visible part.
                window.move(x: 580, y: 300)
                frame = try await source.captureFrame()
                #expect(frame.width == 60 && frame.height == 101)

                try await source.checkConnection()
                window.close()
                let error = await #expect(throws: ShareError.self) { try await source.checkConnection() }
                #expect(error?.description.contains("was closed, so sharing stopped") == true)
            }
            let missing = await #expect(throws: ShareError.self) {
                _ = try await XScreenSource.open(displayName: xvfb.displayName, area: .window(0x7654321))
            }
            #expect(missing?.description.contains("There is no window 0x7654321") == true)
            #expect(missing?.description.contains("xwininfo") == true)
        }
    }

    @Test("The pointer is drawn where it is, with its own pixels; not with the cursor off; moving it changes the frame")
    func pointerDrawn() async throws {
        try await withPointer(seed: 5, x: 100, y: 60) { xvfb, pattern, cursor in
            #expect(cursor.argb.contains { $0 >> 24 == 255 }, "Xvfb's pointer has opaque pixels")
            let expected = pattern.expected

            try await withSource(xvfb, area: .screen, drawsCursor: true) { source in
                let frame = try await source.captureFrame()
                var opaqueChecked = 0
                for cy in 0..<cursor.height {
                    for cx in 0..<cursor.width {
                        let (x, y) = (cursor.x + cx, cursor.y + cy)
                        let argb = cursor.argb[cy * cursor.width + cx]
                        let i = (y * 320 + x) * 3
                        let actual = Array(frame.rgb[i..<(i + 3)])
                        let alpha = argb >> 24
                        if alpha == 255 {
                            // Opaque: exactly the cursor's colour.
                            #expect(actual == [UInt8(argb >> 16 & 255), UInt8(argb >> 8 & 255), UInt8(argb & 255)])
                            opaqueChecked += 1
                        } else if argb == 0 {
                            #expect(actual == Array(expected[i..<(i + 3)]), "transparent: the screen shows through")
                        }
                    }
                }
                #expect(opaqueChecked > 20)
                // Outside the cursor, the pattern.
                var outside = frame.rgb
                var pattern = expected
                for cy in 0..<cursor.height {
                    for cx in 0..<cursor.width {
                        let i = ((cursor.y + cy) * 320 + cursor.x + cx) * 3
                        for c in 0..<3 {
                            outside[i + c] = 0
                            pattern[i + c] = 0
                        }
                    }
                }
                #expect(firstDifference(outside, pattern, width: 320) == nil)

                // Only a pointer move makes a new frame: same ETag while still, a new one after a move.
                let store = FrameStore(source: source, interval: .milliseconds(100))
                let first = try await store.currentFrame()
                try await Task.sleep(for: .milliseconds(150))
                let still = try await store.currentFrame()
                #expect(still.etag == first.etag)
                try TestDisplay.warpPointer(on: xvfb.displayName, x: 200, y: 150)
                try await Task.sleep(for: .milliseconds(150))
                let moved = try await store.currentFrame()
                #expect(moved.etag != first.etag)
            }
            try await withSource(xvfb, area: .screen, drawsCursor: false) { source in
                let frame = try await source.captureFrame()
                #expect(firstDifference(frame.rgb, expected, width: 320) == nil, "--no-cursor: the plain pattern")
            }
        }
    }
}
