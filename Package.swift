// swift-tools-version:6.1
import PackageDescription

/// One set of Swift settings for every Swift target: Swift 6 language mode plus the upcoming features the house
/// style asks for.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "share",
    products: [
        .executable(name: "share", targets: ["share"]),
        .library(name: "ShareKit", targets: ["ShareKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
    ],
    targets: [
        // MARK: C libraries, one system-library target each
        .systemLibrary(
            name: "CX11",
            pkgConfig: "x11 xext xfixes xrandr",
            providers: [.apt(["libx11-dev", "libxext-dev", "libxfixes-dev", "libxrandr-dev"])]
        ),
        .systemLibrary(
            name: "CAvahi",
            pkgConfig: "avahi-client",
            providers: [.apt(["libavahi-client-dev"])]
        ),
        .systemLibrary(
            name: "CQRencode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
        ),
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        // libpng's full API reports errors with setjmp/longjmp; this small C target keeps every setjmp on the C
        // side so that no longjmp ever crosses a Swift frame.
        .target(
            name: "CPNGWriter",
            dependencies: ["CPNG"],
            linkerSettings: [.linkedLibrary("z")]
        ),

        // MARK: The library that holds all behaviour
        .target(
            name: "ShareKit",
            dependencies: [
                "CX11",
                "CAvahi",
                "CQRencode",
                "CPNGWriter",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The thin executable
        .executableTarget(
            name: "share",
            dependencies: [
                "ShareKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The benchmark (Scripts/bench builds and runs it in release)
        .executableTarget(
            name: "share-bench",
            dependencies: ["ShareKit", "CX11", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .testTarget(
            name: "ShareKitTests",
            dependencies: [
                "ShareKit",
                "CX11",
                "CPNG",
                "share",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
