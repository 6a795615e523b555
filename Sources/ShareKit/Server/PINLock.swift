import Foundation
import Synchronization

/// The PIN that locks a share, the sessions it has opened, and the limit on wrong guesses.
///
/// A viewer who gives the right PIN gets a session: a random token in an `HttpOnly; SameSite=Strict` cookie whose
/// name is random too, so a cookie from an earlier run, or from another share on the same host, never counts.
/// Tokens live in memory only: they are good for this run of `share start` and no longer.
package final class PINLock: Sendable {
    /// The PIN viewers enter.
    package let pin: String
    /// The session cookie's name, new for every run.
    package let cookieName: String
    private let pinBytes: [UInt8]
    private let sessions = Mutex(Sessions())
    private let guesses: Mutex<GuessTable>

    /// At most this many sessions are remembered; beyond it the oldest is forgotten (that viewer enters the PIN
    /// again).
    static let maximumSessions = 4096

    package init(pin: String, guessLimit: GuessLimit = .standard) {
        self.pin = pin
        self.pinBytes = Array(pin.utf8)
        self.cookieName = "share_" + Self.randomHex(bytes: 4)
        self.guesses = Mutex(GuessTable(limit: guessLimit))
    }

    /// A PIN of `digits` random decimal digits, from the system's secure random source.
    package static func randomPIN(digits: Int = 6) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<digits).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) })
    }

    /// `bytes` random bytes from the system's secure random source, as lowercase hex.
    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// True when `candidate` is the PIN. The time taken depends only on the PIN's length, never on how much of
    /// the candidate matches.
    package func matches(_ candidate: String) -> Bool {
        Self.constantTimeEquals(Array(candidate.utf8), pinBytes)
    }

    /// Compares every byte of `secret` whatever the candidate holds; only the candidate's own length (which its
    /// sender knows) can change the time.
    static func constantTimeEquals(_ candidate: [UInt8], _ secret: [UInt8]) -> Bool {
        var difference = UInt64(truncatingIfNeeded: candidate.count ^ secret.count)
        for index in secret.indices {
            let byte = index < candidate.count ? candidate[index] : 0
            difference |= UInt64(byte ^ secret[index])
        }
        return difference == 0
    }

    /// What became of a PIN entered by a viewer.
    package enum Attempt: Sendable, Equatable {
        /// Right: the value for a `Set-Cookie` header that opens a session.
        case accepted(setCookie: String)
        /// Wrong; this many more wrong guesses are allowed before a wait.
        case wrong(remaining: Int)
        /// Too many wrong guesses from this address: try again in this many seconds. The PIN was not checked.
        case limited(retryAfter: Int)
    }

    /// Checks `candidate`, sent from `address`, under the guess limit.
    package func attempt(_ candidate: String, from address: String, now: ContinuousClock.Instant = .now) -> Attempt {
        let key = GuessTable.key(for: address)
        if let wait = guesses.withLock({ $0.lockedFor(key, now: now) }) {
            return .limited(retryAfter: wait)
        }
        // Spaces are never part of a PIN: "12 34" from a phone keyboard is 1234.
        let cleaned = candidate.filter { !$0.isWhitespace }
        guard matches(cleaned) else {
            return guesses.withLock { $0.recordFailure(key, now: now) }
        }
        guesses.withLock { $0.forget(key) }
        let token = Self.randomHex(bytes: 32)
        sessions.withLock { $0.insert(token) }
        return .accepted(setCookie: "\(cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict")
    }

    /// True when the `Cookie` header holds a session this lock opened.
    ///
    /// Tokens are looked up in a hashed set: Swift's `Hasher` is seeded at random per process, so the time a
    /// lookup takes says nothing about how close a guessed token is.
    package func hasSession(cookieHeader: String?) -> Bool {
        guard let cookieHeader else { return false }
        for pair in cookieHeader.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName else { continue }
            let token = parts[1].trimmingCharacters(in: .whitespaces)
            if sessions.withLock({ $0.contains(token) }) { return true }
        }
        return false
    }

    /// The sessions opened so far, oldest first for eviction.
    private struct Sessions {
        var tokens: Set<String> = []
        var order: [String] = []

        mutating func insert(_ token: String) {
            if tokens.count >= PINLock.maximumSessions, !order.isEmpty {
                tokens.remove(order.removeFirst())
            }
            tokens.insert(token)
            order.append(token)
        }

        func contains(_ token: String) -> Bool { tokens.contains(token) }
    }
}

/// How many wrong PINs an address may send, and how long it then waits.
package struct GuessLimit: Sendable {
    /// Wrong guesses allowed within `window`...
    package var attempts = 5
    package var window: Duration = .seconds(60)
    /// ...after which the address waits this long; each further lockout doubles the wait, up to `longestWait`.
    package var firstWait: Duration = .seconds(60)
    package var longestWait: Duration = .seconds(3600)

    package init() {}

    /// 5 wrong guesses a minute, then 1, 2, 4, ... minutes of waiting, at most an hour.
    package static let standard = GuessLimit()
}

/// Wrong guesses per client address. IPv6 addresses count per /64, since one host can use a whole /64.
private struct GuessTable {
    struct Record {
        var failures: [ContinuousClock.Instant] = []
        var lockedUntil: ContinuousClock.Instant?
        var lockouts = 0
        var lastSeen: ContinuousClock.Instant
    }

    let limit: GuessLimit
    var records: [String: Record] = [:]
    /// Addresses remembered at most; beyond it the longest-quiet records are dropped.
    static let maximumRecords = 10_000

    init(limit: GuessLimit) { self.limit = limit }

    static func key(for address: String) -> String {
        guard address.contains(":") else { return address }
        let groups = address.split(separator: ":", omittingEmptySubsequences: false)
        guard !address.contains("::") || groups.prefix(4).allSatisfy({ !$0.isEmpty }) else {
            return address  // a short form whose /64 is not simply its first four groups: keep it whole
        }
        return groups.prefix(4).joined(separator: ":") + "::/64"
    }

    /// Seconds to wait, when the address is locked out now.
    func lockedFor(_ key: String, now: ContinuousClock.Instant) -> Int? {
        guard let until = records[key]?.lockedUntil, now < until else { return nil }
        return Self.seconds(until - now)
    }

    mutating func recordFailure(_ key: String, now: ContinuousClock.Instant) -> PINLock.Attempt {
        if records[key] == nil { makeRoom(now: now) }
        var record = records[key] ?? Record(lastSeen: now)
        record.lastSeen = now
        record.failures = record.failures.filter { now - $0 < limit.window } + [now]
        defer { records[key] = record }
        guard record.failures.count >= limit.attempts else {
            return .wrong(remaining: limit.attempts - record.failures.count)
        }
        record.lockouts += 1
        record.failures = []
        let doubling = min(record.lockouts - 1, 20)
        let wait = min(limit.firstWait * (1 << doubling), limit.longestWait)
        record.lockedUntil = now + wait
        return .limited(retryAfter: Self.seconds(wait))
    }

    mutating func forget(_ key: String) {
        records[key] = nil
    }

    private mutating func makeRoom(now: ContinuousClock.Instant) {
        guard records.count >= Self.maximumRecords else { return }
        // Drop records that hold no lockout first, then the longest quiet.
        records = records.filter { $0.value.lockedUntil.map { now < $0 } ?? false }
        if records.count >= Self.maximumRecords {
            let quietest = records.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(records.count / 2)
            for (key, _) in quietest { records[key] = nil }
        }
    }

    private static func seconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) + (attoseconds > 0 ? 1 : 0)
    }
}
