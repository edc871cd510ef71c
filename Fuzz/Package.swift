// swift-tools-version: 6.1
import PackageDescription

// libFuzzer target for the DNSWire parser. Separate package so the fuzzer flags never reach
// the main build. Build and run with Scripts/fuzz.sh, which passes
// `-sanitize=fuzzer,address` to every module (so DNSWire itself is instrumented).
let package = Package(
    name: "DNSWireFuzz",
    dependencies: [
        .package(name: "FQDNPolicy", path: ".."),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver.
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "DNSWireFuzz",
            dependencies: ["CLibFuzzer", .product(name: "DNSWire", package: "FQDNPolicy")]
        ),
    ]
)
