import Foundation

/// `share start` running inside a test namespace (an Avahi test host or the browser's loopback host), with its
/// stdout and stderr in temporary files that go away with it.
final class HostedShare: Sendable {
    let process: ChildProcess
    let port: Int
    /// The address viewers use: the host's own address, or 127.0.0.1 in the loopback host.
    let address: String
    private let outputPath: String
    private let errorPath: String

    var url: String { "http://\(address):\(port)/" }

    private init(process: ChildProcess, port: Int, address: String, base: String) {
        self.process = process
        self.port = port
        self.address = address
        self.outputPath = base + ".out"
        self.errorPath = base + ".err"
    }

    /// Runs `share ARGUMENTS` in `host`. With `port` nil, waits for the first URL for `address` on stdout and
    /// takes the port from it (for `--port 0`).
    static func start(
        on host: some NamespaceHost,
        address: String,
        arguments: [String],
        port knownPort: Int? = nil,
        environment: [String: String] = [:]
    ) async throws -> HostedShare {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("share-\(UUID().uuidString)").path
        let process = try host.spawn(
            TestEnvironment.shareExecutable,
            arguments,
            environment: environment,
            standardOutputPath: base + ".out",
            standardErrorPath: base + ".err"
        )
        if let knownPort {
            return HostedShare(process: process, port: knownPort, address: address, base: base)
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, process.isRunning {
            let output = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("http://\(address):") }),
                let port = URLComponents(string: String(line))?.port
            {
                return HostedShare(process: process, port: port, address: address, base: base)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let error = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        process.stop()
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
        throw TestHostError(description: "share start did not print its URL for \(address): \(error)")
    }

    /// A test-card share on an Avahi test host, advertised under `name`.
    static func start(on host: TestHost, name: String) async throws -> HostedShare {
        try await start(
            on: host,
            address: host.address,
            arguments: ["start", "--test-card", "--port", "0", "--name", name]
        )
    }

    /// A share for the browser tests: on loopback, not advertised, logging every request. It captures `display`,
    /// or serves the test card when `display` is nil.
    static func viewer(
        in host: LoopbackHost,
        display: String?,
        interval: Double = 1,
        port: Int? = nil,
        name: String = "Viewer Test",
        extraArguments: [String] = []
    ) async throws -> HostedShare {
        try await start(
            on: host,
            address: "127.0.0.1",
            arguments: [
                "start", "--bind", "127.0.0.1", "--port", "\(port ?? 0)", "--interval", "\(interval)", "--name", name,
                "--no-advertise", "--log-level", "debug",
            ] + (display.map { ["--display", $0] } ?? ["--test-card"]) + extraArguments,
            port: port,
            environment: ["DBUS_SYSTEM_BUS_ADDRESS": TestEnvironment.noBus]
        )
    }

    var standardError: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Requests the server has seen, from its debug log (`viewer` shares log every request).
    func requestCount() -> Int {
        standardError.split(separator: "\n").filter { $0.contains("Request") && $0.contains("path=") }.count
    }

    func stop() {
        process.stop()
    }

    deinit {
        process.stop()
        try? FileManager.default.removeItem(atPath: outputPath)
        try? FileManager.default.removeItem(atPath: errorPath)
    }
}
