import Foundation
import Testing

/// Runs the real `concord` binary built next to this test bundle.
struct CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let binary: String

    /// The names the tool's binary may have: `ConcordCLI` (the executable target; the
    /// tool is not a product, see Package.swift) or `concord` (`make cli`'s link, an install).
    static let names = ["ConcordCLI", "concord"]

    /// The `concord` executable: `$CONCORD_BIN`, else next to the test bundle (the
    /// build's products directory), else `.build/debug/ConcordCLI`.
    static func locate() throws -> CLI {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["CONCORD_BIN"] { candidates.append(env) }
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directories = [argv0.deletingLastPathComponent()]
        var url = argv0
        for _ in 0..<5 {  // .../debug/ConcordPackageTests.xctest/Contents/MacOS/ConcordPackageTests on macOS
            url = url.deletingLastPathComponent()
            directories.append(url)
        }
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
        directories.append(URL(fileURLWithPath: packageRoot + "/.build/debug"))
        for directory in directories {
            candidates += names.map { directory.appendingPathComponent($0).path }
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return CLI(binary: candidate)
        }
        throw CLIMissing(
            description:
                "the concord binary was not found (looked in \(candidates)); build it first with `swift build --build-tests` (or set CONCORD_BIN)"
        )
    }

    struct CLIMissing: Error, CustomStringConvertible { var description: String }

    /// The package root, from this file's path.
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Runs `concord` with `arguments`, no `$CONCORD_STORE` unless given.
    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil) throws -> Result {
        try Self.execute(binary, arguments, environment: environment, in: directory)
    }

    static func execute(_ executable: String, _ arguments: [String], environment: [String: String] = [:], in directory: String? = nil)
        throws -> Result
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["CONCORD_STORE"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("concord-out-\(UUID().uuidString)")
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("concord-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outPath.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outPath)
            try? FileManager.default.removeItem(at: errPath)
        }
        let out = try FileHandle(forWritingTo: outPath)
        let err = try FileHandle(forWritingTo: errPath)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: outPath), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errPath), as: UTF8.self))
    }
}

/// A temporary directory for stores and files.
struct Scratch {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/concord-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Stores in one scratch directory driven through the CLI with every clock shifted by the
/// same `offset` (`CONCORD_CLOCK_OFFSET_MS`): moving it forward lets days pass between a
/// test's phases (acks, checkpoints and stale marks are daily) without bundles from the future.
final class ShiftedStores {
    let cli: CLI
    let scratch: Scratch
    /// The shift of every device's clock, in milliseconds.
    var offset: Int64

    init(cli: CLI, scratch: Scratch, offset: Int64) {
        self.cli = cli
        self.scratch = scratch
        self.offset = offset
    }

    func run(_ store: String, _ arguments: String...) throws -> CLI.Result {
        try run(store, arguments)
    }

    func run(_ store: String, _ arguments: [String]) throws -> CLI.Result {
        try cli.run(["--store", scratch.file(store)] + arguments, environment: ["CONCORD_CLOCK_OFFSET_MS": String(offset)])
    }

    /// Runs a command on `store` and requires exit status 0.
    @discardableResult
    func ok(_ store: String, _ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try run(store, arguments)
        #expect(
            result.status == 0, "\(store): concord \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation)
        return result.stdout
    }
}

/// One store driven through the CLI.
struct Device {
    let cli: CLI
    let store: String

    /// Runs a command on this store and requires exit status 0.
    @discardableResult
    func ok(_ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try cli.run(["--store", store] + arguments)
        #expect(
            result.status == 0, "concord \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation)
        return result.stdout
    }

    func run(_ arguments: String...) throws -> CLI.Result {
        try cli.run(["--store", store] + arguments)
    }

    func run(_ arguments: [String]) throws -> CLI.Result {
        try cli.run(["--store", store] + arguments)
    }
}
