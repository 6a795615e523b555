import ArgumentParser
import Foundation
import ShareKit

extension Share {
    /// `share list`: every share on the LAN, with a URL to open.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the shares on the local network, with a URL to open each.",
            discussion: """
                Asks the system's Avahi daemon (mDNS/DNS-SD) and prints every share it finds, usually within a \
                second.

                Examples:
                  share list                 a table of name, URL and host
                  share list --json          the same for scripts
                  share list --all           also other web pages on the network (printers, routers)
                  share list --watch         keep listening; print shares as they come and go
                """
        )

        @Flag(help: "Print JSON: an array of objects with name, host, port, path, addresses, url and txt.")
        var json = false

        @Flag(help: "Also list _http._tcp services that are not shares.")
        var all = false

        @Flag(help: "Keep browsing and print shares as they appear and disappear, until Ctrl-C.")
        var watch = false

        @OptionGroup var browsing: BrowseOptions

        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            _ = logging.bootstrap(label: "share.list")
            if watch {
                try await ShareListing.watch(includeAll: all, json: json, output: ShareServer.printLine)
                return
            }
            let shares = try await ShareBrowser.list(includeAll: all, timeout: browsing.duration)
            if json {
                ShareServer.printLine(ShareListing.json(shares))
            } else if shares.isEmpty {
                FileHandle.standardError.write(Data((ShareListing.nothingFoundAdvice + "\n").utf8))
            } else {
                ShareServer.printLine(ShareListing.table(shares, showKind: all))
            }
        }
    }
}
