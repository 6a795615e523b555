import Foundation
import ShareKit

/// `share-bench`: measures share's frame path and fan-out against peers in the same run, on private Xvfb servers
/// with desktop-like content, and prints one Markdown table of medians and ratios. Run it through
/// `Scripts/bench` (which installs the peers, builds in release and cleans up by PID); as root.
///
///     share-bench --share PATH --work DIR [--rounds N] [--load-seconds S] [--idle-seconds S] [--output FILE]
///                 [--viewers N] [--throughput-rounds N] [--throughput-seconds S]
///                 [--only frames,tools,load,4k]   (tools implies frames: its ratios are against share's figure)
@main
struct ShareBench {
    static func main() async {
        do {
            try await run(Options(CommandLine.arguments.dropFirst()))
        } catch {
            FileHandle.standardError.write(Data("share-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    struct Options {
        var share = ""
        var work = ""
        var output: String?
        var rounds = 15
        var loadSeconds = 10
        var idleSeconds = 15
        var viewers = 200
        var throughputRounds = 5
        var throughputSeconds = 5
        /// The parts to run (all by default): frames (the 1080p frame path), tools (scrot and ffmpeg), load (idle,
        /// polling viewers and full bodies), 4k (the 3840x2160 frame path).
        var parts: Set<String> = Options.allParts
        static let allParts: Set<String> = ["frames", "tools", "load", "4k"]

        init(_ arguments: ArraySlice<String>) throws {
            var arguments = arguments
            while let name = arguments.popFirst() {
                guard let value = arguments.popFirst() else { throw BenchError("\(name) needs a value") }
                switch name {
                case "--share": share = value
                case "--work": work = value
                case "--output": output = value
                case "--rounds": rounds = Int(value) ?? rounds
                case "--load-seconds": loadSeconds = Int(value) ?? loadSeconds
                case "--idle-seconds": idleSeconds = Int(value) ?? idleSeconds
                case "--viewers": viewers = Int(value) ?? viewers
                case "--throughput-rounds": throughputRounds = max(1, Int(value) ?? throughputRounds)
                case "--throughput-seconds": throughputSeconds = max(1, Int(value) ?? throughputSeconds)
                case "--only":
                    parts = Set(value.split(separator: ",").map(String.init))
                    guard parts.isSubset(of: Options.allParts), !parts.isEmpty else {
                        throw BenchError("--only takes a list of \(Options.allParts.sorted().joined(separator: ","))")
                    }
                default: throw BenchError("unknown option \(name); see Scripts/bench")
                }
            }
            guard !share.isEmpty, !work.isEmpty else { throw BenchError("--share PATH and --work DIR are needed") }
        }
    }

    static func run(_ options: Options) async throws {
        var table = Table()
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))

        // 1920x1080: the frame path, the whole-process screenshot tools, idle and fan-out.
        let parts = options.parts
        if !parts.isDisjoint(with: ["frames", "tools", "load"]) {
            let (xvfb, display) = try startXvfb(width: 1920, height: 1080)
            defer { xvfb.stop() }
            let painter = try ScreenPainter(displayName: display)
            var frames: FramePathBenchmark.Result?
            if !parts.isDisjoint(with: ["frames", "tools"]) {
                log("1920x1080 frame path, \(options.rounds) rounds")
                frames = try await FramePathBenchmark(display: display, painter: painter, rounds: options.rounds).run()
                table.framePath(frames!, size: "1080p")
            }

            if parts.contains("tools"), let frames {
                log("scrot and ffmpeg, \(options.rounds) runs each")
                let environment = ProcessInfo.processInfo.environment.merging(["DISPLAY": display]) { $1 }
                var scrot: [Double] = []
                var ffmpeg: [Double] = []
                for _ in 0..<options.rounds {
                    let one = try BenchProcess.run(
                        "/usr/bin/scrot",
                        ["-o", "-z", "\(options.work)/scrot.png"],
                        environment: environment
                    )
                    guard one.status == 0 else { throw BenchError("scrot failed (exit \(one.status))") }
                    scrot.append(one.seconds * 1000)
                    let other = try BenchProcess.run(
                        "/usr/bin/ffmpeg",
                        [
                            "-nostdin", "-loglevel", "error", "-y", "-f", "x11grab", "-video_size", "1920x1080", "-i",
                            display, "-frames:v", "1", "-update", "1", "\(options.work)/ffmpeg.png",
                        ],
                        environment: environment
                    )
                    guard other.status == 0 else { throw BenchError("ffmpeg failed (exit \(other.status))") }
                    ffmpeg.append(other.seconds * 1000)
                }
                table.peer(
                    "one screenshot to PNG (share in-process; peers as whole processes)",
                    share: frames.stripFull,
                    peer: "`scrot`",
                    median(scrot)
                )
                table.peer(
                    "one screenshot to PNG (share in-process; peers as whole processes)",
                    share: frames.stripFull,
                    peer: "`ffmpeg -f x11grab -frames:v 1`",
                    median(ffmpeg)
                )
            }

            if parts.contains("load") {
                // Alone, the load part gets the desktop the frame path would have left on the screen.
                if frames == nil {
                    painter.show(SyntheticDesktop.desktop(width: painter.width, height: painter.height))
                }
                log(
                    "idle \(options.idleSeconds) s, then \(options.viewers) polling viewers and full bodies, share and nginx"
                )
                let fanOut = try await FanOutBenchmark(
                    shareExecutable: options.share,
                    display: display,
                    work: options.work,
                    loadSeconds: options.loadSeconds,
                    idleSeconds: options.idleSeconds,
                    viewers: options.viewers,
                    throughputRounds: options.throughputRounds,
                    throughputSeconds: options.throughputSeconds
                ).run()
                table.fanOut(fanOut, viewers: options.viewers)
            }
        }

        // 3840x2160: a full change only.
        if parts.contains("4k") {
            let (xvfb, display) = try startXvfb(width: 3840, height: 2160)
            defer { xvfb.stop() }
            let painter = try ScreenPainter(displayName: display)
            let rounds = max(3, options.rounds / 3)
            log("3840x2160 frame path, \(rounds) rounds")
            var benchmark = FramePathBenchmark(display: display, painter: painter, rounds: rounds)
            benchmark.includeFastLibpng = false
            table.framePath(try await benchmark.run(), size: "4K")
        }

        // Other work on the machine shows in the load average: read the ratios, not the absolute figures.
        let load =
            (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3)
            .joined(separator: " ") ?? "?"
        let text = """
            share-bench: \(cores) cores, load average \(load) at the end, \(options.rounds) rounds, \
            \(options.loadSeconds) s load runs, \(options.idleSeconds) s idle, \(Date())

            \(table.markdown)
            """
        print(text)
        if let output = options.output { try text.write(toFile: output, atomically: true, encoding: .utf8) }
    }

    /// Starts Xvfb at depth 24 on a free display number; returns it and the display name.
    static func startXvfb(width: Int, height: Int) throws -> (BenchProcess, String) {
        let fileManager = FileManager.default
        guard
            let number = (90..<190).first(where: {
                !fileManager.fileExists(atPath: "/tmp/.X11-unix/X\($0)")
                    && !fileManager.fileExists(atPath: "/tmp/.X\($0)-lock")
            })
        else { throw BenchError("No free X display number from :90 to :189.") }
        let process = try BenchProcess(
            "/usr/bin/Xvfb",
            [":\(number)", "-screen", "0", "\(width)x\(height)x24", "-nolisten", "tcp", "-noreset"]
        )
        return (process, ":\(number)")
    }

    static func log(_ message: String) {
        FileHandle.standardError.write(Data("share-bench: \(message)\n".utf8))
    }
}

/// The one table the benchmark prints: what was measured, share's figure, the peer's, their ratio and the goal.
struct Table {
    private var rows: [String] = []

    var markdown: String {
        ([
            "| measurement | share | peer | peer's figure | share ÷ peer | goal |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
            + rows).joined(separator: "\n")
    }

    mutating func row(_ cells: String...) {
        rows.append("| " + cells.joined(separator: " | ") + " |")
    }

    mutating func peer(_ what: String, share: Double, peer: String, _ peerFigure: Double, goal: String = "") {
        row(what, ms(share), peer, ms(peerFigure), ratio(share, peerFigure), goal)
    }

    mutating func framePath(_ result: FramePathBenchmark.Result, size: String) {
        let what = "\(size) capture→PNG, full change"
        if size == "1080p" {
            row(
                "1080p capture of a changed screen (`XShmGetImage` + band digests + BGRX→RGB)",
                ms(result.capture),
                "",
                "",
                "",
                ""
            )
        }
        peer(
            what,
            share: result.stripFull,
            peer: "libpng defaults",
            result.libpngDefault,
            goal: size == "4K" ? "≤ 80 ms" : "≤ 20 ms"
        )
        peer(
            "\(what), CPU time of every thread of the process (the X server's copy not included)",
            share: result.stripFullCPU,
            peer: "libpng defaults",
            result.libpngDefaultCPU
        )
        if let fast = result.libpngFast {
            peer(what, share: result.stripFull, peer: "libpng level 1 + UP", fast)
        }
        row(
            "\(size) PNG bytes, full change",
            "\(result.stripBytes)",
            "libpng defaults",
            "\(result.libpngDefaultBytes)",
            ratio(Double(result.stripBytes), Double(result.libpngDefaultBytes)),
            "≤ 1.2×"
        )
        if size == "1080p" {
            peer(
                "1080p capture→PNG, small change (32 rows, 3 %) on a steady screen (the same rows changed before)",
                share: result.stripSteady,
                peer: "libpng defaults (full encode)",
                result.libpngDefault,
                goal: "≤ 5 ms"
            )
            peer(
                "1080p capture→PNG, small change (32 rows, 3 %) on a steady screen, CPU time of every thread",
                share: result.stripSteadyCPU,
                peer: "libpng defaults (full encode)",
                result.libpngDefaultCPU
            )
            peer(
                "1080p capture→PNG, small change (32 rows, 3 %) right after a full change (other rows copied)",
                share: result.stripSmall,
                peer: "libpng defaults (full encode)",
                result.libpngDefault,
                goal: "≤ 5 ms"
            )
            peer(
                "1080p capture→PNG, small change right after a full change, CPU time of every thread",
                share: result.stripSmallCPU,
                peer: "libpng defaults (full encode)",
                result.libpngDefaultCPU
            )
            row(
                "1080p unchanged screen (`XShmGetImage` + band digests; no conversion, no encode)",
                ms(result.stripUnchanged),
                "",
                "",
                "",
                "≤ 3 ms"
            )
        }
    }

    mutating func fanOut(_ result: FanOutBenchmark.Result, viewers: Int) {
        row(
            "idle CPU of `share start`, no viewers (scheduler time of its threads, in ns)",
            String(format: "%.3f %% of a core", result.idleCPUPercent),
            "",
            "",
            "",
            "< 0.1 %"
        )
        row(
            "idle CPU of `share start`, the same counted in 10 ms clock ticks (/proc/PID/stat)",
            String(format: "%.3f %% of a core", result.idleCPUPercentTicks),
            "",
            "",
            "",
            ""
        )
        row("captures while idle", "\(result.idleCaptures)", "", "", "", "0")
        peer(
            "\(viewers) viewers polling 1/s with If-None-Match, p99 (\(result.pollingRequests) requests, "
                + "\(result.pollingErrors) errors)",
            share: result.pollingP99,
            peer: "nginx, static file",
            result.pollingP99Nginx,
            goal: "≤ 20 ms"
        )
        row(
            "CPU time of the server per polling response (its threads, its captures included; nginx: its workers)",
            String(format: "%.0f µs", result.pollingCPUPerResponse),
            "nginx, static file",
            String(format: "%.0f µs", result.pollingCPUPerResponseNginx),
            ratio(result.pollingCPUPerResponse, result.pollingCPUPerResponseNginx),
            ""
        )
        for (peer, figure, ratio, goal) in [
            ("nginx, same bytes as a static file", result.throughputNginx, result.throughputRatio, "≥ 0.7×"),
            ("nginx, same file, `sendfile off`", result.throughputNginxCopying, result.throughputRatioCopying, ""),
        ] {
            row(
                "full-body `/screen.png` (\(result.pngBytes) bytes), 32 connections, median of "
                    + "\(result.throughputRounds) rounds (the ratio: median of each round's)",
                String(format: "%.0f/s", result.throughput),
                peer,
                String(format: "%.0f/s", figure),
                String(format: "%.3f×", ratio),
                goal
            )
        }
        for (peer, figure) in [
            ("nginx, same bytes as a static file", result.cpuPerResponseNginx),
            ("nginx, same file, `sendfile off`", result.cpuPerResponseNginxCopying),
        ] {
            row(
                "CPU time of the server per full-body response (its threads; nginx: its workers), median of rounds",
                String(format: "%.0f µs", result.cpuPerResponse),
                peer,
                String(format: "%.0f µs", figure),
                self.ratio(result.cpuPerResponse, figure),
                ""
            )
        }
        row(
            "captures under load (\(String(format: "%.1f", result.loadSeconds)) s of requests: two fetches, "
                + "\(result.throughputRounds + 1) wrk runs)",
            "\(result.captures) (\(String(format: "%.2f", Double(result.captures) / result.loadSeconds))/s)",
            "coalescing's bound: one per interval in each run, plus one per run and per fetch",
            "\(result.captureBound)",
            ratio(Double(result.captures), Double(result.captureBound)),
            "≤ 1/interval (ratio ≤ 1)"
        )
        row(
            "RSS of `share start` with \(viewers) polling viewers (1080p)",
            String(format: "%.1f MB", Double(result.pollingRSS) / 1_048_576),
            "",
            "",
            "",
            "≤ 64 MB"
        )
        row(
            "peak RSS of `share start` over the whole load (VmHWM, full bodies included)",
            String(format: "%.1f MB", Double(result.peakRSS) / 1_048_576),
            "",
            "",
            "",
            ""
        )
    }

    private func ms(_ value: Double) -> String { String(format: value < 10 ? "%.2f ms" : "%.1f ms", value) }
    private func ratio(_ share: Double, _ peer: Double) -> String { String(format: "%.3f×", share / peer) }
}
