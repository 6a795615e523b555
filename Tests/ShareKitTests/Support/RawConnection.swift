import Foundation

/// A plain TCP connection on loopback, for sending bytes no HTTP client would send.
///
/// Sends never raise SIGPIPE (`MSG_NOSIGNAL`); reads wait at most `timeout` for each chunk.
///
/// @unchecked Sendable: `fd` never changes, and a test hands a connection from one task to the next, never using
/// it from two at once (the slow-client test sends from one task and reads after that task has ended).
final class RawConnection: @unchecked Sendable {
    let fd: Int32
    private var closed = false

    /// Connects to 127.0.0.1:`port`, from `source` (another 127.x.y.z address) when given, with a receive buffer
    /// of `receiveBuffer` bytes when given (a small one makes a client that does not read stall the server soon).
    init(port: Int, source: String? = nil, timeout: Duration = .seconds(5), receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EnvironmentError(description: "socket: \(String(cString: strerror(errno)))") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var seconds = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        if let source {
            var local = Self.address("\(source)", port: 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                Glibc.close(fd)
                throw EnvironmentError(description: "bind \(source): \(String(cString: strerror(errno)))")
            }
        }
        var remote = Self.address("127.0.0.1", port: port)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw EnvironmentError(description: "connect to port \(port): \(message)")
        }
    }

    private static func address(_ text: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, text, &address.sin_addr)
        return address
    }

    /// Sends all of `bytes`; false when the server closed the connection.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Lets the kernel buffer up to `bytes` of what the server sends (a client that starts reading in earnest).
    func setReceiveBuffer(_ bytes: Int32) {
        var size = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Tells the server nothing more is coming.
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads until the server closes the connection or a read times out.
    func readAll() -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received.append(contentsOf: chunk[0..<count])
        }
        return received
    }

    /// Reads until `marker` has arrived (or the connection ends or a read times out).
    func read(until marker: String) -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Reads on into `received` until `done` holds for it (or the connection ends or a read times out).
    func read(into received: inout [UInt8], until done: ([UInt8]) -> Bool) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !done(received) {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received.append(contentsOf: chunk[0..<count])
        }
    }

    /// True when the server has closed the connection: a read returns end of file (or a reset) at once.
    func isClosedByServer() -> Bool {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    deinit { close() }

    /// Sends `bytes` on a new connection, half-closes, and returns everything the server answered.
    static func exchange(port: Int, _ bytes: [UInt8], halfClose: Bool = true) throws -> String {
        let connection = try RawConnection(port: port, timeout: .seconds(3))
        defer { connection.close() }
        connection.send(bytes)
        if halfClose { connection.shutdownWrite() }
        return String(decoding: connection.readAll(), as: UTF8.self)
    }

    static func exchange(port: Int, _ text: String, halfClose: Bool = true) throws -> String {
        try exchange(port: port, Array(text.utf8), halfClose: halfClose)
    }
}

/// The status codes of every response in `text`, in order.
func statusCodes(in text: String) -> [Int] {
    text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
}

/// The resident memory of process `pid`, in KiB, from /proc.
func residentKiB(of pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
    return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
}

/// Runs blocking socket work on a thread of its own, off Swift's cooperative pool: a server built in-process
/// answers on that pool, and a test blocked reading on it could starve the very answer it waits for.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
