package import NIOCore
package import NIOPosix
import Synchronization

/// Smaller copies of the shared frame for viewers that ask for one (`/screen.png?width=N`), from a handful of
/// standard widths, each cached per source frame.
///
/// Built on top of `FrameStore`: a request first gets the current full frame (coalesced as usual), then the copy
/// of the standard width for it. The first request for a width and source frame starts one scale and encode;
/// every other request for that width joins it. So N viewers of one width cost one scale and one encode per
/// frame, and an unchanged screen costs nothing more. While a copy is still being made, requests for that width
/// join it even if the screen changed meanwhile (they get a copy one frame older): at most one scale and encode
/// per width is ever under way, so a fast-changing large screen cannot pile up work and memory.
package final class ScaledFrameStore: Sendable {
    /// The widths copies are made at.
    package static let standardWidths = [320, 480, 640, 800, 1024, 1280, 1600, 1920, 2560]
    /// The largest `width` a viewer may ask for; above the largest standard width it means the full frame.
    package static let widthLimit = 16384

    private struct Entry {
        /// The full frame this copy was made from.
        let sourceETag: String
        let task: Task<EncodedFrame, any Error>
        /// Tells this entry's task from a later one, when it marks itself finished.
        let generation: Int
        var finished = false
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var encoders: [Int: StripPNGEncoder] = [:]
        var encodes = 0
        var generations = 0
    }

    private let frames: FrameStore
    private let encodePool: NIOThreadPool
    private let state = Mutex(State())

    package init(frames: FrameStore, encodePool: NIOThreadPool = .singleton) {
        self.frames = frames
        self.encodePool = encodePool
    }

    /// How many scaled copies have been encoded: for tests and logs.
    package var encodes: Int { state.withLock { $0.encodes } }

    /// The standard width a request for `requested` pixels gets: the smallest standard width at least that
    /// wide; nil (meaning the full frame) when that is not smaller than the source or none is wide enough.
    package static func standardWidth(for requested: Int, sourceWidth: Int) -> Int? {
        guard let width = standardWidths.first(where: { $0 >= requested }), width < sourceWidth else { return nil }
        return width
    }

    /// The frame to serve to a viewer asking for `width` pixels (1 to `widthLimit`).
    package func frame(width requested: Int) async throws -> EncodedFrame {
        let source = try await frames.currentFrame()
        guard let width = Self.standardWidth(for: requested, sourceWidth: source.width), let pixels = source.pixels
        else { return source }
        let task = state.withLock { state -> Task<EncodedFrame, any Error> in
            if let entry = state.entries[width], entry.sourceETag == source.etag || !entry.finished {
                return entry.task
            }
            let encoder = state.encoders[width] ?? StripPNGEncoder()
            state.encoders[width] = encoder
            state.generations += 1
            let generation = state.generations
            let task = Task {
                do {
                    let frame = try await self.scale(source, pixels: pixels, width: width, encoder: encoder)
                    self.settle(width: width, generation: generation, failed: false)
                    return frame
                } catch {
                    self.settle(width: width, generation: generation, failed: true)
                    throw error
                }
            }
            state.entries[width] = Entry(sourceETag: source.etag, task: task, generation: generation)
            return task
        }
        return try await task.value
    }

    /// Marks a copy made; a failed one is forgotten, so that the next request tries again.
    private func settle(width: Int, generation: Int, failed: Bool) {
        state.withLock { state in
            guard state.entries[width]?.generation == generation else { return }
            if failed {
                state.entries[width] = nil
            } else {
                state.entries[width]?.finished = true
            }
        }
    }

    private func scale(
        _ source: EncodedFrame,
        pixels: Frame,
        width: Int,
        encoder: StripPNGEncoder
    ) async throws -> EncodedFrame {
        let height = BoxScaler.height(forWidth: width, sourceWidth: pixels.width, sourceHeight: pixels.height)
        let png = try await encodePool.runIfActive {
            try encoder.encodeBuffer(BoxScaler.scale(pixels, width: width, height: height))
        }
        state.withLock { $0.encodes += 1 }
        return EncodedFrame(
            png: png,
            etag: String(source.etag.dropLast()) + "-w\(width)\"",
            changedAt: source.changedAt,
            capturedAt: source.capturedAt,
            width: width,
            height: height,
            digest: source.digest,
            pixels: nil
        )
    }
}
