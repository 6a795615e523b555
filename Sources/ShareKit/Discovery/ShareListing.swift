import Foundation

/// How `share list` and `share open` present what was found.
package enum ShareListing {
    /// Printed on stderr when nothing was found, with the usual causes.
    package static let nothingFoundAdvice = """
        No shares found on the local network.
        If a share is running, the usual causes are:
          - a firewall blocking mDNS (UDP port 5353) on this machine or the presenter's
            (for example: sudo ufw allow 5353/udp);
          - Wi-Fi client isolation (guest networks often stop devices from seeing each other);
          - the presenter being on another subnet or VLAN (mDNS does not cross routers);
          - a VPN that captures all traffic.
        Ask the presenter for the URL that 'share start' printed, and open it directly.
        """

    /// Text from the network made safe for a terminal: control and format characters (escape sequences that
    /// could fake or hide lines) become U+FFFD.
    package static func printable(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { scalar in
                    switch scalar.properties.generalCategory {
                    case .control, .format: "\u{FFFD}"
                    default: scalar
                    }
                }
            )
        )
    }

    /// A readable table: name, URL, host and access (PIN or open) (and kind, with --all).
    package static func table(_ shares: [DiscoveredShare], showKind: Bool) -> String {
        var rows = [showKind ? ["NAME", "URL", "HOST", "ACCESS", "KIND"] : ["NAME", "URL", "HOST", "ACCESS"]]
        for share in shares {
            var row = [printable(share.name), printable(share.url), printable(share.host)]
            row.append(share.isLocked ? "PIN" : "open")
            if showKind { row.append(share.isShare ? "share" : "web page") }
            rows.append(row)
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }

    /// A JSON array, one object per share.
    package static func json(_ shares: [DiscoveredShare]) -> String {
        guard !shares.isEmpty else { return "[]" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(shares) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    /// One line of `--watch --json`: an event and the share.
    package static func jsonEvent(_ event: String, _ share: DiscoveredShare?, name: String) -> String {
        struct Line: Encodable {
            let event: String
            let name: String
            let share: DiscoveredShare?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(Line(event: event, name: name, share: share)) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// `share list --watch`: prints shares as they come and go until cancelled.
    package static func watch(includeAll: Bool, json: Bool, output: @Sendable (String) -> Void) async throws {
        var seen: [String: DiscoveredShare] = [:]
        for try await event in try ShareBrowser.browse(includeAll: includeAll) {
            switch event {
            case .found(let share):
                guard seen[share.name] != share else { continue }
                let verb = seen[share.name] == nil ? "added" : "changed"
                seen[share.name] = share
                output(
                    json
                        ? jsonEvent(verb, share, name: share.name)
                        : "+ \(printable(share.name))  \(share.url)  \(printable(share.host))"
                            + (share.isLocked ? "  PIN" : "")
                )
            case .removed(let name):
                guard seen.removeValue(forKey: name) != nil else { continue }
                output(json ? jsonEvent("removed", nil, name: name) : "- \(printable(name))")
            case .allForNow:
                continue
            }
        }
    }

    /// Why `share open` could not pick a share.
    package struct ChoiceError: Error, CustomStringConvertible {
        package enum Kind: Sendable { case none, unknown, several }
        package let kind: Kind
        package let description: String
    }

    /// The share `share open NAME` means: exact name first, then ignoring case.
    package static func choose(_ name: String?, from shares: [DiscoveredShare]) -> Result<DiscoveredShare, ChoiceError>
    {
        guard !shares.isEmpty else {
            return .failure(ChoiceError(kind: .none, description: nothingFoundAdvice))
        }
        guard let name else {
            if shares.count == 1 { return .success(shares[0]) }
            return .failure(
                ChoiceError(
                    kind: .several,
                    description: "\(shares.count) shares are on the network; name the one to open, for example: "
                        + "share open \"\(printable(shares[0].name))\""
                )
            )
        }
        if let exact = shares.first(where: { $0.name == name }) { return .success(exact) }
        let matches = shares.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }
        if matches.count == 1 { return .success(matches[0]) }
        let known = shares.map { "\"\(printable($0.name))\"" }.joined(separator: ", ")
        return .failure(
            ChoiceError(
                kind: .unknown,
                description: "No share called \"\(printable(name))\" on the network. Shares found: \(known). "
                    + "Run 'share list' to see them with their URLs."
            )
        )
    }
}
