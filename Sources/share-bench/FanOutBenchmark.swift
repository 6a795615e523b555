import Foundation

/// `share start` as a process on loopback: idle CPU with no viewers, then viewers made by `wrk` (polling with
/// If-None-Match, and full bodies), next to nginx serving the same PNG as a static file in the same run.
struct FanOutBenchmark {
    let shareExecutable: String
    let display: String
    let work: String
    let loadSeconds: Int
    let idleSeconds: Int
    let viewers: Int
    /// Full bodies: share and the two nginx take turns this many times, `throughputSeconds` each.
    let throughputRounds: Int
    let throughputSeconds: Int

    struct Result {
        /// From the scheduler's nanosecond accounting of the threads, and from 10 ms clock ticks.
        var idleCPUPercent: Double
        var idleCPUPercentTicks: Double
        var idleCaptures: Int
        var pollingP99: Double
        var pollingP99Nginx: Double
        var pollingRequests: Int
        var pollingErrors: Int
        /// CPU time of the server per polling response, in microseconds (share's includes its captures).
        var pollingCPUPerResponse: Double
        var pollingCPUPerResponseNginx: Double
        /// Full bodies, medians over the rounds: responses a second, and the ratio of share's to each nginx's
        /// in the same round.
        var throughput: Double
        var throughputNginx: Double
        /// nginx with `sendfile off`.
        var throughputNginxCopying: Double
        var throughputRatio: Double
        var throughputRatioCopying: Double
        var throughputRounds: Int
        /// CPU time of the server's threads per full-body response, in microseconds (medians over the rounds).
        var cpuPerResponse: Double
        var cpuPerResponseNginx: Double
        var cpuPerResponseNginxCopying: Double
        var captures: Int
        /// The most captures coalescing allows in these runs.
        var captureBound: Int
        var loadSeconds: Double
        /// Resident memory: the most seen during the polling run, and the peak of the whole load (VmHWM).
        var pollingRSS: Int
        var peakRSS: Int
        var pngBytes: Int
    }

    /// A running `share start`, its port and its log.
    private struct RunningShare {
        let process: BenchProcess
        let port: Int
        let log: String

        /// Stops it (SIGTERM) and reads the captures it made from its last log line.
        func stop() throws -> Int {
            process.stop()
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").last(where: { $0.contains("Stopped sharing.") }),
                let range = line.range(of: #"captures=\d+"#, options: .regularExpression),
                let captures = Int(line[range].dropFirst("captures=".count))
            else { throw BenchError("share start did not stop cleanly; its log:\n\(text)") }
            return captures
        }
    }

    private func startShare(_ name: String) async throws -> RunningShare {
        let output = "\(work)/\(name).out"
        let log = "\(work)/\(name).err"
        var environment = ProcessInfo.processInfo.environment
        // Never advertise from the root network namespace: no Avahi reachable, and --no-advertise.
        environment["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent"
        environment["DISPLAY"] = nil
        let process = try BenchProcess(
            shareExecutable,
            [
                "start", "--display", display, "--bind", "127.0.0.1", "--port", "0", "--interval", "1",
                "--no-advertise", "--no-qr",
            ],
            environment: environment,
            standardOutput: output,
            standardError: log
        )
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, process.isRunning {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first, let port = URLComponents(string: String(line))?.port {
                return RunningShare(process: process, port: port, log: log)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.stop()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw BenchError("share start did not print its URL: \(text)")
    }

    func run() async throws -> Result {
        // Idle: no viewers, so no captures at all and next to no CPU.
        let idle = try await startShare("idle")
        try await Task.sleep(for: .seconds(2))
        let before = (ticks: idle.process.cpuSeconds, scheduler: idle.process.threadCPUSeconds)
        let idleStart = ContinuousClock.now
        try await Task.sleep(for: .seconds(idleSeconds))
        let cpu = idle.process.threadCPUSeconds - before.scheduler
        let cpuTicks = idle.process.cpuSeconds - before.ticks
        let idleElapsed = (ContinuousClock.now - idleStart).seconds
        let idleCaptures = try idle.stop()

        // Load.
        let share = try await startShare("load")
        let shareURL = "http://127.0.0.1:\(share.port)/screen.png"
        let staticFolder = "\(work)/static"
        try FileManager.default.createDirectory(atPath: staticFolder, withIntermediateDirectories: true)
        let fetched = try BenchProcess.run(
            "/usr/bin/curl",
            ["-sf", "-o", "\(staticFolder)/screen.png", shareURL]
        )
        guard fetched.status == 0 else { throw BenchError("curl could not fetch \(shareURL)") }
        let attributes = try? FileManager.default.attributesOfItem(atPath: "\(staticFolder)/screen.png")
        let pngBytes = (attributes?[.size] as? Int) ?? 0
        let nginx = try Nginx(work: work, root: staticFolder)
        defer { nginx.process.stop() }
        let nginxURL = "http://127.0.0.1:\(nginx.port)/screen.png"
        let copyingNginx = try Nginx(work: work, root: staticFolder, sendfile: false)
        defer { copyingNginx.process.stop() }
        let copyingURL = "http://127.0.0.1:\(copyingNginx.port)/screen.png"

        let poll = try writeScript("poll.lua", Self.pollingScript)
        let plain = try writeScript("plain.lua", Self.summaryScript)
        // Polling viewers already hold the current frame and revalidate it, as viewer pages do after their first
        // load: each server's own ETag is handed to the script.
        let etagFetchStart = ContinuousClock.now
        let shareETag = try etag(of: shareURL)
        let etagFetchSeconds = (ContinuousClock.now - etagFetchStart).seconds
        let etags = try [shareURL: shareETag, nginxURL: etag(of: nginxURL)]
        for server in [nginx, copyingNginx] where server.process.children.isEmpty {
            throw BenchError(
                "nginx (pid \(server.process.pid)) lists no worker processes in /proc/PID/task/PID/children, so "
                    + "its CPU time per response cannot be read; this needs a kernel with CONFIG_PROC_CHILDREN"
            )
        }
        // share and nginx take turns, so drifting load from other work on the machine falls on both alike.
        var peakRSS = (polling: 0, throughput: 0)
        var shareLoad = fetched.seconds + etagFetchSeconds
        // Captures start at least an interval apart within a run; each run's (and each fetch's) first request may
        // start one more.
        var captureBound = 2
        func countShareRun(_ figures: [String: Double]) {
            let seconds = figures["seconds"] ?? 0
            shareLoad += seconds
            captureBound += Int(seconds.rounded(.down)) + 1
        }
        var polling: [String: [String: Double]] = [:]
        var pollingCPU: [String: Double] = [:]
        for (server, url, process) in [("share", shareURL, share.process), ("nginx", nginxURL, nginx.process)] {
            let cpuBefore = process.treeCPUSeconds
            let figures = try await wrk(
                [
                    "-t2", "-c\(viewers)", "-d\(loadSeconds)s", "--timeout", "5s", "-s", poll, url, "--",
                    etags[url] ?? "",
                ],
                sampling: server == "share" ? share.process : nil
            ) { rss in peakRSS.polling = max(peakRSS.polling, rss) }
            if server == "share" { countShareRun(figures) }
            polling[server] = figures
            pollingCPU[server] = (process.treeCPUSeconds - cpuBefore) / max(1, figures["requests"] ?? 0) * 1e6
        }
        // Full bodies: short turns, many rounds, so that drifting load from other work on the machine falls on
        // every server alike; each round gives one ratio.
        var rates: [String: [Double]] = [:]
        var cpuPerResponse: [String: [Double]] = [:]
        var ratios: [String: [Double]] = [:]
        let servers = [
            ("share", shareURL, share.process), ("nginx", nginxURL, nginx.process),
            ("nginx-copying", copyingURL, copyingNginx.process),
        ]
        for number in 0..<throughputRounds {
            var round: [String: Double] = [:]
            // Each round starts with the next server, so none always goes first.
            for turn in 0..<servers.count {
                let (server, url, process) = servers[(number + turn) % servers.count]
                let cpuBefore = process.treeCPUSeconds
                let figures = try await wrk(
                    ["-t2", "-c32", "-d\(throughputSeconds)s", "--timeout", "5s", "-s", plain, url],
                    sampling: server == "share" ? share.process : nil
                ) { rss in peakRSS.throughput = max(peakRSS.throughput, rss) }
                let cpu = process.treeCPUSeconds - cpuBefore
                if server == "share" { countShareRun(figures) }
                let rate = figures["rps"] ?? .nan
                round[server] = rate
                rates[server, default: []].append(rate)
                cpuPerResponse[server, default: []].append(cpu / max(1, figures["requests"] ?? 0) * 1e6)
            }
            let (shareRate, nginxRate, copyingRate) =
                (round["share"] ?? .nan, round["nginx"] ?? .nan, round["nginx-copying"] ?? .nan)
            ratios["nginx", default: []].append(shareRate / nginxRate)
            ratios["nginx-copying", default: []].append(shareRate / copyingRate)
            ShareBench.log(
                String(
                    format:
                        "full bodies, round %d: share %.0f/s, nginx %.0f/s (%.3fx), nginx sendfile off %.0f/s (%.3fx)",
                    number + 1,
                    shareRate,
                    nginxRate,
                    shareRate / nginxRate,
                    copyingRate,
                    shareRate / copyingRate
                )
            )
        }
        let sharePolling = polling["share"] ?? [:]
        let nginxPolling = polling["nginx"] ?? [:]
        peakRSS.throughput = max(peakRSS.throughput, share.process.memory("VmHWM"))
        let captures = try share.stop()

        return Result(
            idleCPUPercent: cpu / idleElapsed * 100,
            idleCPUPercentTicks: cpuTicks / idleElapsed * 100,
            idleCaptures: idleCaptures,
            pollingP99: sharePolling["p99_us"].map { $0 / 1000 } ?? .nan,
            pollingP99Nginx: nginxPolling["p99_us"].map { $0 / 1000 } ?? .nan,
            pollingRequests: Int(sharePolling["requests"] ?? 0),
            pollingErrors: Int(sharePolling["errors"] ?? 0),
            pollingCPUPerResponse: pollingCPU["share"] ?? .nan,
            pollingCPUPerResponseNginx: pollingCPU["nginx"] ?? .nan,
            throughput: median(rates["share"] ?? []),
            throughputNginx: median(rates["nginx"] ?? []),
            throughputNginxCopying: median(rates["nginx-copying"] ?? []),
            throughputRatio: median(ratios["nginx"] ?? []),
            throughputRatioCopying: median(ratios["nginx-copying"] ?? []),
            throughputRounds: throughputRounds,
            cpuPerResponse: median(cpuPerResponse["share"] ?? []),
            cpuPerResponseNginx: median(cpuPerResponse["nginx"] ?? []),
            cpuPerResponseNginxCopying: median(cpuPerResponse["nginx-copying"] ?? []),
            captures: captures,
            captureBound: captureBound,
            loadSeconds: shareLoad,
            pollingRSS: peakRSS.polling,
            peakRSS: peakRSS.throughput,
            pngBytes: pngBytes
        )
    }

    /// The ETag a server sends for `url`.
    private func etag(of url: String) throws -> String {
        let headers = "\(work)/headers-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: headers) }
        let fetched = try BenchProcess.run("/usr/bin/curl", ["-sf", "-o", "/dev/null", "-D", headers, url])
        let text = (try? String(contentsOfFile: headers, encoding: .utf8)) ?? ""
        guard fetched.status == 0,
            let line = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("etag:") })
        else { throw BenchError("\(url) sent no ETag") }
        return line.dropFirst("etag:".count).trimmingCharacters(in: .whitespaces)
    }

    private func writeScript(_ name: String, _ text: String) throws -> String {
        let path = "\(work)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs wrk to the end, calling `sample` with `process`'s resident memory every 200 ms meanwhile, and returns
    /// the figures of its `BENCH key=value ...` line and its wall time (`seconds`).
    private func wrk(
        _ arguments: [String],
        sampling process: BenchProcess? = nil,
        sample: (Int) -> Void = { _ in }
    ) async throws -> [String: Double] {
        let start = ContinuousClock.now
        let output = "\(work)/wrk-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let wrk = try BenchProcess("/usr/bin/wrk", arguments, standardOutput: output)
        while wrk.isRunning {
            if let process { sample(process.memory("VmRSS")) }
            try await Task.sleep(for: .milliseconds(200))
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard wrk.wait() == 0, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("BENCH ") }) else {
            throw BenchError("wrk \(arguments.joined(separator: " ")) failed:\n\(text)")
        }
        var figures: [String: Double] = ["seconds": (ContinuousClock.now - start).seconds]
        for pair in line.split(separator: " ").dropFirst() {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let value = Double(parts[1]) { figures[String(parts[0])] = value }
        }
        return figures
    }

    /// Prints the figures the benchmark reads, in one line.
    private static let summaryScript = """
        done = function(summary, latency, requests)
          local errors = summary.errors.connect + summary.errors.read + summary.errors.write
            + summary.errors.timeout + summary.errors.status
          io.write(string.format("BENCH p50_us=%d p99_us=%d requests=%d errors=%d rps=%.1f bytes=%d\\n",
            latency:percentile(50), latency:percentile(99), summary.requests, errors,
            summary.requests / (summary.duration / 1e6), summary.bytes))
        end

        """

    /// Viewers as the page makes them: about one request a second, revalidating with the last ETag seen (at
    /// first the one given as the script's argument).
    private static let pollingScript =
        """
        local etag = nil
        init = function(args)
          etag = args[1]
          math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
        end
        request = function()
          if etag then return wrk.format("GET", nil, { ["If-None-Match"] = etag }) end
          return wrk.format("GET")
        end
        response = function(status, headers, body)
          for name, value in pairs(headers) do
            if string.lower(name) == "etag" then etag = value end
          end
        end
        -- About one request a second per viewer (0.5 to 1.5 s), so viewers drift apart as real ones do.
        delay = function() return math.random(500, 1500) end

        """ + summaryScript
}

/// nginx serving one folder as static files on a free loopback port, as a peer for throughput and latency.
struct Nginx {
    let process: BenchProcess
    let port: Int

    /// - Parameter sendfile: nginx's default on Debian; off, nginx copies the file through user space as share
    ///   copies its buffer, which shows what sendfile is worth.
    init(work: String, root: String, sendfile: Bool = true) throws {
        let prefix = "\(work)/nginx-sendfile-\(sendfile ? "on" : "off")"
        try FileManager.default.createDirectory(atPath: "\(prefix)/logs", withIntermediateDirectories: true)
        port = try freePort()
        let configuration = """
            daemon off;
            worker_processes auto;
            user root;
            pid \(prefix)/nginx.pid;
            error_log \(prefix)/logs/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                sendfile \(sendfile ? "on" : "off");
                tcp_nopush on;
                keepalive_requests 1000000;
                types { image/png png; }
                client_body_temp_path \(prefix)/client_body;
                proxy_temp_path \(prefix)/proxy;
                fastcgi_temp_path \(prefix)/fastcgi;
                uwsgi_temp_path \(prefix)/uwsgi;
                scgi_temp_path \(prefix)/scgi;
                server {
                    listen 127.0.0.1:\(port);
                    root \(root);
                }
            }

            """
        try configuration.write(toFile: "\(prefix)/nginx.conf", atomically: true, encoding: .utf8)
        process = try BenchProcess(
            "/usr/sbin/nginx",
            ["-p", prefix, "-c", "\(prefix)/nginx.conf"],
            standardError: "\(prefix)/logs/stderr.log"
        )
        // Ready once it answers.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let probe = try BenchProcess.run("/usr/bin/curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/"])
            if probe.status == 0 || probe.status == 22 { return }
            usleep(100_000)
        }
        process.stop()
        throw BenchError("nginx did not start; see \(prefix)/logs/stderr.log")
    }
}

/// A TCP port on 127.0.0.1 that nobody listens on right now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw BenchError("Cannot find a free port on 127.0.0.1.") }
    return Int(UInt16(bigEndian: address.sin_port))
}
