import Foundation
import Glibc
import Synchronization

// Linux network namespaces for the test harnesses (`TestHosts` with real Avahi, `LoopbackHost` for the browser).
//
// Whatever may send multicast runs inside a namespace made here, never in the root network namespace. Programs run
// inside through `ip netns exec NS program args`, which execs, so a child's PID is the program's own; they are started
// with `ChildProcess` (recorded by PID for Scripts/test) and ended by PID. Each namespace made is recorded in
// SHARE_TEST_NETNS_DIR, so that Scripts/test deletes it even if the test process dies before its teardown.

extension TestEnvironment {
    /// True when the project's test command asked for `feature` (`SHARE_TEST_REQUIRE`, comma-separated, holds it or
    /// "all"): then the suites that need it fail, rather than skip, when their environment cannot be made.
    static func requires(_ feature: String) -> Bool {
        (ProcessInfo.processInfo.environment["SHARE_TEST_REQUIRE"] ?? "").split(separator: ",")
            .contains { $0 == feature || $0 == "all" }
    }
}

/// Finds the programs the harnesses run, by absolute path.
enum HarnessTools {
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    /// The absolute path of the executable `name` in `searchPath`, or nil.
    static func find(_ name: String) -> String? {
        searchPath.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Files in a scratch folder for one command's stdout and stderr.
private struct OutputFiles {
    let outputPath: String
    let errorPath: String

    init(in scratch: String, name: String) {
        outputPath = "\(scratch)/\(name).out"
        errorPath = "\(scratch)/\(name).err"
    }

    /// What the command wrote: stdout and stderr ("" where nothing).
    func read() -> (output: String, error: String) {
        (
            (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        )
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: outputPath)
        try? FileManager.default.removeItem(atPath: errorPath)
    }
}

/// Runs a short command to completion without suspending (root-namespace `ip` commands, teardown), killing it (by
/// PID) after `timeout`. Returns status (nil on timeout), stdout and stderr; `scratch` holds them meanwhile.
func runBlocking(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String] = ProcessInfo.processInfo.environment,
    scratch: String,
    timeout: Duration = .seconds(15)
) throws -> (status: Int32?, output: String, error: String) {
    let files = OutputFiles(in: scratch, name: "blocking-\(UUID().uuidString)")
    defer { files.remove() }
    let process = try ChildProcess(
        executable: executable,
        arguments: arguments,
        environment: environment,
        standardOutputPath: files.outputPath,
        standardErrorPath: files.errorPath
    )
    let deadline = ContinuousClock.now + timeout
    while process.exitStatus == nil, ContinuousClock.now < deadline { usleep(2_000) }
    let status = process.exitStatus
    if status == nil { process.stop(grace: .milliseconds(200)) }
    let (output, error) = files.read()
    return (status, output, error)
}

/// Runs a short harness command with `runBlocking` and returns its stderr; throws `failure(message)` unless it ends
/// with status 0 within 15 s.
@discardableResult
func runChecked(
    _ executable: String,
    _ arguments: [String],
    scratch: String,
    failure: (String) -> any Error
) throws -> String {
    let result = try runBlocking(executable, arguments, scratch: scratch)
    let commandLine = ([executable] + arguments).joined(separator: " ")
    guard let status = result.status else {
        throw failure("`\(commandLine)` did not finish within 15 s")
    }
    guard status == 0 else {
        throw failure(
            "`\(commandLine)` failed with status \(status): "
                + result.error.trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }
    return result.error
}

/// Makes a fresh folder `<temporary folder>/<prefix>.XXXXXX`, or `/tmp/<prefix>.XXXXXX` when the temporary folder's
/// path is so long that `<folder><deepest>` would have more than `limit` bytes (a unix socket path must fit in 108).
func makeScratchDirectory(prefix: String, deepest: String, limit: Int) throws -> String {
    let directory = try makeTemporaryDirectory(in: NSTemporaryDirectory(), prefix: prefix)
    guard "\(directory)\(deepest)".utf8.count > limit else { return directory }
    try? FileManager.default.removeItem(atPath: directory)
    return try makeTemporaryDirectory(in: "/tmp", prefix: prefix)
}

/// Makes a fresh folder `<parent>/<prefix>.XXXXXX`.
private func makeTemporaryDirectory(in parent: String, prefix: String) throws -> String {
    var template = Array(((parent as NSString).appendingPathComponent("\(prefix).XXXXXX")).utf8CString)
    guard let result = mkdtemp(&template) else {
        throw EnvironmentError(
            description: "Cannot make a temporary folder in \(parent): \(String(cString: strerror(errno)))"
        )
    }
    return String(cString: result)
}

/// One network namespace: made by `create()` (loopback up), recorded in SHARE_TEST_NETNS_DIR, deleted by `delete()`
/// (also at deinit). Programs run inside with `spawn`, `run` or `runBlocking`.
final class TestNamespace: Sendable {
    /// The namespace's name, as `ip netns list` shows it.
    let name: String

    private let ip: String
    /// Where `run` keeps a command's output meanwhile, and where harness commands keep theirs.
    private let scratch: String
    /// Where a command ran, for messages: e.g. "on presenter" or "in share-web-1-0".
    private let label: String
    /// Makes the error thrown when a command fails or hangs.
    private let failure: @Sendable (String) -> any Error
    private let state = Mutex<(created: Bool, deleted: Bool)>((false, false))
    private let counter = Atomic<Int>(0)

    init(
        name: String,
        ip: String,
        scratch: String,
        label: String,
        failure: @escaping @Sendable (String) -> any Error
    ) {
        self.name = name
        self.ip = ip
        self.scratch = scratch
        self.label = label
        self.failure = failure
    }

    /// Whether the namespace has been made and not deleted yet.
    var isUp: Bool { state.withLock { $0.created && !$0.deleted } }

    private static var recordDirectory: String? { ProcessInfo.processInfo.environment["SHARE_TEST_NETNS_DIR"] }

    /// Makes the namespace (`ip netns add`), records it for Scripts/test and brings its loopback up.
    func create() throws {
        try runChecked(ip, ["netns", "add", name], scratch: scratch, failure: failure)
        state.withLock { $0.created = true }
        if let folder = Self.recordDirectory {
            _ = FileManager.default.createFile(atPath: "\(folder)/\(name)", contents: Data())
        }
        try configure(["link", "set", "lo", "up"])
    }

    /// Runs `ip -n NAME arguments` (e.g. `addr add ...`) and throws unless it succeeds.
    func configure(_ arguments: [String]) throws {
        try runChecked(ip, ["-n", name] + arguments, scratch: scratch, failure: failure)
    }

    /// Deletes the namespace if it was made, and its record. Idempotent.
    func delete() {
        let created = state.withLock { state in
            defer { state.deleted = true }
            return state.created && !state.deleted
        }
        guard created else { return }
        _ = try? runChecked(ip, ["netns", "delete", name], scratch: scratch, failure: failure)
        if let folder = Self.recordDirectory {
            try? FileManager.default.removeItem(atPath: "\(folder)/\(name)")
        }
    }

    deinit { delete() }

    /// Starts `executable` inside the namespace with exactly `environment` (a bare name is looked up on PATH).
    func spawn(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String],
        standardOutputPath: String? = nil,
        standardErrorPath: String? = nil
    ) throws -> ChildProcess {
        try ChildProcess(
            executable: ip,
            arguments: ["netns", "exec", name, executable] + arguments,
            environment: environment,
            standardOutputPath: standardOutputPath,
            standardErrorPath: standardErrorPath
        )
    }

    /// Runs a command inside the namespace to completion and returns its status, stdout and stderr. Throws
    /// `failure(...)` (after killing it) if it runs longer than `timeout`.
    func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String],
        timeout: Duration
    ) async throws -> (status: Int32, output: String, error: String) {
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let files = OutputFiles(in: scratch, name: "run-\(number)")
        defer { files.remove() }
        let process = try spawn(
            executable,
            arguments,
            environment: environment,
            standardOutputPath: files.outputPath,
            standardErrorPath: files.errorPath
        )
        let status: Int32?
        do {
            status = try await process.wait(timeout: timeout)
        } catch {
            process.stop(grace: .milliseconds(200))
            throw error
        }
        let (output, error) = files.read()
        guard let status else {
            process.stop(grace: .milliseconds(200))
            throw failure(
                "`\(([executable] + arguments).joined(separator: " "))` \(label) did not finish within \(timeout); "
                    + "stdout: \(output.suffix(2_000)) stderr: \(error.suffix(2_000))"
            )
        }
        return (status, output, error)
    }

    /// Like `run`, but blocking the thread (for teardown paths that cannot suspend). Status nil on timeout, or when
    /// the command cannot be started.
    func runBlocking(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String],
        timeout: Duration
    ) -> (status: Int32?, output: String, error: String) {
        let result = try? ShareKitTests.runBlocking(
            ip,
            ["netns", "exec", name, executable] + arguments,
            environment: environment,
            scratch: scratch,
            timeout: timeout
        )
        return result ?? (nil, "", "")
    }

    /// The PIDs of the processes inside the namespace now (zombies excluded).
    func processIDs() -> [pid_t] {
        // /run/netns/NAME is the namespace's nsfs file (bind-mounted); /proc/PID/ns/net links to "net:[inode]".
        let attributes = try? FileManager.default.attributesOfItem(atPath: "/run/netns/\(name)")
        guard let inode = (attributes?[.systemFileNumber] as? NSNumber)?.uint64Value else { return [] }
        let link = "net:[\(inode)]"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")) == link
        }
    }

    /// Ends every process inside the namespace, by PID: SIGTERM, then SIGKILL for those left after `grace`.
    func endProcesses(grace: Duration = .seconds(3)) {
        var remaining = processIDs()
        guard !remaining.isEmpty else { return }
        for pid in remaining { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while !remaining.isEmpty, ContinuousClock.now < deadline {
            usleep(20_000)
            remaining = processIDs()
        }
        for pid in remaining { kill(pid, SIGKILL) }
        let killDeadline = ContinuousClock.now + .seconds(2)
        while !remaining.isEmpty, ContinuousClock.now < killDeadline {
            usleep(20_000)
            remaining = processIDs()
        }
    }
}

/// A test host that is one `TestNamespace`: `spawn` and `run` start programs inside it.
protocol NamespaceHost: Sendable {
    /// The namespace the host's programs run in.
    var network: TestNamespace { get }
    /// How long `run` lets a command take unless told otherwise.
    static var defaultRunTimeout: Duration { get }
    /// The whole environment of a program started inside with `extra`; throws if nothing may start now.
    func spawnEnvironment(_ extra: [String: String]) throws -> [String: String]
}

extension NamespaceHost {
    /// Starts `executable` inside the namespace (`ip netns exec NS executable args`, which execs, so the child's PID
    /// is the program's own), with `spawnEnvironment(environment)`. A bare name is looked up on PATH.
    func spawn(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        standardOutputPath: String? = nil,
        standardErrorPath: String? = nil
    ) throws -> ChildProcess {
        try network.spawn(
            executable,
            arguments,
            environment: spawnEnvironment(environment),
            standardOutputPath: standardOutputPath,
            standardErrorPath: standardErrorPath
        )
    }

    /// Runs a command inside the namespace to completion and returns its status, stdout and stderr. Throws the
    /// host's error (after killing it) if it runs longer than `timeout`.
    func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        timeout: Duration = Self.defaultRunTimeout
    ) async throws -> (status: Int32, output: String, error: String) {
        try await network.run(executable, arguments, environment: spawnEnvironment(environment), timeout: timeout)
    }
}
