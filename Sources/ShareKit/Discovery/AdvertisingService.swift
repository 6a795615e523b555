import Logging
import NIOPosix
import ServiceLifecycle

/// The advertiser as a service of `share start`'s group: it advertises once the server is bound, with the
/// real port, and withdraws the record on graceful shutdown, before the server stops.
///
/// Starting and withdrawing make blocking D-Bus calls to avahi-daemon (connecting, creating and freeing the entry
/// group, stopping the poll thread): up to D-Bus's 25 s timeout when the daemon hangs. They run on a thread of
/// the service's own, never as a task, because in `share start` tasks run on the event loops that serve viewers.
struct AdvertisingService: Service {
    let name: String
    let interval: Double
    /// True when the server listens on IPv6 too, so IPv6 addresses may be advertised.
    let ipv6: Bool
    /// True when the share is locked with a PIN: the TXT record says `auth=pin` (never the PIN).
    var locked = false
    let logger: Logger
    /// Delivers the bound port and the URLs printed for it, once.
    let bound: AsyncStream<(port: Int, urls: [String])>
    /// Reports the advertiser once it exists, for tests.
    var onStart: @Sendable (ShareAdvertiser) -> Void = { _ in }

    func run() async throws {
        let bound = self.bound
        let first = await cancelWhenGracefulShutdown { () -> (port: Int, urls: [String])? in
            for await value in bound { return value }
            return nil
        }
        guard let (port, urls) = first ?? nil else { return }
        let advertiser = ShareAdvertiser(
            ShareAdvertisement(name: name, port: port, interval: interval, locked: locked),
            logger: logger,
            ipv6: ipv6
        )
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        try? await thread.runIfActive { advertiser.start(serverURLs: urls) }
        onStart(advertiser)
        // Wait for SIGINT/SIGTERM (or cancellation), then take the record off the network at once.
        try? await gracefulShutdown()
        try? await thread.runIfActive { advertiser.withdraw() }
        try? await thread.shutdownGracefully()
    }
}
