// swift-tools-version: 6.0
// Patchbay: a real-time media gateway for Voice API websocket audio legs.
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Patchbay",
    products: [
        .executable(name: "patchbay", targets: ["patchbay"]),
        .library(name: "PatchbayDSP", targets: ["PatchbayDSP"]),
        .library(name: "PatchbayCodecs", targets: ["PatchbayCodecs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0")
    ],
    targets: [
        // System libraries from Debian: libspeexdsp-dev, libsndfile1-dev, libopus-dev.
        .systemLibrary(
            name: "CSpeexDSP", pkgConfig: "speexdsp",
            providers: [.apt(["libspeexdsp-dev"])]),
        .systemLibrary(
            name: "CSndFile", pkgConfig: "sndfile",
            providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "COpus", pkgConfig: "opus",
            providers: [.apt(["libopus-dev"])]),

        .target(
            name: "PatchbayDSP",
            dependencies: ["CSpeexDSP"],
            swiftSettings: strictSettings),
        .target(
            name: "PatchbayCodecs",
            dependencies: ["PatchbayDSP", "CSndFile", "COpus"],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "patchbay",
            dependencies: [
                "PatchbayDSP", "PatchbayCodecs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings),

        .testTarget(
            name: "PatchbayDSPTests",
            dependencies: ["PatchbayDSP"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayCodecsTests",
            dependencies: ["PatchbayCodecs", "PatchbayDSP"],
            resources: [],
            swiftSettings: strictSettings),
        .testTarget(
            name: "PatchbayCLITests",
            dependencies: ["PatchbayCodecs", "PatchbayDSP"],
            swiftSettings: strictSettings),
    ]
)
