// swift-tools-version: 6.1
// Concord: offline-first, collaborative data for Swift.
// Layers (see ARCHITECTURE.md): CSodium -> ConcordCore -> ConcordCrypto -> ... ; ConcordTesting for users' merge tests.
import PackageDescription

// libsodium. On Linux (and with Swift on a Linux server) it is the system's, through
// pkg-config (`CSodium`: apt `libsodium-dev`). When the manifest is read on a Mac (Xcode
// building for iOS, macOS, watchOS, tvOS or visionOS), it is swift-sodium's prebuilt
// `Clibsodium` xcframework, which has a slice for every Apple platform; ConcordCrypto
// imports whichever module exists (`#if canImport(Clibsodium)`). Not verified on this
// project's Linux machines: see README, "Install".
#if os(macOS)
let sodiumPackages: [Package.Dependency] = [.package(url: "https://github.com/jedisct1/swift-sodium", from: "0.10.0")]
let sodium: Target.Dependency = .product(name: "Clibsodium", package: "swift-sodium")
#else
let sodiumPackages: [Package.Dependency] = []
let sodium: Target.Dependency = "CSodium"
#endif

let package = Package(
    name: "Concord",
    // Apple platforms from the releases of 2024 (Observation, Synchronization's Mutex,
    // NIO's typed WebSocket upgrade). Linux needs Swift 6.1+.
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2), .macCatalyst(.v18)],
    // Only libraries are products. The `concord` tool, examples, benchmarks and test helpers
    // are executable targets of this package (`swift run notes-example`; the tool's binary
    // is `ConcordCLI`, `make cli` links it as `.build/cli/concord`), not exported: SwiftPM
    // resolves the packages of every product of a dependency, so an exported tool would
    // make every app resolve the relay server's Hummingbird, PostgreSQL and Prometheus.
    // As it is, an app depending on `Concord` and `ConcordSync` resolves none of them
    // (Tools/check-app-package.sh).
    products: [
        .library(name: "ConcordCore", targets: ["ConcordCore"]),
        .library(name: "ConcordCrypto", targets: ["ConcordCrypto"]),
        .library(name: "ConcordTesting", targets: ["ConcordTesting"]),
        .library(name: "ConcordProtocol", targets: ["ConcordProtocol"]),
        .library(name: "Concord", targets: ["Concord"]),
        .library(name: "ConcordStore", targets: ["ConcordStore"]),
        .library(name: "ConcordSync", targets: ["ConcordSync"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ] + sodiumPackages,
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
        .target(name: "ConcordCrypto", dependencies: [sodium]),
        // Persistence: the Store protocol, MemoryStore and SQLiteStore (GRDB, WAL, migrations).
        .target(
            name: "ConcordStore",
            dependencies: [
                // ConcordProtocol for the one chain rule (`ChainRule`) that `appendBundle` enforces.
                "ConcordCore", "ConcordCrypto", "ConcordProtocol", .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the statements of the import's inner loop (HotStatement.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The bundle protocol: spaces, membership, invites, signed change bundles, the import
        // pipeline. Builds without the store and the app layer (relays and fuzzers use it alone).
        .target(name: "ConcordProtocol", dependencies: ["ConcordCore", "ConcordCrypto"]),
        // The app layer: the Replica actor apps embed (on a Store), Codable models,
        // observation. Re-exports ConcordProtocol, ConcordCore and ConcordStore.
        .target(name: "Concord", dependencies: ["ConcordCore", "ConcordCrypto", "ConcordStore", "ConcordProtocol"]),
        // The relay protocol both sides speak (`Specs/relay-api.md`): paths, the auth message,
        // JSON bodies, bundle-stream framing. The relay server and the client import it; the
        // server never imports the client.
        .target(name: "ConcordRelayProtocol", dependencies: ["ConcordProtocol", "ConcordCrypto"]),
        // Transports: bundle files (`.concord`), folder sync, and the relay client
        // (`SyncEngine`: HTTP push/pull with AsyncHTTPClient, live feed over a WebSocket
        // client on SwiftNIO's NIOWebSocket), peers (TCP on NIOPosix) and LAN discovery
        // (mDNS over NIO UDP). Client-side packages only: apps link it.
        .target(
            name: "ConcordSync",
            dependencies: [
                "Concord", "ConcordCrypto", "ConcordRelayProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The relay server library (Hummingbird 2): auth, push, streamed pull, WebSocket feed;
        // storage on SQLite (GRDB, default) or PostgreSQL (postgres-nio, LISTEN/NOTIFY).
        .target(
            name: "ConcordRelay",
            dependencies: [
                "ConcordProtocol", "ConcordRelayProtocol", "ConcordCrypto", "ConcordCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The `concord` command-line tool: parses, calls the libraries, prints.
        .executableTarget(
            name: "ConcordCLI",
            dependencies: [
                "Concord", "ConcordSync", "ConcordRelay", "ConcordCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // Signals and graceful shutdown: `relay serve` runs in a ServiceGroup; `sync
                // --watch` and `peer serve` wait on its signal sequence.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Public product for users' own merge-property tests.
        .target(name: "ConcordTesting", dependencies: ["ConcordCore"]),

        .executableTarget(name: "two-replicas", dependencies: ["ConcordCore"], path: "Examples/TwoReplicas"),
        // An app-style example: a notes program on two replicas on disk, syncing by bundles.
        .executableTarget(name: "notes-example", dependencies: ["Concord"], path: "Examples/Notes"),
        // An offline classroom: learners sync through a relay it starts; the teacher sees all.
        .executableTarget(
            name: "classroom-example",
            dependencies: ["Concord", "ConcordSync", "ConcordRelay", .product(name: "Logging", package: "swift-log")],
            path: "Examples/Classroom"
        ),
        .executableTarget(
            name: "concord-bench",
            dependencies: [
                // ConcordRelay: the school-year suite drives the relay's SQLite storage.
                "ConcordCore", "ConcordCrypto", "Concord", "ConcordStore", "ConcordTesting", "ConcordRelay",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/ConcordBench"
        ),

        // The relay under load (make bench): WebSocket fan-out, push throughput, initial pull;
        // SQLite and PostgreSQL side by side.
        .executableTarget(
            name: "concord-relay-bench",
            dependencies: [
                "Concord", "ConcordCore", "ConcordCrypto", "ConcordSync", "ConcordRelay", "ConcordTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                // The bare WebSocket broadcast server, the fan-out's ceiling, on the relay's stack.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/RelayBench"
        ),

        // Peer sync between namespaced hosts (make bench-peer, Benchmarks/peer_bench.py runs it):
        // preparing 1M operations, and the two ends of the live-latency measurement.
        .executableTarget(name: "concord-peer-bench", dependencies: ["Concord", "ConcordCore", "ConcordSync"], path: "Benchmarks/PeerBench"),

        // Regenerates Specs/vectors from fixed seeds: `swift run concord-vectors`.
        .executableTarget(name: "concord-vectors", dependencies: ["ConcordCore", "ConcordCrypto", "Concord"], path: "Tools/GenerateVectors"),

        .testTarget(name: "ConcordCoreTests", dependencies: ["ConcordCore"]),
        .testTarget(name: "ConcordCryptoTests", dependencies: ["ConcordCrypto", sodium, "ConcordTesting"]),
        .testTarget(
            name: "ConcordStoreTests",
            dependencies: ["ConcordStore", "ConcordProtocol", "ConcordCore", "ConcordCrypto", "ConcordTesting", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "ConcordTests", dependencies: ["ConcordProtocol", "Concord", "ConcordCore", "ConcordCrypto", "ConcordTesting"]),
        .testTarget(name: "ConcordTestingTests", dependencies: ["ConcordTesting", "ConcordCore"]),
        // MembershipProperties evaluates signed membership ops: it needs the protocol and crypto.
        .testTarget(name: "PropertyTests", dependencies: ["ConcordTesting", "ConcordCore", "ConcordProtocol", "ConcordCrypto", "Concord"]),
        // Real SQLite files and real processes: the crash test SIGKILLs `concord-crash-worker`.
        .executableTarget(name: "concord-crash-worker", dependencies: ["Concord", "ConcordStore", "ConcordCore"], path: "Tests/CrashWorker"),
        .testTarget(name: "ConcordSyncTests", dependencies: ["ConcordSync", "Concord", "ConcordCrypto", "ConcordTesting"]),
        // Runs the real `concord` binary as a subprocess.
        .testTarget(name: "ConcordCLITests", dependencies: ["Concord", "ConcordSync", "ConcordCrypto", "ConcordTesting"]),
        // The relay in-process on loopback, both storage backends (PostgreSQL when
        // CONCORD_TEST_POSTGRES_URL is set, as Tools/postgres.sh and .ci/run do).
        .testTarget(
            name: "ConcordRelayTests",
            dependencies: [
                "ConcordProtocol",
                "ConcordRelay", "ConcordSync", "Concord", "ConcordCrypto", "ConcordTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // An independent WebSocket client for the feed tests (the app-side client
                // under test is ConcordSync's own).
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ]
        ),
        .testTarget(name: "IntegrationTests", dependencies: ["Concord", "ConcordStore", "ConcordCore", "ConcordCrypto", "ConcordTesting"]),
        // The documentation's code samples (README.md, Sources/*/*.docc), generated by
        // Tools/doc-samples.py: compiled, never run, so a sample cannot drift from the API.
        .testTarget(
            name: "DocSamples",
            dependencies: ["Concord", "ConcordCore", "ConcordCrypto", "ConcordProtocol", "ConcordStore", "ConcordSync", "ConcordTesting"],
            path: "Tests/DocSamples"
        ),
        // Reads Specs/vectors/*.jsonl: the normative encodings, checked against the code.
        .testTarget(name: "ConformanceTests", dependencies: ["ConcordProtocol", "ConcordCore", "ConcordCrypto", "Concord", "ConcordTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
