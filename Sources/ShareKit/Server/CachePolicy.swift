/// Every `Cache-Control` value the share sends, decided in this one place.
///
/// A locked share's answers are for the viewer's own browser only: `private` keeps shared caches (a proxy on
/// the LAN, a TLS reverse proxy with caching) from storing them and handing them to someone without the PIN.
package struct CachePolicy: Sendable {
    /// True when the share is locked with a PIN.
    package let locked: Bool

    package init(locked: Bool) {
        self.locked = locked
    }

    /// The page, its assets and frames: always revalidated (ETags make that a 304 when nothing changed).
    package var content: String { locked ? "private, no-cache" : "no-cache" }

    /// Answers that must never be stored anywhere: `/status`, errors, the PIN page, redirects.
    package static let never = "no-store"
}
