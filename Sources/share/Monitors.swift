import ArgumentParser
import ShareKit

extension Share {
    /// `share monitors`: the monitors of the X display, to pick one for `share start --monitor`.
    struct Monitors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the monitors of the X display (name, geometry, primary), for 'share start --monitor'.",
            discussion: """
                Asks the X server's RandR extension. Each monitor has an index and a name; either one goes to \
                'share start --monitor'.

                Examples:
                  share monitors                 a table of index, name, geometry and primary
                  share monitors --json          the same for scripts
                  share monitors --display :1    another X display
                """
        )

        @Flag(help: "Print JSON: an array of objects with index, name, x, y, width, height and primary.")
        var json = false

        @Option(help: ArgumentHelp("The X display to ask (default: $DISPLAY).", valueName: "display"))
        var display: String?

        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            _ = logging.bootstrap(label: "share.monitors")
            let monitors = try await MonitorListing.monitors(displayName: display)
            ShareServer.printLine(json ? MonitorListing.json(monitors) : MonitorListing.table(monitors))
        }
    }
}
