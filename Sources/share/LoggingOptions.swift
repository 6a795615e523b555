public import ArgumentParser
public import Logging
import ShareKit

/// `--log-level`, shared by every subcommand. Logs always go to stderr; stdout is the command's output.
struct LoggingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How much to log on stderr: trace, debug, info, notice, warning, error or critical."))
    var logLevel: Logger.Level = .info

    /// Sends logs to stderr at the chosen level and returns a logger for the command.
    func bootstrap(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            StandardErrorLogHandler(label: label, logLevel: level)
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
