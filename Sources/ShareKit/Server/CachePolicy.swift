/// Every `Cache-Control` value the share sends, decided in this one place, for browsers and for shared caches
/// (an nginx `proxy_cache` in front of a share for a big room, see Docs/Scaling.md).
///
/// - An open share's page, assets and frames are `max-age=0, s-maxage=N`. A browser treats them as stale at
///   once, so it revalidates every time (`If-None-Match`, answered with a 304 while nothing changed). A shared
///   cache may serve them for N seconds, N being the interval in whole seconds (at least 1: caches count in
///   seconds, and `s-maxage=0` means "do not store" to nginx), and then revalidates with the ETag. So however
///   many viewers sit behind one cache, it asks the share about once per interval. `no-cache` is not used for
///   them because nginx, like most shared caches, stores nothing marked `no-cache`, `no-store` or `private`.
/// - A locked share's answers are for the viewer's own browser only: `private, no-cache` keeps shared caches (a
///   proxy on the LAN, a TLS reverse proxy with caching) from storing them and handing them to someone without
///   the PIN.
/// - Everything else (`/status`, whose long poll must reach the share; errors; the PIN page; redirects; 410 once
///   the share ended) is `no-store`, so no cache ever keeps or shares it.
///
/// Caches key on the full URI including the query string (nginx's default `$scheme$proxy_host$request_uri`),
/// so variants chosen by a query parameter stay apart.
package struct CachePolicy: Sendable {
    /// True when the share is locked with a PIN.
    package let locked: Bool
    /// The page, its assets and frames: always revalidated by browsers (ETags make that a 304 when nothing
    /// changed); shared by caches for one interval unless the share is locked.
    package let content: String

    /// Answers that must never be stored anywhere: `/status`, errors, the PIN page, redirects.
    package static let never = "no-store"

    /// - Parameters:
    ///   - locked: the share is locked with a PIN.
    ///   - interval: the share's seconds between updates.
    package init(locked: Bool, interval: Double) {
        self.locked = locked
        if locked {
            content = "private, no-cache"
        } else {
            content = "max-age=0, s-maxage=\(max(1, Int(interval.rounded(.down))))"
        }
    }
}
