import Foundation

/// A service found on the LAN by `share list`.
package struct DiscoveredShare: Sendable, Equatable, Codable {
    /// The DNS-SD instance name, as the presenter's `--name` or host name.
    package var name: String
    /// The mDNS host name, such as `lectern.local`.
    package var host: String
    package var port: Int
    /// The page's path, from the TXT record's `path` key (RFC 6763 §6 for `_http._tcp`), default "/".
    package var path: String
    /// Every address it resolved to, IPv4 first.
    package var addresses: [String]
    /// The TXT record, as keys and values.
    package var txt: [String: String]
    /// True when it carries our subtype: a share, not a printer's or router's page.
    package var isShare: Bool
    /// True when the share is locked with a PIN (its TXT record says `auth=pin`).
    package var isLocked: Bool { txt["auth"] == "pin" }

    /// The URL to open: the first IPv4 address when there is one, else the host name.
    package var url: String {
        let target: String
        if let v4 = addresses.first(where: { !$0.contains(":") }) {
            target = v4
        } else if let v6 = addresses.first(where: { !$0.lowercased().hasPrefix("fe80") }) {
            target = "[\(v6)]"
        } else {
            target = host
        }
        let cleanPath = path.hasPrefix("/") ? path : "/" + path
        return "http://\(target):\(port)\(cleanPath)"
    }

    enum CodingKeys: String, CodingKey {
        case name, host, port, path, addresses, url, txt
        case isShare = "share"
        case isLocked = "locked"
    }

    package init(
        name: String,
        host: String,
        port: Int,
        path: String,
        addresses: [String],
        txt: [String: String],
        isShare: Bool
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.path = path
        self.addresses = addresses
        self.txt = txt
        self.isShare = isShare
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        host = try container.decode(String.self, forKey: .host)
        port = try container.decode(Int.self, forKey: .port)
        path = try container.decode(String.self, forKey: .path)
        addresses = try container.decode([String].self, forKey: .addresses)
        txt = try container.decode([String: String].self, forKey: .txt)
        isShare = try container.decode(Bool.self, forKey: .isShare)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(host, forKey: .host)
        try container.encode(port, forKey: .port)
        try container.encode(path, forKey: .path)
        try container.encode(addresses, forKey: .addresses)
        try container.encode(url, forKey: .url)
        try container.encode(txt, forKey: .txt)
        try container.encode(isShare, forKey: .isShare)
        try container.encode(isLocked, forKey: .isLocked)
    }

    /// Orders shares for display: IPv4-reachable first, then by name.
    package static func displayOrder(_ a: DiscoveredShare, _ b: DiscoveredShare) -> Bool {
        let aV4 = a.addresses.contains { !$0.contains(":") }
        let bV4 = b.addresses.contains { !$0.contains(":") }
        if aV4 != bV4 { return aV4 }
        return a.name.localizedStandardCompare(b.name) == .orderedAscending
    }
}
