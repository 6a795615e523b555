import Testing

@testable import ShareKit

/// How found shares are shown and chosen; the discovery itself is tested against real Avahi in DiscoveryTests.
@Suite("Listing and choosing shares")
struct ListingTests {
    static let room = DiscoveredShare(
        name: "Room 4",
        host: "lectern.local",
        port: 8000,
        path: "/",
        addresses: ["fe80::1", "192.168.1.20"],
        txt: ["txtvers": "1"],
        isShare: true
    )
    static let hall = DiscoveredShare(
        name: "Hall",
        host: "hall.local",
        port: 8123,
        path: "/",
        addresses: ["fd00::5"],
        txt: [:],
        isShare: true
    )

    @Test("The URL uses an IPv4 address when there is one, then a routable IPv6 one")
    func urls() {
        #expect(Self.room.url == "http://192.168.1.20:8000/")
        #expect(Self.hall.url == "http://[fd00::5]:8123/")
    }

    @Test("Shares reachable over IPv4 come first")
    func order() {
        #expect([Self.hall, Self.room].sorted(by: DiscoveredShare.displayOrder).map(\.name) == ["Room 4", "Hall"])
    }

    @Test("The table has a header and one aligned row per share")
    func table() {
        let lines = ShareListing.table([Self.room, Self.hall], showKind: false).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("NAME    URL"))
        #expect(lines[1].hasPrefix("Room 4  http://192.168.1.20:8000/"))
    }

    @Test("Choosing: one share needs no name; several need one; names match regardless of case")
    func choosing() throws {
        #expect(try ShareListing.choose(nil, from: [Self.room]).get() == Self.room)
        #expect(try ShareListing.choose("room 4", from: [Self.room, Self.hall]).get() == Self.room)
        guard case .failure(let several) = ShareListing.choose(nil, from: [Self.room, Self.hall]) else {
            Issue.record("two shares and no name must not pick one")
            return
        }
        #expect(several.description.contains("name the one to open"))
        guard case .failure(let unknown) = ShareListing.choose("Kitchen", from: [Self.room]) else {
            Issue.record("an unknown name must fail")
            return
        }
        #expect(unknown.description.contains("No share called \"Kitchen\""))
    }

    @Test("$BROWSER entries come first, split on colons, then xdg-open")
    func browserCandidates() {
        let commands = BrowserLauncher.candidates(environment: ["BROWSER": "firefox --new-window %s:chromium"])
        #expect(commands == [["firefox", "--new-window", "%s"], ["chromium"], ["xdg-open"]])
    }

    @Test("TXT records carry the path and version, and nothing else")
    func txtRecord() {
        let advertisement = ShareAdvertisement(name: "Room 4", port: 8000, interval: 1)
        #expect(advertisement.txt == ["txtvers=1", "path=/", "version=\(ShareVersion.current)", "interval=1.0"])
    }

    @Test("Names from the network cannot send escape sequences to the terminal")
    func printable() {
        let hostile = "Room\u{1B}]52;c;ZXZpbA==\u{07}\u{202E}4"
        let shown = ShareListing.printable(hostile)
        #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || $0 == "\u{202E}" })
        #expect(shown.hasPrefix("Room\u{FFFD}]52"))
        let table = ShareListing.table(
            [
                DiscoveredShare(
                    name: hostile,
                    host: "evil\u{1B}[2J.local",
                    port: 1,
                    path: "/",
                    addresses: ["10.0.0.1"],
                    txt: [:],
                    isShare: true
                )
            ],
            showKind: false
        )
        #expect(!table.contains("\u{1B}"))
    }

    @Test("Only a plain printable absolute path from TXT goes into the URL")
    func paths() {
        #expect(ShareBrowserPaths.safe("/admin") == "/admin")
        #expect(ShareBrowserPaths.safe("admin") == nil)
        #expect(ShareBrowserPaths.safe("/a b") == nil)
        #expect(ShareBrowserPaths.safe("/\u{1B}[2J") == nil)
    }
}
