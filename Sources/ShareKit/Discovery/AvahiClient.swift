internal import CAvahi
import Foundation

/// Owns one `AvahiThreadedPoll` and the `AvahiClient` that runs on it.
///
/// Avahi calls back on the poll's own thread with the poll lock held; Swift code that calls into Avahi from any
/// other thread goes through `withLock`. Every Avahi object made from this client (entry groups, browsers,
/// resolvers) is used only in those two places, so all of them are serialised by the one poll lock.
final class AvahiClientOwner: @unchecked Sendable {
    // @unchecked Sendable: `client` and everything reachable from it are only touched on the poll thread
    // (inside callbacks, which hold the poll lock) or inside `withLock`; `poll` is immutable and thread-safe.

    /// The client's states, as Swift sees them.
    enum Event {
        /// The daemon is up and the client may register or browse.
        case running
        /// Our host name is being registered or collided: entry groups must be reset.
        case registering
        /// The daemon is not (yet) reachable; with `reconnects`, the client waits for it.
        case connecting
        /// The connection failed; `disconnected` when the daemon went away.
        case failed(code: Int32, message: String, disconnected: Bool)
    }

    private let poll: OpaquePointer
    private(set) var client: OpaquePointer?
    private let reconnects: Bool
    private let onEvent: (AvahiClientOwner, Event) -> Void
    private var started = false

    /// Creates the poll and the client and starts the poll thread.
    ///
    /// - Parameters:
    ///   - reconnects: pass `AVAHI_CLIENT_NO_FAIL`: wait for a daemon that is not running yet, and make a new
    ///     client when the daemon restarts. Without it, a missing daemon throws.
    ///   - onEvent: called on the poll thread, with the lock held, for every state change.
    init(reconnects: Bool, onEvent: @escaping (AvahiClientOwner, Event) -> Void) throws {
        guard let poll = avahi_threaded_poll_new() else {
            throw ShareError("Cannot start Avahi's event loop (out of memory).")
        }
        self.poll = poll
        self.reconnects = reconnects
        self.onEvent = onEvent
        // The poll thread is not running yet, so the client can be made without the lock; its first callback
        // may fire inside avahi_client_new.
        let error = connect()
        guard client != nil else {
            avahi_threaded_poll_free(poll)
            throw AvahiError(code: error)
        }
        guard avahi_threaded_poll_start(poll) == 0 else {
            avahi_client_free(client)
            avahi_threaded_poll_free(poll)
            throw ShareError("Cannot start Avahi's event loop thread.")
        }
        started = true
    }

    /// Makes a new client; returns the error code when that fails.
    private func connect() -> Int32 {
        var error: Int32 = 0
        let flags = reconnects ? AVAHI_CLIENT_NO_FAIL : AvahiClientFlags(0)
        // The callback gets this object back through `userdata`. It stays alive because whoever owns this
        // object calls `close()` (which frees the client, ending all callbacks) before releasing it.
        let context = Unmanaged.passUnretained(self).toOpaque()
        let made = avahi_client_new(
            avahi_threaded_poll_get(poll),
            flags,
            { client, state, userdata in
                guard let userdata, let client else { return }
                let owner = Unmanaged<AvahiClientOwner>.fromOpaque(userdata).takeUnretainedValue()
                owner.handle(client: client, state: state)
            },
            context,
            &error
        )
        if made != nil { client = made }
        return error
    }

    private func handle(client: OpaquePointer, state: AvahiClientState) {
        if self.client == nil { self.client = client }
        switch state {
        case AVAHI_CLIENT_S_RUNNING:
            onEvent(self, .running)
        case AVAHI_CLIENT_S_REGISTERING, AVAHI_CLIENT_S_COLLISION:
            onEvent(self, .registering)
        case AVAHI_CLIENT_CONNECTING:
            onEvent(self, .connecting)
        default:
            let code = avahi_client_errno(client)
            let disconnected = code == AVAHI_ERR_DISCONNECTED
            onEvent(
                self,
                .failed(code: code, message: String(cString: avahi_strerror(code)), disconnected: disconnected)
            )
            if disconnected && reconnects {
                // The daemon went away. Avahi's rule: free the client (the owner already freed its groups and
                // browsers in onEvent) and make a new one that waits for the daemon to come back.
                avahi_client_free(client)
                self.client = nil
                _ = connect()
            }
        }
    }

    /// Runs `body` with the poll lock held, from any thread but the poll thread.
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        avahi_threaded_poll_lock(poll)
        defer { avahi_threaded_poll_unlock(poll) }
        return try body()
    }

    /// Stops the poll thread and frees the client. Call from any thread but the poll thread. Idempotent.
    func close() {
        guard started else { return }
        started = false
        avahi_threaded_poll_stop(poll)
        if let client { avahi_client_free(client) }
        client = nil
        avahi_threaded_poll_free(poll)
    }

    deinit {
        close()
    }
}

/// An Avahi error code with its message and what to do.
struct AvahiError: Error, CustomStringConvertible {
    let code: Int32

    var isNoDaemon: Bool { code == AVAHI_ERR_NO_DAEMON }

    /// Avahi's own short message, such as "Daemon not running".
    var reason: String { String(cString: avahi_strerror(code)) }

    var description: String {
        let reason = String(cString: avahi_strerror(code))
        if isNoDaemon {
            return "Cannot reach the Avahi daemon (\(reason)). Start it with 'sudo systemctl start avahi-daemon' "
                + "(Debian and Ubuntu: 'sudo apt-get install avahi-daemon'), then try again."
        }
        return "Avahi failed (\(reason))."
    }
}

/// Builds an `AvahiStringList` from `key=value` strings; the caller frees it with `avahi_string_list_free`.
func makeStringList(_ items: [String]) -> UnsafeMutablePointer<AvahiStringList>? {
    var list: UnsafeMutablePointer<AvahiStringList>?
    for item in items.reversed() {
        list = avahi_string_list_add(list, item)
    }
    return list
}

/// Reads an `AvahiStringList` into `key=value` strings, in order.
func readStringList(_ list: UnsafeMutablePointer<AvahiStringList>?) -> [String] {
    var items: [String] = []
    var node = list
    while let current = node {
        let size = Int(avahi_string_list_get_size(current))
        if let text = avahi_string_list_get_text(current) {
            items.append(String(decoding: UnsafeBufferPointer(start: text, count: size), as: UTF8.self))
        }
        node = avahi_string_list_get_next(current)
    }
    return items
}
