import ArgumentParser
import Foundation
import ShareKit

extension Share {
    /// `share open`: find a share and open it in the browser.
    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a share on the local network in your browser.",
            discussion: """
                With one share on the network, 'share open' opens it; with several, name one. Uses $BROWSER, \
                then xdg-open; without a browser it prints the URL.

                Examples:
                  share open                 the only share on the network
                  share open "Room 4"        the share called Room 4
                """
        )

        @Argument(help: "The share's name, as 'share list' shows it.")
        var name: String?

        @OptionGroup var browsing: BrowseOptions

        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            _ = logging.bootstrap(label: "share.open")
            let shares = try await ShareBrowser.list(includeAll: false, timeout: browsing.duration)
            let share: DiscoveredShare
            switch ShareListing.choose(name, from: shares) {
            case .success(let chosen):
                share = chosen
            case .failure(let error):
                if case .several = error.kind { ShareServer.printLine(ShareListing.table(shares, showKind: false)) }
                throw error
            }
            switch BrowserLauncher.open(share.url) {
            case .opened(let command):
                FileHandle.standardError.write(
                    Data(
                        "Opened \(ShareListing.printable(share.name)) (\(ShareListing.printable(share.url))) with \(command).\n"
                            .utf8
                    )
                )
            case .noBrowser(let tried):
                FileHandle.standardError.write(
                    Data(
                        ("No browser could be started (tried: \(tried.joined(separator: ", "))). Set $BROWSER or "
                            + "install xdg-utils; meanwhile open this URL yourself:\n").utf8
                    )
                )
                ShareServer.printLine(ShareListing.printable(share.url))
            }
        }
    }
}
