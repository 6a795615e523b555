internal import CPNGWriter
package import NIOCore

/// Turns frames into PNG bytes. `FrameStore` calls it from its encode pool, at most one encode at a time, so an
/// encoder may keep state from one frame to the next.
package protocol FrameEncoder: Sendable {
    /// Encodes a frame as a PNG file.
    func encode(_ frame: Frame) throws -> [UInt8]

    /// The same PNG file in a `ByteBuffer`, ready to serve; an encoder that writes it there directly spares a copy.
    func encodeBuffer(_ frame: Frame) throws -> ByteBuffer

    /// Names the encoder and its settings; part of the ETag, since other settings give other bytes.
    var tag: String { get }
}

extension FrameEncoder {
    package func encodeBuffer(_ frame: Frame) throws -> ByteBuffer {
        ByteBuffer(bytes: try encode(frame))
    }
}

/// Turns frames into PNG bytes with libpng (through the `CPNGWriter` C target, which keeps libpng's setjmp in C).
///
/// Blocking and CPU-bound: call it from a thread pool, never from an event loop or the cooperative pool.
package struct PNGEncoder: FrameEncoder {
    /// zlib level, 0-9. Level 1 is about five times faster than libpng's default 6 for a few percent more bytes.
    package var level: Int32
    /// libpng row filters.
    package var filters: Int32

    /// The settings for live frames: zlib level 1 with the UP filter (see Docs/Architecture.md for the figures).
    package static let live = PNGEncoder(level: 1, filters: Int32(SHARE_PNG_FILTER_UP))

    package var tag: String { "png\(level)f\(filters)" }

    package init(level: Int32, filters: Int32) {
        self.level = level
        self.filters = filters
    }

    /// Encodes a frame as an 8-bit RGB PNG.
    package func encode(_ frame: Frame) throws -> [UInt8] {
        var buffer = share_png_buffer()
        var message = [CChar](repeating: 0, count: 256)
        let status = frame.rgb.withUnsafeBufferPointer { pixels in
            message.withUnsafeMutableBufferPointer { message in
                share_png_encode_rgb(
                    pixels.baseAddress,
                    UInt32(frame.width),
                    UInt32(frame.height),
                    frame.rowBytes,
                    level,
                    filters,
                    &buffer,
                    message.baseAddress,
                    message.count
                )
            }
        }
        defer { share_png_buffer_free(&buffer) }
        guard status == 0 else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ShareError("Could not encode a \(frame.width)x\(frame.height) frame as PNG: \(reason).")
        }
        return Array(UnsafeBufferPointer(start: buffer.bytes, count: buffer.count))
    }
}
