import Foundation
import ShareKit

/// A process the benchmark started, stopped by its PID only.
///
/// Its PID is written to `$SHARE_BENCH_PID_DIR` (Scripts/bench makes that folder and kills what is listed there
/// when it exits, even after a crash), and removed once the process is reaped.
final class BenchProcess {
    let pid: pid_t
    let name: String
    private var status: Int32?

    /// Starts `executable` with `arguments`; stdout and stderr go to the given files (or /dev/null).
    init(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        standardOutput: String? = nil,
        standardError: String? = nil
    ) throws {
        name = (executable as NSString).lastPathComponent
        pid = try Spawn.start(
            executable,
            arguments,
            environment: environment,
            standardOutput: standardOutput.map { .file($0) } ?? .devNull,
            standardError: standardError.map { .file($0) } ?? .devNull
        )
        Self.record(pid)
    }

    /// Runs `executable` to the end and returns its exit status and wall time.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        standardOutput: String? = nil
    ) throws -> (status: Int32, seconds: Double) {
        let start = ContinuousClock.now
        let process = try BenchProcess(
            executable,
            arguments,
            environment: environment,
            standardOutput: standardOutput
        )
        let status = process.wait()
        return (status, (ContinuousClock.now - start).seconds)
    }

    /// Waits for the process to end; its exit status (128+N when killed by signal N).
    @discardableResult
    func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let code = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        status = code
        Self.forget(pid)
        return code
    }

    var isRunning: Bool {
        guard status == nil else { return false }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return true }
        status = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        Self.forget(pid)
        return false
    }

    /// SIGTERM, then SIGKILL after `grace`; reaps the process.
    func stop(grace: Duration = .seconds(3)) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        if isRunning { kill(pid, SIGKILL) }
        wait()
    }

    deinit { stop(grace: .milliseconds(500)) }

    /// User and system CPU time the process has used so far, from /proc/PID/stat.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // After "pid (comm)" come fields 3...; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU time of the process's threads, from the scheduler's own accounting in nanoseconds
    /// (/proc/PID/task/*/schedstat) rather than 10 ms clock ticks; threads that have ended are not counted.
    var threadCPUSeconds: Double { Self.threadCPUSeconds(of: pid) }

    private static func threadCPUSeconds(of pid: pid_t) -> Double {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var nanoseconds = 0.0
        for task in tasks {
            guard let line = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/schedstat", encoding: .utf8),
                let first = line.split(separator: " ").first, let value = Double(first)
            else { continue }
            nanoseconds += value
        }
        return nanoseconds / 1e9
    }

    /// The process's children (nginx's workers under its master process), from /proc/PID/task/PID/children.
    var children: [pid_t] {
        let list = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return list.split(separator: " ").compactMap { pid_t($0) }
    }

    /// `threadCPUSeconds` of the process and of its children.
    var treeCPUSeconds: Double {
        children.reduce(threadCPUSeconds) { total, child in total + Self.threadCPUSeconds(of: child) }
    }

    /// A field of /proc/PID/status in bytes, such as VmRSS or VmHWM.
    func memory(_ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kilobytes * 1024
        }
        return 0
    }

    private static let pidDirectory = ProcessInfo.processInfo.environment["SHARE_BENCH_PID_DIR"]

    private static func record(_ pid: pid_t) {
        guard let pidDirectory else { return }
        _ = FileManager.default.createFile(atPath: "\(pidDirectory)/\(pid)", contents: Data())
    }

    private static func forget(_ pid: pid_t) {
        guard let pidDirectory else { return }
        try? FileManager.default.removeItem(atPath: "\(pidDirectory)/\(pid)")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1e3 }
}

/// The median of a list of figures (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// A failure of the benchmark's environment, with what to do.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
