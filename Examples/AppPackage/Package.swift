// swift-tools-version: 6.1
// A notes app as an app team would build it on Concord: its own package, depending on the
// `Concord` and `ConcordSync` library products only. `make test` builds it, runs its
// tests and its demo, and checks that its Package.resolved holds no server package
// (Hummingbird, PostgreSQL, Prometheus): Tools/check-app-package.sh.
//
// A real app depends on Concord by URL:
//     .package(url: "https://github.com/<owner>/Concord", from: "0.1.0")
// and names the products with `package: "Concord"`. Here Concord is this repository, two
// folders up, and a path dependency is named after its folder, whatever the clone is called.
import Foundation
import PackageDescription

let concordPath = "../.."
let concord = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(concordPath).standardizedFileURL
    .lastPathComponent

let package = Package(
    name: "NotesApp",
    platforms: [.macOS(.v15), .iOS(.v18)],
    dependencies: [
        .package(path: concordPath)
    ],
    targets: [
        // The app's model layer: an @Observable model over a Replica, the way a SwiftUI
        // app holds it (the SwiftUI views are compiled on Apple platforms only).
        .target(
            name: "NotesApp",
            dependencies: [
                .product(name: "Concord", package: concord),
                .product(name: "ConcordSync", package: concord),
            ]
        ),
        // Two devices of the app, offline, syncing through a shared folder.
        .executableTarget(name: "NotesAppDemo", dependencies: ["NotesApp"]),
        .testTarget(name: "NotesAppTests", dependencies: ["NotesApp"]),
    ],
    swiftLanguageModes: [.v6]
)
