package import Glibc

/// Starts programs with `posix_spawn`, as a shell would: a clean signal mask and default signal handlers.
///
/// A process that uses swift-service-lifecycle blocks SIGINT and SIGTERM on its threads; a child started with
/// that mask (as Foundation's `Process` does) would ignore SIGTERM. No shell is involved, so no argument is
/// ever interpreted.
package enum Spawn {
    /// Where a child's standard output or error goes.
    package enum Output: Sendable {
        case devNull
        /// A file, created or truncated.
        case file(String)
        /// An open descriptor of this process (a pipe's write end).
        case descriptor(Int32)
    }

    /// Starts `executable` (a path) with `arguments` (without argv[0]); stdin is /dev/null.
    ///
    /// - Parameters:
    ///   - environment: `KEY=VALUE` pairs; nil passes this process's environment.
    ///   - closeInChild: descriptors the child must not inherit.
    /// - Returns: the child's PID. The caller reaps it with `waitpid`.
    package static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        standardOutput: Output = .devNull,
        standardError: Output = .devNull,
        closeInChild: [Int32] = []
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (fd, output) in [(Int32(1), standardOutput), (2, standardError)] {
            switch output {
            case .devNull: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            case .descriptor(let source): posix_spawn_file_actions_adddup2(&actions, source, fd)
            }
        }
        for fd in closeInChild { posix_spawn_file_actions_addclose(&actions, fd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            for pointer in argv + (envp ?? []) { free(pointer) }
        }
        var pid: pid_t = 0
        let result =
            if let envp {
                posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            } else {
                posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
            }
        guard result == 0 else {
            throw ShareError("Cannot start \(executable): \(String(cString: strerror(result))).")
        }
        return pid
    }
}
