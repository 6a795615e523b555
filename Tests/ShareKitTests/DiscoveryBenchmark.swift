import Foundation
import Testing

@testable import ShareKit

/// How long `share list` takes to return complete results, next to `avahi-browse -rt` measured in the same run
/// on the same test hosts. A benchmark, not a test: it prints medians and a ratio and asserts only that the
/// results were complete. Run it with `Scripts/bench discovery`.
@Suite(
    "Benchmark: share list against avahi-browse",
    .enabled(if: ProcessInfo.processInfo.environment["SHARE_BENCH"] != nil, "a benchmark; run Scripts/bench discovery"),
    .serialized
)
struct DiscoveryBenchmark {
    @Test("Median of 20 runs of share list and of avahi-browse -rt, with one share on the network")
    func listTiming() async throws {
        try await withTestHosts { hosts in
            let share = try await HostedShare.start(on: hosts.presenter, name: "Bench")
            _ = try await eventually("the share is advertised") {
                try await listShares(on: hosts.audience).first { $0.name == "Bench" }
            }
            var ours: [Double] = []
            var peer: [Double] = []
            for _ in 0..<20 {
                var started = ContinuousClock.now
                let list = try await hosts.audience.run(TestEnvironment.shareExecutable, ["list", "--json"])
                ours.append(seconds(ContinuousClock.now - started))
                #expect(list.output.contains("\"Bench\""), "share list returned complete results")

                started = ContinuousClock.now
                let browse = try await hosts.audience.run("/usr/bin/avahi-browse", ["-rtpk", "_http._tcp"])
                peer.append(seconds(ContinuousClock.now - started))
                #expect(browse.output.contains("=;"), "avahi-browse resolved the share")
            }
            let oursMedian = median(ours)
            let peerMedian = median(peer)
            let report = """
                | command (audience host, 1 share, 20 runs) | median | min | max |
                | --- | --- | --- | --- |
                | `share list --json` | \(format(oursMedian)) s | \(format(ours.min()!)) s | \(format(ours.max()!)) s |
                | `avahi-browse -rtpk _http._tcp` (peer) | \(format(peerMedian)) s | \(format(peer.min()!)) s | \(format(peer.max()!)) s |
                | ratio share / avahi-browse | \(String(format: "%.2f", oursMedian / peerMedian))x | | |
                """
            print(report)
            if let path = ProcessInfo.processInfo.environment["SHARE_BENCH_OUTPUT"] {
                try (report + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            }
            share.stop()
        }
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    private func format(_ value: Double) -> String { String(format: "%.3f", value) }
}
