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
                  share start --pin                   lock with a random PIN (in the URLs)
                  share start --pin 4711 --viewers    this PIN; print the viewer count
                  share start --monitor HDMI-1        one monitor ('share monitors' lists them)
                  share start --region 1280x720+0+0   a rectangle of the screen
                  share start --window 0x1e00007      one window (find its id with xwininfo)
                  share start --max-width 1280        downscale a 4K screen for slow Wi-Fi

                --pin alone makes a random 6-digit PIN; --pin PIN sets one. Viewers enter it once per browser \
                (a cookie keeps them in until share stops); with curl: curl -c jar 'http://HOST:PORT/?pin=PIN', \
                then curl -b jar http://HOST:PORT/screen.png. See Docs/Security.md.
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

        @Option(
            help: ArgumentHelp(
                "Lock the share with a PIN: --pin alone makes a random one, --pin 4711 sets it (4 to 32 letters or digits).",
                valueName: "PIN"
            )
        )
        var pin: String?

        /// `--pin` without a value, as `PINArgument` rewrites it before parsing.
        @Flag(name: .customLong(PINArgument.generateFlag), help: .hidden)
        var generatePIN = false

        @Flag(help: "Print the number of viewers on stderr whenever it changes.")
        var viewers = false

        @Option(
            help: ArgumentHelp(
                "Share one monitor, by name or by index as 'share monitors' lists them (default: the whole screen).",
                valueName: "name|index"
            )
        )
        var monitor: String?

        @Option(
            help: ArgumentHelp(
                "Share a rectangle of the screen, WIDTHxHEIGHT+X+Y in pixels; clipped to the screen.",
                valueName: "geometry"
            )
        )
        var region: String?

        @Option(
            help: ArgumentHelp(
                "Share one window by its X id (as xwininfo prints it), following it as it moves; "
                    + "sharing ends when it closes.",
                valueName: "id"
            )
        )
        var window: String?

        @Flag(help: "Do not draw the mouse pointer into the shared picture.")
        var noCursor = false

        @Option(
            help: ArgumentHelp("Downscale the picture to at most this width, keeping its shape.", valueName: "pixels")
        )
        var maxWidth: Int?

        @Option(
            help: ArgumentHelp("Downscale the picture to at most this height, keeping its shape.", valueName: "pixels")
        )
        var maxHeight: Int?

        @OptionGroup var logging: LoggingOptions

        var startConfiguration: StartConfiguration {
            var configuration = StartConfiguration(
                port: port,
                bindAddress: bindAddress,
                interval: interval,
                displayName: display,
                name: name,
                testCard: testCard,
                advertise: !noAdvertise,
                qrCode: !noQr,
                monitor: monitor,
                region: region,
                window: window,
                drawsCursor: !noCursor,
                maxWidth: maxWidth,
                maxHeight: maxHeight
            )
            configuration.pin = pin
            configuration.showViewers = viewers
            return configuration
        }

        func validate() throws {
            if generatePIN && pin != nil {
                throw ValidationError("Give --pin once: alone for a random PIN, or with the PIN to use.")
            }
            if let problem = startConfiguration.problems.first {
                throw ValidationError(problem)
            }
        }

        func run() async throws {
            let logger = logging.bootstrap(label: "share.start")
            var configuration = startConfiguration
            if generatePIN { configuration.pin = StartConfiguration.randomPIN() }
            try await ShareServer.run(configuration: configuration, logger: logger)
        }
    }
}
