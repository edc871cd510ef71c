// swift-tools-version: 6.1
import PackageDescription

// Layers depend downward only (Documentation/Architecture.md):
//   fqdnctl, Examples -> PolicyEngine -> DomainTrie, DNSWire, BPFMapBindings -> CLibbpf
// and every layer that needs a limit or a map layout imports CFQDNShared, the Swift view of
// BPFPrograms/include/fqdn_shared.h (the one definition shared with the BPF C programs).
let package = Package(
    name: "FQDNPolicy",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DNSWire", targets: ["DNSWire"]),
        .library(name: "PolicyModel", targets: ["PolicyModel"]),
        .library(name: "PolicyEngine", targets: ["PolicyEngine"]),
        .library(name: "DomainTrie", targets: ["DomainTrie"]),
        .executable(name: "fqdnctl", targets: ["fqdnctl"]),
        .library(name: "BPFMapBindings", targets: ["BPFMapBindings"]),
        .library(name: "FQDNPolicyTesting", targets: ["FQDNPolicyTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // The shared C header (limits, reason codes, map layouts). Header only, plus the one
        // .c file SwiftPM requires.
        .target(name: "CFQDNShared"),

        // Reference DNS codec, pure Swift: the kernel parser is tested against it.
        .target(name: "DNSWire", dependencies: ["CFQDNShared"]),
        // Depends on fqdnctl so the CLI test finds the built binary next to the test bundle.
        .testTarget(name: "DNSWireTests", dependencies: ["DNSWire", "CFQDNShared", "FQDNTestSupport", "fqdnctl"]),
        // Case generators and fixtures shared by the parser and trie tests (pure Swift).
        .target(name: "FQDNTestSupport", dependencies: ["DomainTrie"]),

        // FQDN patterns (Cilium toFQDNs) compiled to the kernel's trie map entries; pure Swift.
        .target(name: "DomainTrie", dependencies: ["CFQDNShared"]),
        .testTarget(name: "DomainTrieTests", dependencies: ["DomainTrie", "CFQDNShared", "FQDNTestSupport"]),

        // The policy model, pure Swift: CiliumNetworkPolicy documents (YAML), policies,
        // endpoints, and their compilation into what the kernel maps hold. Builds without
        // libbpf or the BPF plugin.
        .target(
            name: "PolicyModel",
            dependencies: ["CFQDNShared", "DomainTrie", .product(name: "Yams", package: "Yams")]
        ),
        // The agent: the datapath loaded, pinned and attached, endpoints, policy versions,
        // events, state readers. Re-exports PolicyModel.
        .target(
            name: "PolicyEngine",
            dependencies: [
                "PolicyModel", "CFQDNShared", "DomainTrie", "BPFMapBindings", "BPFObjects", "CSysShims",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(name: "PolicyModelTests", dependencies: ["PolicyModel", "DomainTrie", "CFQDNShared", "FQDNTestSupport"]),
        .testTarget(name: "PolicyEngineTests", dependencies: ["PolicyEngine", "BPFMapBindings"]),
        // The datapath end to end: real kernel, namespaces made by the tests, a real knot server.
        .testTarget(
            name: "PolicyEngineKernelTests",
            dependencies: ["PolicyEngine", "FQDNPolicyTesting", "DNSWire", "BPFMapBindings", "CFQDNShared"]
        ),

        // libbpf from libbpf-dev (pkg-config libbpf); tiny C shims for what Glibc lacks.
        .systemLibrary(
            name: "CLibbpf",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev", "libelf-dev"])]
        ),
        .target(name: "CSysShims"),

        // BPF build pipeline: BPFBuildPlugin runs BPFEmbed, which compiles BPF C with clang
        // -target bpf and embeds the objects (base64): BPFPrograms/*.bpf.c in BPFObjects (what
        // the library loads), BPFPrograms/tests/*.bpf.c in BPFTestObjects (harnesses for tests,
        // benchmarks and developer tools). `BPFObjects.named("veth_ingress") -> [UInt8]?`.
        .executableTarget(name: "BPFEmbed"),
        .plugin(name: "BPFBuildPlugin", capability: .buildTool(), dependencies: ["BPFEmbed"]),
        .target(name: "BPFObjects", plugins: ["BPFBuildPlugin"]),
        .target(name: "BPFTestObjects", dependencies: ["BPFObjects"], plugins: ["BPFBuildPlugin"]),

        // Typed Swift over libbpf: objects, programs, maps, attachments, pins.
        .target(name: "BPFMapBindings", dependencies: ["CLibbpf", "CSysShims"]),

        // Test support (library product): the `.kernel` gate, the netns lock, fixtures.
        .target(name: "FQDNPolicyTesting", dependencies: ["PolicyEngine", "DNSWire", "BPFMapBindings", "PacketWire", "CSysShims"]),
        // Ethernet/IP/UDP/TCP frames with valid checksums (pure Swift): test packets, the
        // parser harness's framings.
        .target(name: "PacketWire"),
        .testTarget(
            name: "BPFMapBindingsTests",
            dependencies: ["BPFMapBindings", "BPFTestObjects", "FQDNPolicyTesting", "CFQDNShared"]
        ),

        // The project's own BPF programs driven from Swift (BPF_PROG_TEST_RUN harnesses).
        .target(
            name: "FQDNKernel",
            dependencies: ["BPFMapBindings", "BPFObjects", "BPFTestObjects", "DNSWire", "DomainTrie", "FQDNTestSupport", "PacketWire", "CFQDNShared"]
        ),
        .testTarget(
            name: "FQDNKernelTests",
            // fqdnctl: the CLI tests run the binary built next to the test bundle.
            dependencies: ["FQDNKernel", "DomainTrie", "FQDNPolicyTesting", "FQDNTestSupport", "CFQDNShared", "fqdnctl"]
        ),
        // The trie at scale (100,000 patterns): `swift run -c release TrieBench` (root).
        .executableTarget(
            name: "TrieBench", dependencies: ["FQDNKernel", "BPFMapBindings", "DomainTrie", "FQDNTestSupport", "CFQDNShared"],
            path: "Benchmarks/TrieBench"),
        // Datapath micro-benchmarks and control-plane timings (Documentation/Benchmarks.md): Scripts/bench.sh (root).
        .executableTarget(
            name: "DatapathBench",
            dependencies: [
                "PolicyEngine", "FQDNPolicyTesting", "BPFMapBindings", "BPFTestObjects", "DNSWire", "CFQDNShared",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/DatapathBench"
        ),
        // DNS over TCP with and without the TCP programs, same run (Documentation/TCP.md):
        // `swift run --scratch-path .build-tcp TCPBench` (root).
        .executableTarget(
            name: "TCPBench",
            dependencies: ["PolicyEngine", "FQDNPolicyTesting", "BPFMapBindings", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/TCPBench"),

        // Examples: the demo (Scripts/demo.sh) and a minimal embedding of the library.
        .executableTarget(
            name: "fqdn-demo", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Examples/Demo"),
        .executableTarget(name: "fqdn-embedding-example", dependencies: ["PolicyEngine"], path: "Examples/Embedding"),
        // The README's and the DocC overview's embedding snippet, compiled as a user copies it
        // (PolicyEngineTests checks that both documents show exactly this file).
        .executableTarget(name: "fqdn-readme-snippet", dependencies: ["PolicyEngine"], path: "Examples/ReadmeSnippet"),

        .executableTarget(
            name: "fqdnctl",
            dependencies: [
                "DNSWire",
                "DomainTrie",
                "FQDNKernel",
                "PolicyEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
