// swift-tools-version: 6.1
// Patchbay benchmarks: a separate package so the main package never depends on package-benchmark.
import PackageDescription

// The Patchbay package under test: the enclosing checkout by default; PATCHBAY_PACKAGE_PATH points at another
// (e.g. a `git archive` snapshot of one commit, so a benchmark run is not disturbed by edits in progress).
let patchbayPath = Context.environment["PATCHBAY_PACKAGE_PATH"] ?? ".."

let package = Package(
    name: "PatchbayBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Patchbay", path: patchbayPath),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Only for the Metrics benchmark: what swift-metrics with swift-prometheus would cost per update,
        // against the engine's own counters (the gateway itself does not depend on them).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Fixture and per-step/pipeline state shared by the benchmarks and the driver.
        .target(
            name: "PatchbayBenchSupport",
            dependencies: [
                .product(name: "PatchbayDSP", package: "Patchbay"),
                .product(name: "PatchbayCodecs", package: "Patchbay"),
                .product(name: "PatchbayEngine", package: "Patchbay"),
            ]
        ),
        // A plain executable timing the same code with ContinuousClock, for the Swift/C ratio and callgrind.
        .executableTarget(
            name: "pipeline-driver",
            dependencies: ["PatchbayBenchSupport", .product(name: "PatchbayDSP", package: "Patchbay")]
        ),
        // The I/O baseline for `patchbay bench`: a bare SwiftNIO websocket echo.
        .executableTarget(
            name: "bare-echo",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "DSP",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "PatchbayBenchSupport",
                .product(name: "PatchbayDSP", package: "Patchbay"),
            ],
            path: "Benchmarks/DSP",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Engine",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "PatchbayBenchSupport",
                .product(name: "PatchbayEngine", package: "Patchbay"),
            ],
            path: "Benchmarks/Engine",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MetricUpdates",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PatchbayEngine", package: "Patchbay"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Benchmarks/MetricUpdates",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
