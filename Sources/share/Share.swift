import ArgumentParser
import ShareKit

/// The `share` command: show your screen to everyone on the LAN, in their browser.
@main
struct Share: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show your screen to everyone on the same network, in their browser.",
        discussion: """
            The presenter runs 'share start'; the audience opens one of the printed URLs in any browser.
            """,
        version: ShareVersion.current,
        subcommands: [Start.self, List.self, Open.self, Monitors.self],
        defaultSubcommand: nil
    )

    /// Parses the command line after `PINArgument` has given `--pin` its optional value.
    static func main() async {
        let arguments = PINArgument.rewrite(Array(CommandLine.arguments.dropFirst()))
        // `share start` serves: its Swift tasks run on NIO's event loops. Installed first thing, on the main
        // thread, as NIO asks; a false return (another executor hook was there first) leaves the default pool.
        if arguments.first == "start" { ShareServer.runTasksOnEventLoops() }
        await main(arguments)
    }
}
