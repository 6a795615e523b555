import Dispatch
import Glibc

/// Turns the successive raw images of one capture area into RGB frames, doing only the work that the changes need.
///
/// The raw image is cut into bands of `bandHeight` rows (the strip encoder's strips). Every call hashes each band
/// of the raw image (`FrameDigest`; for the bands the pointer covers, mixed with the pointer's digest). When
/// every band is as in the last frame, that frame is returned as it is: no conversion, no copy, the same digest.
/// Otherwise the new frame is written into a kept RGB buffer (the one of the frame before the last, reused in
/// place when nobody else holds it any more): bands that changed since the last frame are converted (and the
/// pointer blended into them), bands that changed in the last frame but not since are copied from it, and the
/// rest are already right.
///
/// The frames carry their digest (`Frame.knownDigest`, combined from the band digests with the size) and the
/// band digests (`Frame.bands`), so `FrameStore` and `StripPNGEncoder` do not read the pixels again to hash them.
/// Equal raw pixels, layout and pointer give equal digests, so the ETags made from them stay strong.
///
/// Both passes (hashing, then converting or copying) spread the bands over the cores with
/// `DispatchQueue.concurrentPerform` while the X thread waits; each band is written by one thread only.
///
/// Not thread-safe: owned by `XScreenCapturer` and used on the X thread only.
final class FrameAssembler {
    /// Rows per band: the strip encoder's default strip height, so it can use the band digests.
    static let bandHeight = 32

    /// RGB pixels and the band digests of the content they hold.
    private struct Buffer {
        var rgb: [UInt8]
        /// Empty when the buffer holds nothing usable yet.
        var digests: [UInt64]
        var frameDigest: UInt64
    }

    /// What one band of the buffer being written needs.
    private enum Work {
        case none
        /// Changed in the last frame but not since: copy it from the last frame.
        case copy
        /// Changed since the last frame: convert the raw pixels and blend the pointer in.
        case convert
    }

    private var width = 0
    private var height = 0
    private var layout: PixelLayout?
    /// The buffer of the frame returned last.
    private var latest: Buffer?
    /// The buffer of the frame before it: the next changed frame is written here.
    private var spare: Buffer?
    /// How many threads hash and convert bands at once (Dispatch's workers; the X thread waits for them).
    private let concurrency: Int
    /// Bands converted from raw pixels since the start, and bands copied from the last frame: for tests.
    private(set) var bandsConverted = 0
    private(set) var bandsCopied = 0

    init(concurrency: Int? = nil) {
        self.concurrency = max(1, concurrency ?? min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// The frame of the raw image at `base` (`width` x `height` pixels in `layout`), with `cursor` blended in
    /// (its position relative to the frame's top-left pixel at `originX`, `originY` of the root window).
    func frame(
        from base: UnsafeRawPointer,
        layout: PixelLayout,
        width: Int,
        height: Int,
        cursor: CursorImage?,
        originX: Int,
        originY: Int
    ) -> Frame {
        if width != self.width || height != self.height || layout != self.layout {
            latest = nil
            spare = nil
            self.width = width
            self.height = height
            self.layout = layout
        }
        let bandHeight = Self.bandHeight
        let bandCount = (height + bandHeight - 1) / bandHeight
        let seed = Self.seed(layout: layout, width: width)
        // A fully transparent pointer (hidden) changes no pixel, so it must not change a digest either.
        let cursor = cursor.flatMap { cursor in cursor.argb.allSatisfy { $0 == 0 } ? nil : cursor }
        let pointer = cursor.flatMap { cursor in
            cursor.rows(inFrameOfWidth: width, height: height, originX: originX, originY: originY).map {
                (rows: $0, digest: cursor.digest(originX: originX, originY: originY))
            }
        }

        // Every band's digest, the bands spread over the threads.
        nonisolated(unsafe) let raw = base
        let digests = [UInt64](unsafeUninitializedCapacity: bandCount) { out, count in
            nonisolated(unsafe) let out = out
            parallel(bandCount) { band in
                let rows = (band * bandHeight)..<min(height, (band + 1) * bandHeight)
                var digest = Self.digest(of: raw, layout: layout, width: width, rows: rows, seed: seed)
                if let pointer, pointer.rows.overlaps(rows) {
                    digest = FrameDigest.combine([digest, pointer.digest], seed: seed)
                }
                out[band] = digest
            }
            count = bandCount
        }
        if let latest, latest.digests == digests {
            // Nothing changed: the last frame, as it is.
            return makeFrame(latest)
        }

        var buffer = takeSpare()
        let work = (0..<bandCount).map { band -> Work in
            if !buffer.digests.isEmpty, buffer.digests[band] == digests[band] { return .none }
            if let latest, latest.digests[band] == digests[band] { return .copy }
            return .convert
        }
        let previous = latest?.rgb ?? []
        buffer.rgb.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            previous.withUnsafeBufferPointer { previous in
                nonisolated(unsafe) let previous = previous
                parallel(bandCount) { band in
                    let rows = (band * bandHeight)..<min(height, (band + 1) * bandHeight)
                    switch work[band] {
                    case .none: break
                    case .copy:
                        let start = rows.lowerBound * width * 3
                        (out.baseAddress! + start).update(
                            from: previous.baseAddress! + start,
                            count: rows.count * width * 3
                        )
                    case .convert:
                        layout.convert(from: raw, width: width, rows: rows, into: out.baseAddress!)
                        cursor?.blend(into: out, frameWidth: width, originX: originX, originY: originY, rows: rows)
                    }
                }
            }
        }
        bandsConverted += work.count { if case .convert = $0 { true } else { false } }
        bandsCopied += work.count { if case .copy = $0 { true } else { false } }
        buffer.digests = digests
        buffer.frameDigest = FrameDigest.combine(digests, seed: UInt64(width) << 32 | UInt64(height))
        spare = latest.take()
        latest = buffer
        return makeFrame(buffer)
    }

    /// Runs `body` for every band, on up to `concurrency` threads (each takes every n-th band, so the work of a
    /// change in one place is spread too), on this thread alone when there are few bands.
    private func parallel(_ bandCount: Int, _ body: @Sendable (Int) -> Void) {
        let threads = bandCount >= 8 ? min(concurrency, bandCount) : 1
        if threads == 1 {
            for band in 0..<bandCount { body(band) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for band in stride(from: thread, to: bandCount, by: threads) { body(band) }
        }
    }

    private func makeFrame(_ buffer: Buffer) -> Frame {
        Frame(
            width: width,
            height: height,
            rgb: buffer.rgb,
            knownDigest: buffer.frameDigest,
            bands: BandDigests(rows: Self.bandHeight, digests: buffer.digests)
        )
    }

    /// The spare buffer, moved out so that this object holds no second reference to it (then writing into it
    /// copies nothing unless a frame made from it is still in use); a new one when there is none of this size.
    private func takeSpare() -> Buffer {
        if let buffer = spare.take(), buffer.rgb.count == width * height * 3 { return buffer }
        let count = width * height * 3
        // Every band is converted into a buffer without digests, so its bytes need no initial value.
        let rgb = [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        return Buffer(rgb: rgb, digests: [], frameDigest: 0)
    }

    /// Seeds the band digests with the layout and the width, so that the same bytes read in another layout or
    /// at another width never count as the same pixels.
    private static func seed(layout: PixelLayout, width: Int) -> UInt64 {
        let format =
            UInt64(layout.bitsPerPixel) << 1 | (layout.bigEndian ? 1 : 0) | UInt64(bandHeight) << 16
            | UInt64(width) << 32
        let masks = UInt64(layout.redMask) << 32 | UInt64(layout.greenMask)
        let blueAndLine = UInt64(layout.blueMask) << 32 | UInt64(UInt32(truncatingIfNeeded: layout.bytesPerLine))
        return FrameDigest.combine([format, masks, blueAndLine], seed: 0)
    }

    /// The digest of the raw pixels of `rows` (the padding at the end of each row left out).
    private static func digest(
        of base: UnsafeRawPointer,
        layout: PixelLayout,
        width: Int,
        rows: Range<Int>,
        seed: UInt64
    ) -> UInt64 {
        let used = layout.pixelBytes(width: width)
        if used == layout.bytesPerLine {
            let bytes = UnsafeRawBufferPointer(start: base + rows.lowerBound * used, count: rows.count * used)
            return FrameDigest.digest(of: bytes, seed: seed)
        }
        var digest = seed
        for y in rows {
            digest = FrameDigest.digest(
                of: UnsafeRawBufferPointer(start: base + y * layout.bytesPerLine, count: used),
                seed: digest
            )
        }
        return digest
    }
}
