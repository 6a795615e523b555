internal import CAvahi
package import Logging
import Synchronization

/// What a share advertises on the LAN: a DNS-SD `_http._tcp` service with a subtype of our own.
package struct ShareAdvertisement: Sendable, Equatable {
    /// The service type every web browser-facing tool uses.
    package static let serviceType = "_http._tcp"
    /// Our subtype, so that `share list` can tell shares from printers' and routers' web pages.
    package static let subtype = "_share._sub._http._tcp"

    /// The DNS-SD instance name: the host name unless `--name` says otherwise.
    package var name: String
    package var port: Int
    /// TXT record entries (RFC 6763), `key=value`. Multicast to every host: never a secret.
    package var txt: [String]

    package init(name: String, port: Int, interval: Double, locked: Bool = false) {
        self.name = name
        self.port = port
        self.txt = [
            "txtvers=1",
            "path=/",
            "version=\(ShareVersion.current)",
            "interval=\(interval)",
        ]
        // Only that a PIN is needed, so `share list` can say so; the PIN itself is never multicast.
        if locked { txt.append("auth=pin") }
    }
}

/// Keeps a share advertised through the system's Avahi daemon for as long as it runs.
///
/// Connects with `AVAHI_CLIENT_NO_FAIL`, so a daemon that is not running yet, or restarts, is waited for and
/// the service is registered again when it is back. A name taken by another host is replaced by Avahi's
/// alternative ("Name #2") and reported. `withdraw()` removes the record at once, so peers see it vanish.
package final class ShareAdvertiser: @unchecked Sendable {
    // @unchecked Sendable: `group`, `currentName` and `warnedUnreachable` are only touched on Avahi's poll
    // thread (in callbacks) or under the poll lock (`owner.withLock`); `owner` is set once in `start()` before
    // any other thread can see this object, and only read after.

    private var advertisement: ShareAdvertisement
    private let logger: Logger
    private var owner: AvahiClientOwner?
    private var group: OpaquePointer?
    /// Set by `withdraw()` under the poll lock, so that no callback registers again afterwards.
    private var withdrawn = false
    /// IPv4 only, unless the server listens on IPv6 too: never advertise an address nobody answers on.
    private let proto: Int32
    private let status = Mutex<Status>(.starting)

    /// Where the advertisement stands, for `share start`'s messages and the tests.
    package enum Status: Sendable, Equatable {
        case starting
        /// The daemon cannot be reached; the share is served but not advertised.
        case unreachable(String)
        case registering
        /// Visible on the LAN under this name.
        case established(name: String)
        case failed(String)
        case withdrawn
    }

    package init(_ advertisement: ShareAdvertisement, logger: Logger, ipv6: Bool = false) {
        self.advertisement = advertisement
        self.logger = logger
        self.proto = ipv6 ? share_avahi_proto_unspec() : share_avahi_proto_inet()
    }

    /// The current status.
    package var currentStatus: Status { status.withLock { $0 } }

    /// The name the service is advertised under now (it changes after a collision).
    package var name: String { owner?.withLock { advertisement.name } ?? advertisement.name }

    /// Connects to Avahi and registers the service as soon as the daemon is running.
    ///
    /// Never throws for a missing daemon: the share keeps serving and one warning says how to become
    /// discoverable. Returns once the attempt has started; `currentStatus` tells how it goes.
    package func start(serverURLs: [String]) {
        do {
            owner = try AvahiClientOwner(reconnects: true) { [unowned self] owner, event in
                self.handle(event, owner: owner, serverURLs: serverURLs)
            }
        } catch {
            // No system bus at all: avahi_client_new fails even with NO_FAIL, and nothing will reconnect.
            let reason = (error as? AvahiError)?.reason ?? "\(error)"
            warnUnreachable(reason, serverURLs: serverURLs, willRetry: false)
        }
    }

    /// Removes the service from the network now (peers get a goodbye) and disconnects. Idempotent.
    package func withdraw() {
        guard let owner else { return }
        owner.withLock {
            withdrawn = true
            if let group {
                avahi_entry_group_free(group)
                self.group = nil
            }
        }
        owner.close()
        self.owner = nil
        status.withLock { $0 = .withdrawn }
    }

    deinit {
        withdraw()
    }

    // MARK: On the poll thread

    private func handle(_ event: AvahiClientOwner.Event, owner: AvahiClientOwner, serverURLs: [String]) {
        switch event {
        case .running:
            guard !withdrawn else { return }
            if group == nil {
                register(client: owner.client)
            } else if let group, avahi_entry_group_is_empty(group) != 0 {
                // Reset after our host name was re-registered (S_REGISTERING or S_COLLISION): add it again.
                addService(to: group)
            }
        case .registering:
            if let group { avahi_entry_group_reset(group) }
            status.withLock { $0 = .registering }
        case .connecting:
            dropGroup()
            warnUnreachable("Daemon not running", serverURLs: serverURLs, willRetry: true)
        case .failed(_, let message, let disconnected):
            dropGroup()
            if disconnected {
                logger.warning("The Avahi daemon went away; the share will be advertised again when it is back.")
                status.withLock { $0 = .unreachable(message) }
            } else {
                logger.error(
                    "Avahi failed; the share is still served but not advertised.",
                    metadata: ["error": "\(message)"]
                )
                status.withLock { $0 = .failed(message) }
            }
        }
    }

    private func dropGroup() {
        if let group {
            avahi_entry_group_free(group)
            self.group = nil
        }
    }

    private func warnUnreachable(_ reason: String, serverURLs: [String], willRetry: Bool) {
        let first = status.withLock { state -> Bool in
            defer { state = .unreachable(reason) }
            if case .unreachable = state { return false }
            if case .starting = state { return true }
            return false
        }
        guard first else { return }
        let url = serverURLs.first ?? "its URLs"
        let message =
            "Cannot reach the Avahi daemon (\(reason)). The share is still served at \(url), but 'share list' "
            + "will not find it. Start avahi-daemon ('sudo systemctl start avahi-daemon') to be discoverable"
            + (willRetry ? "; share advertises as soon as it runs." : ", then restart share.")
        logger.warning("\(message)")
    }

    private func register(client: OpaquePointer?) {
        guard let client else { return }
        let context = Unmanaged.passUnretained(self).toOpaque()
        // The group's callback gets this advertiser back through `userdata`; `withdraw()` frees the group
        // (ending its callbacks) before the advertiser goes away.
        group = avahi_entry_group_new(
            client,
            { group, state, userdata in
                guard let userdata, let group else { return }
                let advertiser = Unmanaged<ShareAdvertiser>.fromOpaque(userdata).takeUnretainedValue()
                advertiser.groupChanged(group, state: state)
            },
            context
        )
        guard let group else {
            let message = String(cString: avahi_strerror(avahi_client_errno(client)))
            status.withLock { $0 = .failed(message) }
            logger.error("Cannot advertise the share with Avahi.", metadata: ["error": "\(message)"])
            return
        }
        addService(to: group)
    }

    private func addService(to group: OpaquePointer) {
        let txt = makeStringList(advertisement.txt)
        defer { avahi_string_list_free(txt) }
        var result = avahi_entry_group_add_service_strlst(
            group,
            share_avahi_if_unspec(),
            proto,
            AvahiPublishFlags(0),
            advertisement.name,
            ShareAdvertisement.serviceType,
            nil,
            nil,
            UInt16(advertisement.port),
            txt
        )
        if result == AVAHI_ERR_COLLISION {
            // Another service of ours (or this host) has the name: take Avahi's alternative and try again.
            rename()
            avahi_entry_group_reset(group)
            addService(to: group)
            return
        }
        if result == 0 {
            result = avahi_entry_group_add_service_subtype(
                group,
                share_avahi_if_unspec(),
                proto,
                AvahiPublishFlags(0),
                advertisement.name,
                ShareAdvertisement.serviceType,
                nil,
                ShareAdvertisement.subtype
            )
        }
        if result == 0 {
            result = avahi_entry_group_commit(group)
        }
        if result != 0 {
            let message = String(cString: avahi_strerror(result))
            status.withLock { $0 = .failed(message) }
            logger.error("Cannot advertise the share with Avahi.", metadata: ["error": "\(message)"])
        } else {
            status.withLock { $0 = .registering }
        }
    }

    private func groupChanged(_ group: OpaquePointer, state: AvahiEntryGroupState) {
        switch state {
        case AVAHI_ENTRY_GROUP_ESTABLISHED:
            let name = advertisement.name
            status.withLock { $0 = .established(name: name) }
            logger.info(
                "Advertised on the local network.",
                metadata: ["name": "\(name)", "type": "\(ShareAdvertisement.serviceType)"]
            )
        case AVAHI_ENTRY_GROUP_COLLISION:
            let old = advertisement.name
            rename()
            logger.notice(
                "Another share on the network is called '\(old)'; this one is now advertised as '\(advertisement.name)'."
            )
            avahi_entry_group_reset(group)
            addService(to: group)
        case AVAHI_ENTRY_GROUP_FAILURE:
            let client = avahi_entry_group_get_client(group)
            let message = String(cString: avahi_strerror(avahi_client_errno(client)))
            status.withLock { $0 = .failed(message) }
            logger.error("Avahi could not advertise the share.", metadata: ["error": "\(message)"])
        default:
            break
        }
    }

    private func rename() {
        guard let alternative = avahi_alternative_service_name(advertisement.name) else { return }
        advertisement.name = String(cString: alternative)
        avahi_free(alternative)
    }
}
