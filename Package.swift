// swift-tools-version: 6.1
// Concord: offline-first, collaborative data for Swift.
// Layers (see ARCHITECTURE.md): CSodium -> ConcordCore -> ConcordCrypto -> ... ; ConcordTesting for users' merge tests.
import PackageDescription

let package = Package(
    name: "Concord",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ConcordCore", targets: ["ConcordCore"]),
        .library(name: "ConcordCrypto", targets: ["ConcordCrypto"]),
        .library(name: "ConcordTesting", targets: ["ConcordTesting"]),
        .library(name: "Concord", targets: ["Concord"]),
        .executable(name: "two-replicas", targets: ["TwoReplicas"]),
        .executable(name: "concord-bench", targets: ["ConcordBench"]),
        .executable(name: "concord-vectors", targets: ["GenerateVectors"]),
    ],
    targets: [
        // libsodium through pkg-config; the only C in the package. Only ConcordCrypto imports it.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        // Pure value types: HLC, values, CRDTs, operations, replica state, codecs. No I/O, no C.
        .target(name: "ConcordCore"),
        // Ed25519 identities, BLAKE2b, XChaCha20-Poly1305, key derivation, key files.
        .target(name: "ConcordCrypto", dependencies: ["CSodium"]),
        // The app-facing layer: spaces, membership, invites, signed change bundles, import.
        .target(name: "Concord", dependencies: ["ConcordCore", "ConcordCrypto"]),
        // Public product for users' own merge-property tests.
        .target(name: "ConcordTesting", dependencies: ["ConcordCore"]),

        .executableTarget(name: "TwoReplicas", dependencies: ["ConcordCore"], path: "Examples/TwoReplicas"),
        .executableTarget(
            name: "ConcordBench",
            dependencies: ["ConcordCore", "ConcordCrypto", "Concord", "ConcordTesting"],
            path: "Benchmarks/ConcordBench"
        ),

        // Regenerates Specs/vectors from fixed seeds: `swift run concord-vectors`.
        .executableTarget(name: "GenerateVectors", dependencies: ["ConcordCore", "ConcordCrypto", "Concord"], path: "Tools/GenerateVectors"),

        .testTarget(name: "ConcordCoreTests", dependencies: ["ConcordCore"]),
        .testTarget(name: "ConcordCryptoTests", dependencies: ["ConcordCrypto", "CSodium", "ConcordTesting"]),
        .testTarget(name: "ConcordTests", dependencies: ["Concord", "ConcordCore", "ConcordCrypto", "ConcordTesting"]),
        .testTarget(name: "ConcordTestingTests", dependencies: ["ConcordTesting", "ConcordCore"]),
        .testTarget(name: "PropertyTests", dependencies: ["ConcordTesting", "ConcordCore"]),
        // Reads Specs/vectors/*.jsonl: the normative encodings, checked against the code.
        .testTarget(name: "ConformanceTests", dependencies: ["ConcordCore", "ConcordCrypto", "Concord", "ConcordTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
