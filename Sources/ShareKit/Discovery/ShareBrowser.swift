internal import CAvahi
import Foundation
import Synchronization

/// Finds shares (and, on request, any `_http._tcp` service) on the LAN through the system's Avahi daemon.
package enum ShareBrowser {
    /// What browsing reports.
    package enum Event: Sendable, Equatable {
        /// A service was found and resolved, or its details changed.
        case found(DiscoveredShare)
        /// The last instance of a service left the network.
        case removed(name: String)
        /// Every browser has reported "all for now" and every resolve has finished.
        case allForNow
    }

    /// Browses until Avahi reports "all for now" (about one second) or `timeout` passes, whichever comes first.
    ///
    /// Throws `ShareError` with advice when no Avahi daemon is reachable.
    package static func list(includeAll: Bool, timeout: Duration) async throws -> [DiscoveredShare] {
        let events = try browse(includeAll: includeAll)
        final class Collected: Sendable {
            let found = Mutex<[String: DiscoveredShare]>([:])
            let failure = Mutex<(any Error)?>(nil)
        }
        let collected = Collected()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await event in events {
                        switch event {
                        case .found(let share): collected.found.withLock { $0[share.name] = share }
                        case .removed(let name): _ = collected.found.withLock { $0.removeValue(forKey: name) }
                        case .allForNow: return
                        }
                    }
                } catch {
                    collected.failure.withLock { $0 = error }
                }
            }
            // The hard bound: whatever has been resolved by then is the answer.
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        if let error = collected.failure.withLock({ $0 }) { throw error }
        return collected.found.withLock { $0.values.sorted(by: DiscoveredShare.displayOrder) }
    }

    /// Browses until the stream is dropped; the C side is torn down then.
    package static func browse(includeAll: Bool) throws -> AsyncThrowingStream<Event, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Event.self, throwing: (any Error).self)
        let session = try BrowseSession(includeAll: includeAll, continuation: continuation)
        continuation.onTermination = { _ in
            // onTermination may run on Avahi's own thread (when a callback finishes the stream), and the poll
            // thread cannot stop itself: close from another thread.
            Thread.detachNewThread { session.close() }
        }
        return stream
    }
}

/// Paths from TXT records.
package enum ShareBrowserPaths {
    /// A TXT `path` is used only when it is a plain absolute path of printable ASCII: it goes into a URL that
    /// is printed and handed to a browser.
    package static func safe(_ path: String) -> String? {
        guard path.hasPrefix("/"), path.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return path
    }
}

/// One browse: a client, one or two service browsers, and a resolver per service found.
///
/// All its state lives on Avahi's poll thread (callbacks) except `close()`, which runs elsewhere after the poll
/// thread has stopped.
private final class BrowseSession: @unchecked Sendable {
    // @unchecked Sendable: the dictionaries and counters are only touched in Avahi callbacks, on the poll
    // thread with its lock held; `owner` is set in init before the poll thread starts and only closed after it
    // stops; browsers are created in init under the lock.

    private let continuation: AsyncThrowingStream<ShareBrowser.Event, any Error>.Continuation
    private let includeAll: Bool
    private var owner: AvahiClientOwner?
    private var browsers: [OpaquePointer] = []
    /// Browsers that have not yet said "all for now".
    private var browsersPending = 0
    /// Resolvers still running.
    private var resolving = 0
    private var reportedAllForNow = false
    /// Names seen through our subtype browser.
    private var shareNames: Set<String> = []
    /// Instances per service name: one per interface and protocol it was seen on.
    private var instances: [String: Set<Instance>] = [:]
    /// The merged result per name.
    private var services: [String: DiscoveredShare] = [:]

    private struct Instance: Hashable {
        let interface: Int32
        let proto: Int32
    }

    /// Which browser an event came from; passed through `userdata`.
    private final class BrowserContext {
        unowned let session: BrowseSession
        let isShareBrowser: Bool
        init(session: BrowseSession, isShareBrowser: Bool) {
            self.session = session
            self.isShareBrowser = isShareBrowser
        }
    }
    private var contexts: [BrowserContext] = []

    init(includeAll: Bool, continuation: AsyncThrowingStream<ShareBrowser.Event, any Error>.Continuation) throws {
        self.continuation = continuation
        self.includeAll = includeAll
        let owner: AvahiClientOwner
        do {
            owner = try AvahiClientOwner(reconnects: false) { [weak self] _, event in
                self?.clientChanged(event)
            }
        } catch let error as AvahiError {
            throw ShareError(error.description)
        }
        self.owner = owner
        try owner.withLock {
            try startBrowser(type: ShareAdvertisement.subtype, isShareBrowser: true)
            if includeAll {
                try startBrowser(type: ShareAdvertisement.serviceType, isShareBrowser: false)
            }
        }
    }

    private func startBrowser(type: String, isShareBrowser: Bool) throws {
        guard let client = owner?.client else { throw ShareError("Avahi's client went away.") }
        let context = BrowserContext(session: self, isShareBrowser: isShareBrowser)
        contexts.append(context)  // kept alive as long as the session, which outlives its browsers
        let browser = avahi_service_browser_new(
            client,
            share_avahi_if_unspec(),
            share_avahi_proto_unspec(),
            type,
            nil,
            AvahiLookupFlags(0),
            { _, interface, proto, event, name, type, domain, _, userdata in
                guard let userdata else { return }
                let context = Unmanaged<BrowserContext>.fromOpaque(userdata).takeUnretainedValue()
                context.session.browserEvent(
                    event,
                    interface: interface,
                    proto: proto,
                    name: name.map { String(cString: $0) },
                    type: type.map { String(cString: $0) },
                    domain: domain.map { String(cString: $0) },
                    fromShareBrowser: context.isShareBrowser
                )
            },
            Unmanaged.passUnretained(context).toOpaque()
        )
        guard let browser else {
            let code = avahi_client_errno(client)
            throw ShareError("Cannot browse for \(type) with Avahi (\(String(cString: avahi_strerror(code)))).")
        }
        browsers.append(browser)
        browsersPending += 1
    }

    private func clientChanged(_ event: AvahiClientOwner.Event) {
        if case .failed(_, let message, _) = event {
            continuation.finish(
                throwing: ShareError(
                    "Lost the connection to the Avahi daemon (\(message)). Check that avahi-daemon is running, then try again."
                )
            )
        }
    }

    // MARK: On the poll thread

    private func browserEvent(
        _ event: AvahiBrowserEvent,
        interface: AvahiIfIndex,
        proto: AvahiProtocol,
        name: String?,
        type: String?,
        domain: String?,
        fromShareBrowser: Bool
    ) {
        switch event {
        case AVAHI_BROWSER_NEW:
            guard let name, let type, let domain, let client = owner?.client else { return }
            if fromShareBrowser {
                shareNames.insert(name)
                if var known = services[name], !known.isShare {
                    known.isShare = true
                    services[name] = known
                    continuation.yield(.found(known))
                }
            }
            let instance = Instance(interface: interface, proto: proto)
            let (inserted, _) = instances[name, default: []].insert(instance)
            guard inserted else { return }
            // Resolve with the event's own protocol: another protocol can time out after 5 s.
            let resolver = avahi_service_resolver_new(
                client,
                interface,
                proto,
                name,
                type,
                domain,
                proto,
                AvahiLookupFlags(0),
                { resolver, _, _, event, name, _, _, host, address, port, txt, _, userdata in
                    guard let userdata else { return }
                    let session = Unmanaged<BrowseSession>.fromOpaque(userdata).takeUnretainedValue()
                    session.resolved(
                        event == AVAHI_RESOLVER_FOUND,
                        name: name.map { String(cString: $0) },
                        host: host.map { String(cString: $0) },
                        address: address,
                        port: Int(port),
                        txt: readStringList(txt)
                    )
                    avahi_service_resolver_free(resolver)
                },
                Unmanaged.passUnretained(self).toOpaque()
            )
            if resolver != nil { resolving += 1 }
        case AVAHI_BROWSER_REMOVE:
            guard let name else { return }
            instances[name]?.remove(Instance(interface: interface, proto: proto))
            if instances[name]?.isEmpty ?? false {
                instances.removeValue(forKey: name)
                if fromShareBrowser { shareNames.remove(name) }
                if services.removeValue(forKey: name) != nil {
                    continuation.yield(.removed(name: name))
                }
            }
        case AVAHI_BROWSER_ALL_FOR_NOW:
            browsersPending -= 1
            reportIfComplete()
        case AVAHI_BROWSER_FAILURE:
            continuation.finish(throwing: ShareError("Browsing with Avahi failed. Check that avahi-daemon is running."))
        default:
            break
        }
    }

    private func resolved(
        _ found: Bool,
        name: String?,
        host: String?,
        address: UnsafePointer<AvahiAddress>?,
        port: Int,
        txt: [String]
    ) {
        resolving -= 1
        defer { reportIfComplete() }
        guard found, let name, let host, instances[name] != nil else { return }
        var text = [CChar](repeating: 0, count: Int(AVAHI_ADDRESS_STR_MAX))
        var addressString: String?
        if let address, avahi_address_snprint(&text, text.count, address) != nil {
            addressString = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        var pairs: [String: String] = [:]
        for item in txt {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = parts.first, !key.isEmpty else { continue }
            // RFC 6763 §6.4: the first occurrence of a key wins.
            if pairs[String(key)] == nil { pairs[String(key)] = parts.count > 1 ? String(parts[1]) : "" }
        }
        var share =
            services[name]
            ?? DiscoveredShare(
                name: name,
                host: host,
                port: port,
                path: "/",
                addresses: [],
                txt: [:],
                isShare: shareNames.contains(name)
            )
        share.host = host
        share.port = port
        share.txt = pairs
        share.path = pairs["path"].flatMap(ShareBrowserPaths.safe) ?? "/"
        share.isShare = shareNames.contains(name)
        if let addressString, !share.addresses.contains(addressString) {
            share.addresses.append(addressString)
            // IPv4 first, then IPv6.
            share.addresses.sort { a, b in a.contains(":") == b.contains(":") ? a < b : !a.contains(":") }
        }
        let changed = services[name] != share
        services[name] = share
        if changed && (share.isShare || includeAll) {
            continuation.yield(.found(share))
        }
    }

    private func reportIfComplete() {
        guard !reportedAllForNow, browsersPending <= 0, resolving <= 0 else { return }
        reportedAllForNow = true
        continuation.yield(.allForNow)
    }

    /// Stops the poll thread, frees the browsers and the client. Not on the poll thread.
    func close() {
        guard let owner else { return }
        owner.withLock {
            for browser in browsers { avahi_service_browser_free(browser) }
            browsers = []
        }
        owner.close()
        self.owner = nil
    }
}
