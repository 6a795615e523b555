import ArgumentParser
import Logging
import ShareKit

extension Share {
    /// `share start`: capture the screen and serve it until Ctrl-C.
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Share this screen: serve it as a web page until Ctrl-C.",
            discussion: """
                Prints the URLs where the screen can be seen, one per line, then serves until Ctrl-C (SIGINT) \
                or SIGTERM. Anyone on the network opens one of them in a browser; nothing needs installing.

                Examples:
                  share start                         share $DISPLAY on port 8000
                  share start --port 0                let the system pick a free port
                  share start --interval 0.5 --name "Room 4"
                  share start --display :1            share another X display
                  share start --bind 127.0.0.1        this machine only (for an SSH tunnel)
                  share start --test-card             a test picture instead of the screen
                """
        )

        @Option(help: "TCP port to listen on; 0 picks a free port, which is then printed.")
        var port: Int = 8000

        @Option(name: .customLong("bind"), help: ArgumentHelp("The IP address to listen on.", valueName: "address"))
        var bindAddress: String = "0.0.0.0"

        @Option(help: ArgumentHelp("Seconds between screen updates, from 0.1 to 3600.", valueName: "seconds"))
        var interval: Double = 1

        @Option(help: ArgumentHelp("The X display to capture (default: $DISPLAY).", valueName: "display"))
        var display: String?

        @Option(
            help: ArgumentHelp(
                "The share's name, shown to viewers (default: this machine's host name).",
                valueName: "name"
            )
        )
        var name: String?

        @Flag(
            help:
                "Serve a built-in, changing test picture instead of the screen: check the room can connect before showing anything private."
        )
        var testCard = false

        @Flag(help: "Do not advertise the share on the network; viewers need the printed URL.")
        var noAdvertise = false

        @Flag(help: "Do not print a QR code of the URL (it is only printed when stdout is a terminal).")
        var noQr = false

        @OptionGroup var logging: LoggingOptions

        var startConfiguration: StartConfiguration {
            StartConfiguration(
                port: port,
                bindAddress: bindAddress,
                interval: interval,
                displayName: display,
                name: name,
                testCard: testCard,
                advertise: !noAdvertise,
                qrCode: !noQr
            )
        }

        func validate() throws {
            if let problem = startConfiguration.problems.first {
                throw ValidationError(problem)
            }
        }

        func run() async throws {
            let logger = logging.bootstrap(label: "share.start")
            try await ShareServer.run(configuration: startConfiguration, logger: logger)
        }
    }
}
