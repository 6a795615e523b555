internal import CPNGWriter
import Dispatch
import Glibc
package import NIOCore
import Synchronization

/// Turns frames into PNG bytes by compressing strips of rows independently: in parallel on every core, and only
/// the strips whose pixels changed since the previous frame.
///
/// The rows are cut into strips of `stripHeight` rows. Each strip is filtered (its first row with SUB, so it never
/// looks at the strip above; the others with `filter`) and compressed as raw deflate ending in a sync flush, which
/// leaves it byte-aligned and not final: with zlib's LZ77, or with run lengths by share's own deflate coder
/// (`share_strip_png.c`), whichever suits the strip. The IDAT chunk is then a zlib header, every strip's bytes
/// in order, an empty final block and the adler32 of all the filtered bytes, combined from the strips' own; its
/// CRC is combined the same way. The encoder keeps each strip's digest, compressed bytes, adler32 and CRC, so in
/// the next frame of the same size a strip with the same digest is copied instead of compressed. Output is
/// deterministic: equal pixels give equal bytes, whether strips were compressed or reused.
///
/// Thread safety: `encode` may be called from any thread. The strip cache sits behind a lock that `encode` holds
/// from start to end, so concurrent calls run one after the other (`FrameStore` runs at most one encode at a time,
/// so the lock is never contended there). Blocking and CPU-bound: call it from a thread pool, never from an event
/// loop or the cooperative pool; it spreads the strips over `concurrency` threads with
/// `DispatchQueue.concurrentPerform`.
package final class StripPNGEncoder: FrameEncoder {
    /// The row filter of every row of a strip except its first.
    package enum Filter: Sendable {
        case up
        case paeth
    }

    /// How strips are compressed.
    package enum Strategy: Sendable {
        /// zlib's default matching at `level` (LZ77 with hash chains).
        case `default`
        /// Run-length matching only (what zlib's Z_RLE finds), written by share's own deflate coder: one block
        /// with Huffman codes made for the strip, about twice as fast as zlib's Z_RLE on photos and gradients and
        /// with PAETH about as small there as LZ77; larger on text.
        case rle
        /// Per strip: LZ77 for strips that look like text or user interface (at least 80 % and under 98 % of the
        /// filtered bytes are zero), run lengths for the rest.
        case adaptive
    }

    /// How many strips the encodes compressed, and how many they copied from the previous frame.
    package struct Counters: Sendable, Equatable {
        package var stripsCompressed = 0
        package var stripsReused = 0
        /// Of the compressed strips, how many used run lengths only (the others used LZ77).
        package var stripsRunLength = 0

        package init(stripsCompressed: Int = 0, stripsReused: Int = 0, stripsRunLength: Int = 0) {
            self.stripsCompressed = stripsCompressed
            self.stripsReused = stripsReused
            self.stripsRunLength = stripsRunLength
        }
    }

    package var tag: String { "s\(stripHeight)l\(level)\(strategy)\(filter)" }

    /// Rows per strip (the last strip may have fewer).
    package let stripHeight: Int
    /// zlib level for LZ77, 1-9 (run-length strips do not depend on it).
    package let level: Int32
    package let strategy: Strategy
    package let filter: Filter
    /// How many strips are compressed at once.
    package let concurrency: Int

    private let state = Mutex(State())

    /// The defaults are the settings for live frames: 32-row strips, PAETH, the adaptive strategy with LZ77 at
    /// level 3, on every core. With run lengths done by share's own coder, the LZ77 (text) strips are most of the
    /// work. Counted in instructions (callgrind) on 1920x1080 frames, level 3 costs 2 % more than level 2 on a
    /// desktop-like frame (1.11 times libpng's bytes) and 12 % more on dense text, which it makes 11 % smaller
    /// (1.27 times libpng's bytes, from 1.43); level 4 (lazy matching) would reach 1.17 times there, but costs
    /// 41 % more on the desktop and 78 % on dense text.
    package init(
        stripHeight: Int = 32,
        level: Int32 = 3,
        strategy: Strategy = .adaptive,
        filter: Filter = .paeth,
        concurrency: Int? = nil
    ) {
        precondition(stripHeight > 0, "a strip holds at least one row")
        precondition((1...9).contains(level), "zlib levels are 1 to 9")
        self.stripHeight = stripHeight
        self.level = level
        self.strategy = strategy
        self.filter = filter
        self.concurrency = max(1, concurrency ?? Self.processorCount)
    }

    /// The counters of the last `encode`.
    package var lastEncode: Counters { state.withLock { $0.lastEncode } }

    /// The counters of every `encode` so far.
    package var total: Counters { state.withLock { $0.total } }

    /// Encodes a frame as an 8-bit RGB PNG, reusing the compressed strips of the previous frame whose rows are
    /// unchanged.
    package func encode(_ frame: Frame) throws -> [UInt8] {
        Array(try encodeBuffer(frame).readableBytesView)
    }

    /// The same PNG, written straight into the buffer that is served.
    package func encodeBuffer(_ frame: Frame) throws -> ByteBuffer {
        guard frame.width > 0, frame.height > 0 else {
            throw ShareError("Could not encode a \(frame.width)x\(frame.height) frame as PNG: it has no pixels.")
        }
        // A filtered row (width * 3 + 1 bytes) must fit zlib's 32-bit counts, and the PNG's sizes 31 bits.
        guard frame.width < 0x2AAA_0000, frame.height <= Int(Int32.max) else {
            throw ShareError.frameTooLarge(width: frame.width, height: frame.height)
        }
        return try state.withLock { state in
            try encode(frame, state: &state)
        }
    }

    // MARK: - Strips

    /// One strip's compressed bytes and what the PNG needs to stitch it in.
    private struct Strip: Sendable {
        /// `FrameDigest` of the strip's pixels, or the frame's own digest of that band (`Frame.bands`).
        var digest: UInt64
        /// Raw deflate, ending in a sync flush.
        var bytes: [UInt8]
        /// adler32 of the strip's filtered bytes, and how many there are.
        var adler: UInt32
        var rawLength: Int
        /// crc32 of `bytes`.
        var crc: UInt32
    }

    /// The strips of the previous frame and the zlib workers, kept from one encode to the next.
    private struct State: ~Copyable {
        var width = 0
        var height = 0
        var strips: [Strip] = []
        var workers: [Worker] = []
        var lastEncode = Counters()
        var total = Counters()
    }

    /// A compressor (a zlib stream and the run-length coder) and a buffer to compress one strip into; used by one
    /// thread at a time.
    private final class Worker {
        let compressor: OpaquePointer
        private(set) var buffer: UnsafeMutableRawBufferPointer

        init(level: Int32, strategy: Strategy) throws {
            let strategy =
                switch strategy {
                case .default: SHARE_STRIP_STRATEGY_DEFAULT
                case .rle: SHARE_STRIP_STRATEGY_RLE
                case .adaptive: SHARE_STRIP_STRATEGY_ADAPTIVE
                }
            guard let compressor = share_strip_worker_create(level, Int32(strategy)) else {
                throw ShareError("Could not start zlib to encode a frame as PNG (out of memory). Close other programs.")
            }
            self.compressor = compressor
            self.buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        }

        /// Makes `buffer` at least `count` bytes.
        func reserve(_ count: Int) {
            guard buffer.count < count else { return }
            buffer.deallocate()
            buffer = .allocate(byteCount: count, alignment: 16)
        }

        deinit {
            share_strip_worker_destroy(compressor)
            buffer.deallocate()
        }
    }

    /// What the parallel part did with one strip: nothing (its pixels are unchanged), compressed it, or failed.
    private enum Outcome {
        case reused
        case compressed(Strip, runLength: Bool)
        case failed(Int32)
    }

    private func encode(_ frame: Frame, state: inout State) throws -> ByteBuffer {
        let width = frame.width
        let height = frame.height
        let stripCount = (height + stripHeight - 1) / stripHeight
        if state.width != width || state.height != height {
            state.strips = []
            state.width = width
            state.height = height
        }
        let threads = min(concurrency, stripCount)
        while state.workers.count < threads {
            state.workers.append(try Worker(level: level, strategy: strategy))
        }
        let bound = share_strip_bound(UInt32(width), UInt32(min(stripHeight, height)))
        guard bound > 0, bound < Int.max else { throw ShareError.frameTooLarge(width: width, height: height) }
        for worker in state.workers { worker.reserve(bound) }

        // The parallel part shares these without locks, safely: thread `t` uses only `workers[t]`, each strip index
        // is taken by one thread only (from `next`) and only that thread writes `outcomes[index]`, and `previous`
        // and the pixels are only read. concurrentPerform returns once every thread is done.
        nonisolated(unsafe) let outcomes = UnsafeMutableBufferPointer<Outcome>.allocate(capacity: stripCount)
        outcomes.initialize(repeating: .reused)
        defer {
            outcomes.deinitialize()
            outcomes.deallocate()
        }
        let previous = state.strips
        nonisolated(unsafe) let workers = state.workers
        let seed = UInt64(width) << 32 | UInt64(stripHeight)
        // The source's band digests, when its bands are these strips: no need to read unchanged strips at all.
        let known = frame.bands.flatMap {
            $0.rows == self.stripHeight && $0.digests.count == stripCount ? $0.digests : nil
        }
        let rowBytes = frame.rowBytes
        let filter = self.filter == .paeth ? SHARE_STRIP_FILTER_PAETH : SHARE_STRIP_FILTER_UP
        let stripHeight = self.stripHeight
        let next = Atomic(0)
        frame.rgb.withUnsafeBytes { buffer in
            nonisolated(unsafe) let pixels = buffer
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                let worker = workers[thread]
                while true {
                    let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard index < stripCount else { return }
                    let firstRow = index * stripHeight
                    let rows = min(stripHeight, height - firstRow)
                    let strip = UnsafeRawBufferPointer(
                        rebasing: pixels[(firstRow * rowBytes)..<((firstRow + rows) * rowBytes)]
                    )
                    let digest = known?[index] ?? FrameDigest.digest(of: strip, seed: seed)
                    if index < previous.count, previous[index].digest == digest { continue }
                    var result = share_strip_result()
                    let status = share_strip_compress(
                        worker.compressor,
                        strip.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        rowBytes,
                        UInt32(width),
                        UInt32(rows),
                        Int32(filter),
                        worker.buffer.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        worker.buffer.count,
                        &result
                    )
                    guard status == Int32(SHARE_STRIP_OK) else {
                        outcomes[index] = .failed(status)
                        continue
                    }
                    let bytes = Array(UnsafeRawBufferPointer(rebasing: worker.buffer[0..<result.count]))
                    outcomes[index] = .compressed(
                        Strip(
                            digest: digest,
                            bytes: bytes,
                            adler: result.adler,
                            rawLength: result.raw_length,
                            crc: result.crc
                        ),
                        runLength: result.strategy == Int32(SHARE_STRIP_STRATEGY_RLE)
                    )
                }
            }
        }

        var strips: [Strip] = []
        strips.reserveCapacity(stripCount)
        var counters = Counters()
        for index in 0..<stripCount {
            switch outcomes[index] {
            case .reused:
                strips.append(previous[index])
                counters.stripsReused += 1
            case .compressed(let strip, let runLength):
                strips.append(strip)
                counters.stripsCompressed += 1
                if runLength { counters.stripsRunLength += 1 }
            case .failed(let status):
                state.strips = []
                let reason = String(cString: share_strip_describe(status))
                throw ShareError(
                    "Could not encode a \(width)x\(height) frame as PNG: \(reason). Close other programs if memory is short."
                )
            }
        }
        state.strips = strips
        state.lastEncode = counters
        state.total.stripsCompressed += counters.stripsCompressed
        state.total.stripsReused += counters.stripsReused
        state.total.stripsRunLength += counters.stripsRunLength
        return try Self.png(width: width, height: height, strips: strips)
    }

    // MARK: - PNG layout

    /// The zlib header: deflate with a 32 KiB window, "fastest" level, and the check bits.
    private static let zlibHeader: [UInt8] = [0x78, 0x01]
    /// An empty final block with fixed codes (what zlib's Z_FINISH writes on an empty raw stream).
    private static let finalBlock: [UInt8] = [0x03, 0x00]
    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    private static func png(width: Int, height: Int, strips: [Strip]) throws -> ByteBuffer {
        var compressed = 0
        var adler: UInt32 = 1
        for strip in strips {
            compressed += strip.bytes.count
            adler = share_strip_adler32_combine(adler, strip.adler, strip.rawLength)
        }
        let idatLength = zlibHeader.count + compressed + finalBlock.count + 4
        guard idatLength <= Int(Int32.max) else { throw ShareError.frameTooLarge(width: width, height: height) }

        var png = ByteBufferAllocator().buffer(capacity: signature.count + 25 + 12 + idatLength + 12)
        png.writeBytes(signature)

        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        // 8 bits per channel, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
        header.append(contentsOf: [8, 2, 0, 0, 0])
        png.writeChunk("IHDR", header)

        // The IDAT chunk's CRC covers its type and data: the head and tail are hashed here, the strips' CRCs
        // combined in between.
        png.writeInteger(UInt32(idatLength))
        let head = Array("IDAT".utf8) + zlibHeader
        png.writeBytes(head)
        var crc = head.withUnsafeBufferPointer { share_strip_crc32(0, $0.baseAddress, $0.count) }
        for strip in strips {
            png.writeBytes(strip.bytes)
            crc = share_strip_crc32_combine(crc, strip.crc, strip.bytes.count)
        }
        var tail = finalBlock
        tail.appendBigEndian(adler)
        png.writeBytes(tail)
        crc = tail.withUnsafeBufferPointer { share_strip_crc32(crc, $0.baseAddress, $0.count) }
        png.writeInteger(crc)

        png.writeChunk("IEND", [])
        return png
    }

    private static var processorCount: Int {
        min(64, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [
            UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
            UInt8(truncatingIfNeeded: value),
        ])
    }
}

extension ByteBuffer {
    /// Writes a chunk: length, type, data and the CRC of type and data.
    fileprivate mutating func writeChunk(_ type: String, _ data: [UInt8]) {
        writeInteger(UInt32(data.count))
        let typeAndData = Array(type.utf8) + data
        writeBytes(typeAndData)
        writeInteger(typeAndData.withUnsafeBufferPointer { share_strip_crc32(0, $0.baseAddress, $0.count) })
    }
}
