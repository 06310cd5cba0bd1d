// swift-tools-version: 6.0
// libFuzzer targets for the parsers that meet other people's bytes: what a Voice API peer writes, what each
// service dialect is sent, NCCOs and endpoint objects, the configuration file, and the JWTs on an upgrade
// and on a control API request. A package of its own: built with `swift build --sanitize=fuzzer
// --sanitize=address` (fuzz/run.sh), which the main package's build never is.
import PackageDescription

let targets = [
    "FuzzPeerMessage": "PatchbayVoiceAPI", "FuzzVoiceAPIDialect": "PatchbayVoiceAPI", "FuzzRawDialect": "PatchbayVoiceAPI",
    "FuzzRealtimeDialect": "PatchbayVoiceAPI", "FuzzNCCO": "PatchbayVoiceAPI", "FuzzConfiguration": "PatchbayConfiguration",
    "FuzzJWT": "PatchbayAuth",
]

let package = Package(
    name: "PatchbayFuzz",
    dependencies: [.package(name: "Patchbay", path: "..")],
    targets: [
        // The endpoints the dialect fuzzers run and the driver that feeds them.
        .target(
            name: "FuzzSupport", dependencies: [.product(name: "PatchbayVoiceAPI", package: "Patchbay")],
            swiftSettings: [.swiftLanguageMode(.v6)])
    ]
        + targets.sorted { $0.key < $1.key }.map { name, product in
            .executableTarget(
                name: name,
                dependencies: [.product(name: product, package: "Patchbay"), .product(name: "PatchbayVoiceAPI", package: "Patchbay"), "FuzzSupport"],
                swiftSettings: [.swiftLanguageMode(.v6)])
        }
)
