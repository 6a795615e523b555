import Foundation
package import Hummingbird
public import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// `share start`: opens the frame source, serves it over HTTP and prints where, until SIGINT or SIGTERM.
public enum ShareServer {
    /// Builds the HTTP application for `frames`. Used by `run` and by the tests, so both serve the same thing.
    ///
    /// - Parameters:
    ///   - freshFramePath: whether fresh frames are answered from the event loop (`FreshFrameHandler`); tests
    ///     turn it off to compare.
    ///   - onRunning: called with the real port once the server is bound.
    package static func buildApplication(
        configuration: StartConfiguration,
        frames: FrameStore,
        name: String,
        host: String,
        logger: Logger,
        state: ShareState = ShareState(),
        viewers: ViewerLog? = nil,
        scaledFrames: ScaledFrameStore? = nil,
        freshFramePath: FreshFramePath = FreshFramePath(),
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let page = ViewerPage(name: name, host: host, interval: configuration.interval)
        let responder = ShareResponder(
            frames: frames,
            page: page,
            state: state,
            scaledFrames: scaledFrames,
            lock: configuration.pin.map { PINLock(pin: $0) },
            viewers: viewers ?? ViewerLog(interval: configuration.interval, logger: logger),
            name: name,
            host: host
        )
        let serverName = "share/\(ShareVersion.current)"
        return Application(
            responder: responder,
            server: configuration.limits.server(
                freshFrames: freshFramePath.isEnabled
                    ? FreshFrameAnswers(responder: responder, serverName: serverName, path: freshFramePath) : nil
            ),
            configuration: .init(
                address: .hostname(configuration.bindAddress, port: configuration.port),
                serverName: serverName,
                availableConnectionsDelegate: configuration.limits.connectionCap(logger: logger)
            ),
            onServerRunning: { channel in
                await onRunning(channel.localAddress?.port ?? configuration.port)
            },
            logger: logger
        )
    }

    /// Runs a share until SIGINT or SIGTERM.
    ///
    /// Prints one URL per line on `output` once the server is bound; logs go to `logger`. Throws `ShareError`
    /// with advice when the display cannot be opened or the address cannot be bound; in that case nothing is
    /// left running.
    public static func run(
        configuration: StartConfiguration,
        logger: Logger,
        output: @escaping @Sendable (String) -> Void = ShareServer.printLine
    ) async throws {
        let host = ShareURLs.hostName()
        let name = configuration.name ?? host

        var chosen: any FrameSource
        var screen: XScreenSource?
        if configuration.testCard {
            chosen = TestCardSource(name: name, host: host)
        } else {
            if let warning = WaylandSession.warning(environment: ProcessInfo.processInfo.environment) {
                logger.warning("\(warning)")
            }
            let opened = try await XScreenSource.open(
                displayName: configuration.displayName,
                area: configuration.area,
                drawsCursor: configuration.drawsCursor
            )
            screen = opened
            chosen = opened
            if opened.area == .screen, let monitors = try? await opened.monitors(), monitors.count > 1 {
                logger.notice("\(MonitorListing.advice(monitors))")
            }
        }
        if configuration.maxWidth != nil || configuration.maxHeight != nil {
            chosen = ScalingSource(chosen, maxWidth: configuration.maxWidth, maxHeight: configuration.maxHeight)
        }
        let source = chosen
        let frames = FrameStore(source: source, interval: .milliseconds(Int64(configuration.interval * 1000)))
        let state = ShareState()
        let viewers = ViewerLog(interval: configuration.interval, logger: logger)
        let (bound, boundContinuation) = AsyncStream.makeStream(of: (port: Int, urls: [String]).self)
        let application = buildApplication(
            configuration: configuration,
            frames: frames,
            name: name,
            host: host,
            logger: logger,
            state: state,
            viewers: viewers
        ) { port in
            let urls = ShareURLs.urls(
                bindAddress: configuration.bindAddress,
                port: port,
                hostName: host,
                interfaceAddresses: ShareURLs.localIPv4Addresses()
            )
            // With a PIN, the printed URLs (and the QR code) carry it, so a click or a scan opens the share.
            let printed = urls.map { url in configuration.pin.map { url + "?pin=" + $0 } ?? url }
            for url in printed { output(url) }
            if configuration.qrCode, isatty(STDOUT_FILENO) == 1, let first = printed.first,
                let code = TerminalQRCode(first)
            {
                // Phones join by scanning; only for a person at a terminal, never in a pipe or a log.
                output("")
                for line in code.rendered() { output("  " + line) }
                output("  Scan to open \(first)")
            }
            logger.notice(
                "Sharing. Press Ctrl-C to stop.",
                metadata: ["source": "\(source.summary)", "interval": "\(configuration.interval)s", "name": "\(name)"]
            )
            if let pin = configuration.pin {
                logger.notice(
                    "Locked with a PIN: viewers enter it once, or open a printed URL, which carries it.",
                    metadata: ["pin": "\(pin)"]
                )
            }
            boundContinuation.yield((port, urls))
            boundContinuation.finish()
        }

        // Services stop in reverse order: the advertisement is withdrawn first, the server stops last. A
        // failing service (the X server went away) shuts the others down gracefully.
        var services = [
            ServiceGroupConfiguration.ServiceConfiguration(service: application),
            .init(service: ShareEndService(state: state)),
        ]
        if configuration.showViewers {
            services.append(.init(service: ViewerCountService(viewers: viewers, output: printError)))
        }
        if let screen {
            services.append(
                .init(
                    service: DisplayWatchService(source: screen),
                    failureTerminationBehavior: .gracefullyShutdownGroup
                )
            )
        }
        if configuration.advertise && !ShareURLs.isLoopback(configuration.bindAddress) {
            let advertising = AdvertisingService(
                name: name,
                interval: configuration.interval,
                ipv6: configuration.bindAddress.contains(":"),
                locked: configuration.pin != nil,
                logger: logger,
                bound: bound
            )
            services.append(.init(service: advertising))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // Viewers only ever wait for one frame; a shutdown that takes longer than this is cut short.
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(700)
        groupConfiguration.maximumCancellationDuration = .milliseconds(200)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            await screen?.close()
            throw translate(error, configuration: configuration)
        }
        await screen?.close()
        let statistics = frames.statistics
        logger.notice(
            "Stopped sharing.",
            metadata: ["captures": "\(statistics.captures)", "encodes": "\(statistics.encodes)"]
        )
    }

    /// Makes NIO's event loops Swift concurrency's global executor for this process, as Vapor's application
    /// template does. A request's task then runs on the event loop that read the request, instead of hopping to
    /// the cooperative pool and back for every request and response. Call it once, first thing, in a process
    /// that serves; false when another global executor hook was installed first (tasks then stay on the pool).
    ///
    /// Safe for share because nothing blocks on the global executor: X11 calls, encoding, scaling and the test
    /// card run on `NIOThreadPool`s, Avahi's callbacks on its threaded poll and the advertiser's blocking D-Bus
    /// calls on `AdvertisingService`'s own thread. Measured under full-body load (Docs/Benchmarks.md): 3-10 % less
    /// server CPU per response, since the request path no longer wakes a pool thread.
    @discardableResult
    public static func runTasksOnEventLoops() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// Writes a line to stdout at once (unbuffered), so that scripts reading a pipe see URLs as they come.
    public static func printLine(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes a line to stderr at once.
    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Turns socket errors into advice.
    static func translate(_ error: any Error, configuration: StartConfiguration) -> any Error {
        guard let ioError = error as? IOError else { return error }
        switch ioError.errnoCode {
        case EADDRINUSE:
            return ShareError.portInUse(configuration.port, address: configuration.bindAddress)
        case EADDRNOTAVAIL:
            return ShareError.addressUnavailable(configuration.bindAddress)
        case EACCES:
            return ShareError(
                "Not allowed to listen on port \(configuration.port): ports below 1024 need root. "
                    + "Use the default --port 8000, or --port 0 for any free port."
            )
        default:
            return ShareError("Cannot listen on \(configuration.bindAddress):\(configuration.port): \(ioError).")
        }
    }
}
