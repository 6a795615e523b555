import Synchronization
import Testing

@testable import ShareKit

/// Coalescing rules with a counting source. The same rules are checked over real HTTP against a real X server
/// in `HTTPTests`; this fake only makes the timing cases quick and exact.
@Suite("Capture coalescing")
struct FrameStoreTests {
    /// Counts captures; returns a picture that changes only when `version` does.
    final class CountingSource: FrameSource {
        let captures = Mutex(0)
        let version = Mutex(0)
        let delay: Duration
        init(delay: Duration = .milliseconds(50)) { self.delay = delay }
        var summary: String { "counting source" }
        func captureFrame() async throws -> Frame {
            captures.withLock { $0 += 1 }
            try await Task.sleep(for: delay)
            let value = UInt8(truncatingIfNeeded: version.withLock { $0 })
            return Frame(width: 4, height: 2, rgb: [UInt8](repeating: value, count: 24))
        }
    }

    @Test("Concurrent requests share one capture and one ETag")
    func concurrentRequestsShareOneCapture() async throws {
        let source = CountingSource()
        let store = FrameStore(source: source, interval: .seconds(60))
        let tags = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { try await store.currentFrame().etag } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(tags.count == 1)
        #expect(source.captures.withLock { $0 } == 1)
    }

    @Test("No requests, no captures; a fresh frame is reused; a stale one is replaced")
    func capturesOnlyOnDemand() async throws {
        // Intervals far from the sleeps, so that a loaded machine cannot change the answer.
        let source = CountingSource(delay: .zero)
        let store = FrameStore(source: source, interval: .seconds(60))
        try await Task.sleep(for: .milliseconds(100))
        #expect(source.captures.withLock { $0 } == 0)
        _ = try await store.currentFrame()
        _ = try await store.currentFrame()
        #expect(source.captures.withLock { $0 } == 1)

        let quick = CountingSource(delay: .zero)
        let staleSoon = FrameStore(source: quick, interval: .milliseconds(20))
        _ = try await staleSoon.currentFrame()
        try await Task.sleep(for: .milliseconds(100))
        _ = try await staleSoon.currentFrame()
        #expect(quick.captures.withLock { $0 } == 2)
    }

    @Test("An unchanged screen keeps its ETag and is not encoded again; a change gets a new ETag")
    func unchangedScreenIsNotEncoded() async throws {
        let source = CountingSource(delay: .zero)
        let store = FrameStore(source: source, interval: .milliseconds(1))
        let first = try await store.currentFrame()
        try await Task.sleep(for: .milliseconds(5))
        let same = try await store.currentFrame()
        #expect(same.etag == first.etag)
        #expect(store.statistics == (captures: 2, encodes: 1))
        source.version.withLock { $0 = 1 }
        try await Task.sleep(for: .milliseconds(5))
        let changed = try await store.currentFrame()
        #expect(changed.etag != first.etag)
        #expect(store.statistics.encodes == 2)
    }

    @Test("Under load, captures never outnumber the intervals that passed, plus one")
    func coalescingHoldsUnderLoad() async throws {
        // 200 viewers asking as fast as they can for several intervals, while the screen keeps changing so that
        // every capture is encoded too. Captures start at least one interval apart, so in a run of `elapsed`
        // there can be at most elapsed / interval + 1 of them, whatever the load and however slow the machine.
        let source = CountingSource(delay: .milliseconds(5))
        let interval = Duration.milliseconds(40)
        let store = FrameStore(source: source, interval: interval)
        let start = ContinuousClock.now
        let load = Duration.milliseconds(600)
        let (served, tags) = try await withThrowingTaskGroup(of: (Int, Set<String>).self) { group in
            group.addTask {
                while ContinuousClock.now - start < load {
                    source.version.withLock { $0 += 1 }
                    try await Task.sleep(for: .milliseconds(7))
                }
                return (0, [])
            }
            for _ in 0..<200 {
                group.addTask {
                    var served = 0
                    var tags = Set<String>()
                    while ContinuousClock.now - start < load {
                        tags.insert(try await store.currentFrame().etag)
                        served += 1
                        await Task.yield()
                    }
                    return (served, tags)
                }
            }
            return try await group.reduce(into: (0, Set<String>())) {
                $0.0 += $1.0
                $0.1.formUnion($1.1)
            }
        }
        let elapsed = ContinuousClock.now - start
        let captures = source.captures.withLock { $0 }
        let allowed = Int((elapsed / interval).rounded(.down)) + 1
        #expect(captures <= allowed, "\(captures) captures for \(served) requests in \(elapsed)")
        #expect(store.statistics.captures == captures)
        #expect(store.statistics.encodes <= captures)
        #expect(served >= 200, "every viewer was answered")
        #expect(tags.count >= 1 && tags.count <= captures, "every ETag served came from a capture")
    }

    /// Always fails, counting attempts.
    final class FailingSource: FrameSource {
        let captures = Mutex(0)
        var summary: String { "failing source" }
        func captureFrame() async throws -> Frame {
            captures.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(20))
            throw ShareError("The X server went away.")
        }
    }

    @Test("A failing source is tried at most once per interval, however many viewers ask")
    func failuresAreCoalesced() async throws {
        let source = FailingSource()
        let store = FrameStore(source: source, interval: .seconds(60))
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask { (try? await store.currentFrame()) == nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 20)
        await #expect(throws: ShareError.self) { try await store.currentFrame() }
        #expect(source.captures.withLock { $0 } == 1)
    }

    @Test("A viewer that goes away stops waiting at once; the capture goes on for the others")
    func cancelledWaiterReturns() async throws {
        let source = CountingSource(delay: .seconds(2))
        let store = FrameStore(source: source, interval: .seconds(60))
        let patient = Task { try await store.currentFrame() }
        let leaving = Task { try await store.currentFrame() }
        try await Task.sleep(for: .milliseconds(100))
        leaving.cancel()
        await #expect(throws: CancellationError.self) { try await leaving.value }
        #expect(patient.isCancelled == false)
        _ = try await patient.value
        #expect(source.captures.withLock { $0 } == 1)
    }
}
