import Foundation
import Glibc

/// How large a frame this process can afford, from the memory it may use.
///
/// A frame is held several times over: the X server's image in the shared segment (4 bytes a pixel), the RGB
/// frame and the one before it (3 + 3), and the encoder's filtered strips and PNG output (about 4). A screen
/// so large that this would take more than half of what the process may use is refused with advice before a
/// capture fails halfway or the kernel kills the share.
package struct FrameBudget: Sendable {
    /// Bytes share holds per pixel of the shared area, at most.
    package static let bytesPerPixel = 14

    /// The memory this process may use, in bytes.
    package let limitBytes: Int
    /// Where `limitBytes` comes from, for the message: "ulimit -d", "the cgroup's memory.max", ...
    package let limitSource: String

    package init(limitBytes: Int, limitSource: String) {
        self.limitBytes = limitBytes
        self.limitSource = limitSource
    }

    /// The budget of this process, read once: the smallest of its data and address-space limits, its cgroup's
    /// memory limit and the machine's memory.
    package static let current = FrameBudget.measure()

    /// Throws `ShareError.frameOverBudget` when a `width` x `height` area needs more than half the limit.
    package func check(width: Int, height: Int) throws {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        let needed = overflow ? Int.max : pixels.multipliedReportingOverflow(by: Self.bytesPerPixel).partialValue
        guard overflow || needed > limitBytes / 2 else { return }
        throw ShareError.frameOverBudget(width: width, height: height, neededBytes: needed, budget: self)
    }

    private static func measure() -> FrameBudget {
        var candidates: [(bytes: Int, source: String)] = []
        var limit = rlimit()
        // RLIM_INFINITY is ((rlim_t) -1) in C, which Swift does not import.
        let unlimited = rlim_t.max
        if getrlimit(Int32(RLIMIT_DATA.rawValue), &limit) == 0, limit.rlim_cur != unlimited {
            candidates.append((clamped(limit.rlim_cur), "the data size limit, ulimit -d"))
        }
        if getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != unlimited {
            candidates.append((clamped(limit.rlim_cur), "the address space limit, ulimit -v"))
        }
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
            let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            candidates.append((bytes, "the cgroup's memory.max"))
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        if pages > 0, pageSize > 0 {
            candidates.append((pages.multipliedReportingOverflow(by: pageSize).partialValue, "this machine's memory"))
        }
        let smallest = candidates.min { $0.bytes < $1.bytes } ?? (Int.max, "no limit")
        return FrameBudget(limitBytes: smallest.bytes, limitSource: smallest.source)
    }

    private static func clamped(_ value: rlim_t) -> Int {
        value > rlim_t(Int.max) ? Int.max : Int(value)
    }
}
