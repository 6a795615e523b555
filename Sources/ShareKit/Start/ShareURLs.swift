import Glibc

/// Where a running share can be reached, in the order `share start` prints them.
package enum ShareURLs {
    /// Every non-loopback IPv4 address of this machine's interfaces that are up, as strings.
    package static func localIPv4Addresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            let flags = Int32(bitPattern: current.pointee.ifa_flags)
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0
            else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                var raw = inet.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)) != nil
            }
            if ok {
                let string = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(string) { addresses.append(string) }
            }
        }
        return addresses
    }

    /// This machine's host name, without any domain.
    package static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.split(separator: ".").first.map(String.init) ?? "localhost"
    }

    /// The URLs to print for a server listening on `bindAddress`:`port`.
    ///
    /// Listening on every interface: each non-loopback IPv4 address as an IP literal, then HOST.local.
    /// Listening on one address: that address only (plus HOST.local when it is not loopback).
    package static func urls(bindAddress: String, port: Int, hostName: String, interfaceAddresses: [String]) -> [String]
    {
        func url(_ host: String) -> String {
            let literal = host.contains(":") ? "[\(host)]" : host
            return "http://\(literal):\(port)/"
        }
        switch bindAddress {
        case "0.0.0.0", "::":
            return interfaceAddresses.map(url) + [url("\(hostName).local")]
        case _ where isLoopback(bindAddress):
            return [url(bindAddress)]
        default:
            return [url(bindAddress), url("\(hostName).local")]
        }
    }

    /// True for addresses only this machine can reach: nothing to advertise on the LAN.
    package static func isLoopback(_ address: String) -> Bool {
        address == "::1" || address == "localhost" || address.hasPrefix("127.")
    }
}
