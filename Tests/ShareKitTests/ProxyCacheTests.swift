import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import ShareKit

/// Requests carry a Host header (`authority`): nginx, unlike share, refuses HTTP/1.1 requests without one.
///
/// share behind a real nginx `proxy_cache`, configured with the block Docs/Scaling.md documents: however many
/// viewers ask the cache, share sees about one request per interval.
@Suite(
    "Behind an nginx cache",
    .enabled(if: TestEnvironment.runsNginxSuites, "nginx and Xvfb are needed; run Scripts/test, which installs them")
)
struct ProxyCacheTests {
    @Test("1,000 viewers through nginx cause at most one upstream frame fetch per interval; 304s all the way")
    func oneFetchPerInterval() async throws {
        try await withXvfb(width: 320, height: 240) { xvfb in
            let pattern = TestPattern(width: 320, height: 240, depth: 24)
            try pattern.draw(on: xvfb.displayName)
            let share = try ShareProcess([
                "start", "--display", xvfb.displayName, "--bind", "127.0.0.1", "--port", "0", "--interval", "1",
                "--no-advertise", "--no-qr", "--log-level", "debug",
            ])
            let line = try #require(try await share.outputLines(atLeast: 1).first, "\(share.standardError)")
            let sharePort = try #require(URLComponents(string: line)?.port)
            try await withNginxCache(upstreamPort: sharePort) { port in
                let start = ContinuousClock.now
                // 50 viewers on their own keep-alive connections, 20 requests each, 150 ms apart: 1,000 requests
                // over about 3 s. Every other request revalidates with the ETag the viewer has.
                let answers = try await withThrowingTaskGroup(of: [ProxiedAnswer].self) { group in
                    for _ in 0..<50 {
                        group.addTask {
                            try await withViewer(port: port) { viewer in
                                var answers: [ProxiedAnswer] = []
                                var etag: String?
                                for index in 0..<20 {
                                    var headers = HTTPFields()
                                    if index % 2 == 1, let etag { headers[.ifNoneMatch] = etag }
                                    let response = try await viewer.execute(
                                        .init(
                                            "/screen.png",
                                            method: .get,
                                            authority: "127.0.0.1:\(port)",
                                            headers: headers
                                        )
                                    )
                                    let answer = ProxiedAnswer(response)
                                    etag = answer.etag ?? etag
                                    answers.append(answer)
                                    try await Task.sleep(for: .milliseconds(150))
                                }
                                return answers
                            }
                        }
                    }
                    return try await group.reduce(into: [ProxiedAnswer]()) { $0 += $1 }
                }
                let elapsed = ContinuousClock.now - start
                let upstream = share.requests(to: "/screen.png")
                let seconds = Int((Double(elapsed.components.seconds) + 1).rounded(.up))
                #expect(answers.count == 1000)
                #expect(upstream >= 1 && upstream <= seconds + 1, "\(upstream) upstream fetches in \(elapsed)")
                #expect(answers.allSatisfy { $0.status == .ok || $0.status == .notModified })
                let statuses = Set(answers.compactMap(\.cacheStatus))
                #expect(statuses.contains("HIT"), "\(statuses)")
                #expect(statuses.contains("REVALIDATED"), "expired frames are revalidated with share: \(statuses)")
                #expect(answers.contains { $0.status == .notModified }, "viewers' If-None-Match gets 304s from nginx")
                #expect(Set(answers.compactMap(\.etag)).count == 1, "an unchanged screen keeps its ETag")
                // The frame through the cache is the screen, pixel for pixel.
                let body = try #require(answers.first { $0.status == .ok }?.body)
                let decoded = try decodePNG(body)
                #expect(firstDifference(decoded.rgb, pattern.expected, width: 320) == nil)

                // /status is never cached: each request reaches share.
                let before = share.requests(to: "/status")
                for _ in 0..<3 {
                    let status = try await withViewer(port: port) {
                        try await $0.execute(.init("/status", method: .get, authority: "127.0.0.1:\(port)"))
                    }
                    #expect(status.status == .ok)
                    #expect(status.headers[.cacheControl] == "no-store")
                }
                #expect(share.requests(to: "/status") - before == 3)
            }
        }
    }
}

/// The cache headers, for any interval.
@Suite("Cache headers")
struct CachePolicyTests {
    @Test(
        "Shared caches keep a frame for the interval in whole seconds, at least 1",
        arguments: [(0.1, 1), (0.5, 1), (1, 1), (2.5, 2), (3600, 3600)]
    )
    func sharedFreshness(interval: Double, seconds: Int) {
        #expect(CachePolicy(locked: false, interval: interval).content == "max-age=0, s-maxage=\(seconds)")
        #expect(CachePolicy(locked: true, interval: interval).content == "private, no-cache")
        #expect(CachePolicy.never == "no-store")
    }
}

/// What a viewer got through the cache.
private struct ProxiedAnswer: Sendable {
    let status: HTTPResponse.Status
    let etag: String?
    let cacheStatus: String?
    let body: [UInt8]

    init(_ response: TestClient.Response) {
        status = response.status
        etag = response.headers[.eTag]
        cacheStatus = response.headers[HTTPField.Name("X-Cache-Status")!]
        body = response.body.map { Array(buffer: $0) } ?? []
    }
}

extension TestEnvironment {
    static let nginxPath = "/usr/sbin/nginx"

    /// Run the nginx suite when Scripts/test asks for nginx (then a missing nginx fails it), or where nginx and
    /// Xvfb are installed and we are root.
    static var runsNginxSuites: Bool {
        requires("nginx") || (geteuid() == 0 && FileManager.default.isExecutableFile(atPath: nginxPath) && runsXSuites)
    }
}

extension ShareProcess {
    /// Requests for `path` that share logged (`--log-level debug` logs every request).
    func requests(to path: String) -> Int {
        standardError.split(separator: "\n").filter { $0.contains("Request") && $0.contains("path=\(path)") }.count
    }
}

/// Runs nginx on a free loopback port with the cache configuration of Docs/Scaling.md in front of share at
/// `upstreamPort`, calls `body` with nginx's port, and stops nginx by PID.
func withNginxCache<T>(upstreamPort: Int, _ body: (Int) async throws -> T) async throws -> T {
    guard FileManager.default.isExecutableFile(atPath: TestEnvironment.nginxPath) else {
        throw EnvironmentError(
            description: "nginx is not installed, so the cache tests cannot run. Run Scripts/test, which installs "
                + "it (apt-get install nginx)."
        )
    }
    let documented = try scalingConfiguration()
    let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("nginx-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: "\(prefix)/logs", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: prefix) }
    let port = try await freeLoopbackPort()
    let server =
        documented
        .replacingOccurrences(of: "server 127.0.0.1:8000;", with: "server 127.0.0.1:\(upstreamPort);")
        .replacingOccurrences(of: "listen 8080;", with: "listen 127.0.0.1:\(port);")
        .replacingOccurrences(of: "/var/cache/nginx/share", with: "\(prefix)/cache")
    let configuration = """
        daemon off;
        worker_processes 2;
        user root;
        pid \(prefix)/nginx.pid;
        error_log \(prefix)/logs/error.log warn;
        events { worker_connections 512; }
        http {
            access_log off;
            client_body_temp_path \(prefix)/client_body;
            proxy_temp_path \(prefix)/proxy;
            fastcgi_temp_path \(prefix)/fastcgi;
            uwsgi_temp_path \(prefix)/uwsgi;
            scgi_temp_path \(prefix)/scgi;
        \(server)
        }

        """
    try configuration.write(toFile: "\(prefix)/nginx.conf", atomically: true, encoding: .utf8)
    let nginx = try ChildProcess(
        executable: TestEnvironment.nginxPath,
        arguments: ["-p", prefix, "-c", "\(prefix)/nginx.conf"],
        standardErrorPath: "\(prefix)/logs/stderr.log"
    )
    defer { nginx.stop() }
    // Ready once it accepts connections.
    let deadline = ContinuousClock.now + .seconds(10)
    while true {
        let ready = try? await withViewer(port: port) {
            try await $0.execute(.init("/status", method: .get, authority: "127.0.0.1:\(port)"))
        }
        if ready != nil { break }
        guard ContinuousClock.now < deadline, nginx.isRunning else {
            let log = (try? String(contentsOfFile: "\(prefix)/logs/stderr.log", encoding: .utf8)) ?? ""
            throw EnvironmentError(description: "nginx did not start: \(log)")
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await body(port)
}

/// The ```nginx block of Docs/Scaling.md.
private func scalingConfiguration() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let text = try String(contentsOf: root.appendingPathComponent("Docs/Scaling.md"), encoding: .utf8)
    guard let start = text.range(of: "```nginx\n"),
        let end = text.range(of: "```", range: start.upperBound..<text.endIndex)
    else { throw EnvironmentError(description: "Docs/Scaling.md has no ```nginx block") }
    return String(text[start.upperBound..<end.lowerBound])
}

/// A TCP port on 127.0.0.1 that nobody listens on now (bound to port 0, then closed).
private func freeLoopbackPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port
    try await channel.close()
    guard let port else { throw EnvironmentError(description: "Cannot find a free port on 127.0.0.1.") }
    return port
}
