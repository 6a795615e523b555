import Foundation

/// Opens a URL in the user's browser: each command of `$BROWSER` in turn (a colon-separated list; `%s` marks
/// where the URL goes, else it is appended), then `xdg-open`.
///
/// Commands are split on spaces and started directly with `posix_spawnp`, never through a shell, so a URL
/// learnt from the network cannot inject a command.
package enum BrowserLauncher {
    /// What happened.
    package enum Outcome: Sendable, Equatable {
        /// This command took the URL.
        case opened(command: String)
        /// No browser could be started; the user has to open the URL.
        case noBrowser(tried: [String])
    }

    /// The commands to try, in order.
    package static func candidates(environment: [String: String]) -> [[String]] {
        var commands: [[String]] = []
        if let browser = environment["BROWSER"], !browser.isEmpty {
            for entry in browser.split(separator: ":") {
                let words = entry.split(separator: " ").map(String.init)
                if !words.isEmpty { commands.append(words) }
            }
        }
        commands.append(["xdg-open"])
        return commands
    }

    /// Opens `url` with the first command that starts and does not fail at once.
    package static func open(
        _ url: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Outcome {
        var tried: [String] = []
        for command in candidates(environment: environment) {
            let arguments: [String]
            if command.contains(where: { $0.contains("%s") }) {
                arguments = command.map { $0.replacingOccurrences(of: "%s", with: url) }
            } else {
                arguments = command + [url]
            }
            tried.append(command.joined(separator: " "))
            guard let executable = findExecutable(command[0], path: environment["PATH"]) else { continue }
            if launch(executable, arguments) { return .opened(command: command.joined(separator: " ")) }
        }
        return .noBrowser(tried: tried)
    }

    /// The full path of `name` (a path already, or looked up in PATH).
    static func findExecutable(_ name: String, path: String?) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Starts the browser; true unless it fails within the first moments.
    private static func launch(_ executable: String, _ arguments: [String]) -> Bool {
        guard let pid = try? Spawn.start(executable, Array(arguments.dropFirst()), standardError: .devNull)
        else { return false }
        // xdg-open and most $BROWSER wrappers hand over and exit at once; a real browser keeps running.
        // Either is success; a quick non-zero exit (no display, no handler) means "try the next one".
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                return status & 0x7F == 0 && (status >> 8) & 0xFF == 0
            }
            if result < 0 { return true }
            usleep(20_000)
        }
        return true
    }
}
