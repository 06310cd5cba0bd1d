// swift-tools-version: 6.0
// Patchbay: a real-time media gateway for Voice API websocket audio legs.
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// What the tests of a running gateway link against.
let serverTestDependencies: [Target.Dependency] = [
    "PatchbayServer", "PatchbayEngine", "PatchbayDSP", "PatchbayCodecs", "PatchbayBench", "PatchbayWebSocketClient",
    "PatchbayRecords", "PatchbayVoiceAPI", "PatchbayConfiguration", "PatchbayAuth", "PatchbayTestSupport",
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
    .product(name: "NIOWebSocket", package: "swift-nio"),
    .product(name: "NIOSSL", package: "swift-nio-ssl"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "Crypto", package: "swift-crypto"),
    .product(name: "JWTKit", package: "jwt-kit"),
    .product(name: "AsyncHTTPClient", package: "async-http-client"),
]

let package = Package(
    name: "Patchbay",
    products: [
        .executable(name: "patchbay", targets: ["patchbay"]),
        .library(name: "PatchbayDSP", targets: ["PatchbayDSP"]),
        .library(name: "PatchbayCodecs", targets: ["PatchbayCodecs"]),
        .library(name: "PatchbayEngine", targets: ["PatchbayEngine"]),
        .library(name: "PatchbayServer", targets: ["PatchbayServer"]),
        .library(name: "PatchbayBench", targets: ["PatchbayBench"]),
        .library(name: "PatchbayRecords", targets: ["PatchbayRecords"]),
        .library(name: "PatchbaySpeech", targets: ["PatchbaySpeech"]),
        .library(name: "PatchbayVoiceAPI", targets: ["PatchbayVoiceAPI"]),
        .library(name: "PatchbayConfiguration", targets: ["PatchbayConfiguration"]),
        .library(name: "PatchbayAuth", targets: ["PatchbayAuth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // System libraries from Debian: libspeexdsp-dev, libsndfile1-dev, libopus-dev, libespeak-ng-dev.
        .systemLibrary(
            name: "CSpeexDSP", pkgConfig: "speexdsp",
            providers: [.apt(["libspeexdsp-dev"])]),
        .systemLibrary(
            name: "CSndFile", pkgConfig: "sndfile",
            providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "COpus", pkgConfig: "opus",
            providers: [.apt(["libopus-dev"])]),
        .systemLibrary(
            name: "CEspeakNG", pkgConfig: "espeak-ng",
            providers: [.apt(["libespeak-ng-dev"])]),

        .target(
            name: "PatchbayDSP",
            dependencies: ["CSpeexDSP"],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbayCodecs",
            dependencies: ["PatchbayDSP", "CSndFile", "COpus"],
            swiftSettings: strictSettings),
        // The wire protocol as values: no NIO, no clock (messages, rates, the leg lifecycle, the endpoint
        // object, NCCOs and the service dialects). Everything that decides, testable and fuzzable alone.
        .target(
            name: "PatchbayVoiceAPI",
            swiftSettings: strictSettings),
        // The gateway's configuration: its types (their CodingKeys are the file's keys), the file, the
        // environment and validation. Values only: what reads a configuration needs nothing else.
        .target(
            name: "PatchbayConfiguration",
            dependencies: ["PatchbayVoiceAPI"],
            swiftSettings: strictSettings),
        // Tokens: the Voice API's HS256 JWTs (upgrades, webhooks, a service's vonage authorization) and the
        // control API's RS256 application JWTs (jwt-kit).
        .target(
            name: "PatchbayAuth",
            dependencies: [
                "PatchbayVoiceAPI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbayEngine",
            dependencies: [
                "PatchbayDSP", "PatchbayCodecs", "PatchbayVoiceAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbayServer",
            dependencies: [
                "PatchbayEngine", "PatchbayDSP", "PatchbayCodecs", "PatchbayWebSocketClient", "PatchbayRecords",
                "PatchbaySpeech", "PatchbayVoiceAPI", "PatchbayConfiguration", "PatchbayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbaySpeech",
            dependencies: ["CEspeakNG", "PatchbayCodecs", "PatchbayDSP"],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbayRecords",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbayWebSocketClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbayBench",
            dependencies: [
                "PatchbayDSP", "PatchbayWebSocketClient", "PatchbayVoiceAPI",
                "PatchbayCodecs",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "patchbay",
            dependencies: [
                "PatchbayDSP", "PatchbayCodecs", "PatchbayEngine", "PatchbayServer", "PatchbayBench", "PatchbayVoiceAPI",
                "PatchbayConfiguration",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings),

        // Tests: each target is one kind, and scripts/test runs the kinds as phases, one after another, so
        // they never compete: unit (no sockets, no real clock, no child processes), conformance (CPU-heavy
        // standards checks and child processes), integration (loopback sockets, the real binary, peers),
        // services (outbound legs against Python and Node.js services) and bench (patchbay bench's engine).
        .target(
            name: "PatchbayTestSupport",
            dependencies: ["PatchbayDSP"],
            path: "Tests/PatchbayTestSupport",
            swiftSettings: strictSettings),
        // What the tests of a running gateway share: the gateway on a loopback port, websocket peers, an
        // HTTP server, service processes, certificates, the control API's fixture.
        .target(
            name: "PatchbayServerTestSupport",
            dependencies: serverTestDependencies,
            path: "Tests/PatchbayServerTestSupport",
            swiftSettings: strictSettings),

        // unit
        .testTarget(
            name: "PatchbayDSPTests",
            dependencies: ["PatchbayDSP", "PatchbayTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayCodecsTests",
            dependencies: ["PatchbayCodecs", "PatchbayDSP", "PatchbayTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayEngineTests",
            dependencies: [
                "PatchbayEngine", "PatchbayDSP", "PatchbayCodecs", "PatchbayTestSupport", "PatchbayVoiceAPI",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayVoiceAPITests",
            dependencies: ["PatchbayVoiceAPI"],
            swiftSettings: strictSettings),
        // The call records' stores against SQLite and a real PostgreSQL server (started by the tests).
        .testTarget(
            name: "PatchbayStoreTests",
            dependencies: ["PatchbayRecords", "PatchbayTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbaySpeechTests",
            dependencies: ["PatchbaySpeech", "PatchbayCodecs", "PatchbayDSP", "PatchbayTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayServerUnitTests",
            dependencies: [
                "PatchbayServer", "PatchbayVoiceAPI", "PatchbayConfiguration", "PatchbayAuth", "PatchbayEngine", "PatchbayRecords",
                "PatchbayTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),

        // conformance
        .testTarget(
            name: "PatchbayConformanceTests",
            dependencies: ["PatchbayDSP", "PatchbayEngine", "PatchbayCodecs", "PatchbayTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayCLITests",
            dependencies: ["PatchbayCodecs", "PatchbayDSP", "PatchbayTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayAPIConformanceTests",
            dependencies: serverTestDependencies + ["PatchbayServerTestSupport"],
            swiftSettings: strictSettings),

        // integration
        .testTarget(
            name: "PatchbayServerTests",
            dependencies: serverTestDependencies + ["PatchbayServerTestSupport"],
            swiftSettings: strictSettings),

        // services
        .testTarget(
            name: "PatchbayServiceTests",
            dependencies: serverTestDependencies + ["PatchbayServerTestSupport"],
            swiftSettings: strictSettings),

        // bench
        .testTarget(
            name: "PatchbayBenchTests",
            dependencies: serverTestDependencies + ["PatchbayServerTestSupport"],
            swiftSettings: strictSettings),
    ]
)
